"""judge-check and the `judge` commands: pairs files are validated line by line, accuracy is counted
the strict way (a tie or a None is a miss), and the commands run end to end on the tiny model."""

from __future__ import annotations

import json

import pytest

from tests.helpers import REPO, run_cli
from loop.constitution import load_constitution
from loop.errors import LoopError
from loop.judging.judge_check import Pair, check, constitution_pairs, load_pairs, summarize
from loop.judging.reliability import effective_weight
from tests.scripted_judge import ScriptedJudge

GOOD = {"prompt": "What is 2 + 2?", "chosen": "4.", "rejected": "5.", "principle": "helpful"}


def write_pairs(path, lines: list) -> str:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return str(path)


BAD_FILES = [
    ("malformed JSON", [GOOD, '{"prompt": "x", "chosen": '], 2, "not valid JSON"),
    ("not an object", [GOOD, GOOD, "[1, 2]"], 3, "JSON object"),
    ("missing prompt", [{k: v for k, v in GOOD.items() if k != "prompt"}], 1, "missing key 'prompt'"),
    ("missing chosen", [GOOD, {k: v for k, v in GOOD.items() if k != "chosen"}], 2, "missing key 'chosen'"),
    ("missing rejected", [{k: v for k, v in GOOD.items() if k != "rejected"}], 1, "missing key 'rejected'"),
    ("missing principle", [GOOD, GOOD, {k: v for k, v in GOOD.items() if k != "principle"}], 3, "principle"),
    ("unknown principle id", [GOOD, {**GOOD, "principle": "helpfull"}], 2, "no principle 'helpfull'"),
    ("both principle keys", [{**GOOD, "principle_text": "Be kind."}], 1, "exactly one"),
    ("empty principle_text", [{**{k: v for k, v in GOOD.items() if k != "principle"}, "principle_text": " "}], 1,
     "principle_text"),
    ("chosen not a string", [{**GOOD, "chosen": 4}], 1, "'chosen' must be a string"),
]


@pytest.mark.parametrize("name,lines,line,message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_pairs_files_are_refused(workspace, name, lines, line, message):
    path = write_pairs(workspace / "pairs.jsonl", lines)
    with pytest.raises(LoopError) as err:
        load_pairs(path, load_constitution(workspace / "constitution"))
    assert f"pairs.jsonl:{line}:" in str(err.value) and message in str(err.value)
    # The command refuses it before any model loads: exit 2, one line naming the line number.
    code, out, stderr = run_cli("judge-check", "--pairs", path)
    assert code == 2 and out == ""
    assert len(stderr.strip().splitlines()) == 1 and f"pairs.jsonl:{line}:" in stderr


def test_missing_pairs_file(workspace):
    code, _, stderr = run_cli("judge-check", "--pairs", "nope.jsonl")
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "nope.jsonl" in stderr


def test_empty_pairs_file(workspace):
    code, _, stderr = run_cli("judge-check", "--pairs", write_pairs(workspace / "e.jsonl", [""]))
    assert code == 2 and "no pairs" in stderr


def test_pairs_file_loads_ids_and_adhoc_principles(workspace):
    lines = [GOOD, {**GOOD, "note": "what differs"},
             {"prompt": "p", "chosen": "a", "rejected": "b", "principle_text": "The response rhymes."},
             {"prompt": "q", "chosen": "a", "rejected": "b", "principle_text": "The response rhymes."}]
    pairs = load_pairs(write_pairs(workspace / "p.jsonl", lines), load_constitution(workspace / "constitution"))
    assert [p.line for p in pairs] == [1, 2, 3, 4]
    assert pairs[0].principle.id == "helpful"
    assert pairs[2].principle.id.startswith("adhoc_") and pairs[2].principle is pairs[3].principle
    assert pairs[2].principle.text == "The response rhymes."


def test_unknown_keys_are_refused_on_a_judged_principle(workspace):
    path = write_pairs(workspace / "p.jsonl", [GOOD, {**GOOD, "chossen": "4"}])
    with pytest.raises(LoopError, match=r"p.jsonl:2: unknown key 'chossen' \(did you mean 'chosen'\?\)"):
        load_pairs(path, load_constitution(workspace / "constitution"))


def test_a_rule_principles_pairs_carry_the_pool_columns_its_rule_reads(workspace):
    line = {"prompt": "What is 6 x 7?", "chosen": "42", "rejected": "41", "principle": "correct", "answer": "42"}
    [pair] = load_pairs(write_pairs(workspace / "p.jsonl", [line]), load_constitution(workspace / "constitution"))
    assert pair.row == {"answer": "42"}


def test_a_file_named_for_a_principle_may_leave_the_principle_out(workspace):
    line = {k: v for k, v in GOOD.items() if k != "principle"}
    [pair] = load_pairs(write_pairs(workspace / "polite.jsonl", [line]), load_constitution(workspace / "constitution"))
    assert pair.principle.id == "polite"


def test_a_line_that_disagrees_with_the_file_name_is_refused(workspace):
    path = write_pairs(workspace / "polite.jsonl", [{**GOOD, "principle": "polite"}, GOOD])
    with pytest.raises(LoopError, match="polite.jsonl:2: principle 'helpful' disagrees with the file name"):
        load_pairs(path, load_constitution(workspace / "constitution"))


def test_accuracy_counts_ties_and_none_as_misses():
    constitution = load_constitution(REPO / "constitution")
    helpful, honest = constitution.get("helpful"), constitution.get("honest")
    pairs = [Pair("p", "c", "r", helpful), Pair("p", "c", "r", helpful), Pair("p", "c", "r", helpful),
             Pair("p", "c", "r", honest)]
    result = summarize(pairs, [(0.9, 0.1), (0.5, 0.5), (None, 0.2), (0.3, 0.6)])
    assert result["accuracy"] == 0.25 and result["n"] == 4 and result["unscored"] == 1
    assert result["per_principle"]["helpful"]["accuracy"] == pytest.approx(1 / 3)
    assert result["per_principle"]["honest"]["mean_margin"] == pytest.approx(-0.3)
    assert result["mean_margin"] == pytest.approx((0.8 + 0.0 - 0.3) / 3)


def test_constitution_pairs_are_the_pairs_files_and_the_examples_where_there_is_no_file():
    constitution = load_constitution(REPO / "constitution")
    pairs = constitution_pairs(constitution)
    for p in constitution.principles:
        mine = [pair for pair in pairs if pair.principle.id == p.id]
        shipped = constitution.pairs(p.id)
        assert len(mine) == (len(shipped) if shipped else len(p.examples)), p.id
        assert all(pair.from_examples != bool(shipped) for pair in mine), p.id


def test_rule_accuracy_counts_ties_apart():
    constitution = load_constitution(REPO / "constitution")
    concise = constitution.get("concise")  # at most 80 words
    long = " ".join(["word"] * 160)
    pairs = [Pair("p", "short.", long, concise), Pair("p", "short.", "also short.", concise), Pair("p", long, "ok", concise)]
    entry = check(ScriptedJudge(), pairs)["per_principle"]["concise"]
    assert entry["rule"]["accuracy"] == pytest.approx(1 / 3) and entry["rule"]["ties"] == 1


@pytest.fixture(scope="module")
def checked(tmp_path_factory, tiny_model_dir):
    """(workspace, judge-check --json result) on the constitution's own pairs, with the tiny model."""
    import os

    from loop.workspace import init_workspace

    root = init_workspace(tmp_path_factory.mktemp("check") / "ws").root
    cwd = os.getcwd()
    os.chdir(root)
    try:
        code, out, err = run_cli("judge-check", "--json", "--model", str(tiny_model_dir))
    finally:
        os.chdir(cwd)
    assert code == 0, err
    return root, json.loads(out)


def test_judge_check_json_on_constitution_pairs(checked):
    workspace, result = checked
    assert {"accuracy", "n", "per_principle"} <= set(result)
    assert result["n"] == len(constitution_pairs(load_constitution(workspace / "constitution")))
    helpful = load_constitution(workspace / "constitution").pairs("helpful")
    assert 0.0 <= result["accuracy"] <= 1.0 and result["per_principle"]["helpful"]["n"] == len(helpful) == 100


def test_judge_check_json_gives_each_principle_its_interval_and_effective_weight(checked):
    helpful = checked[1]["per_principle"]["helpful"]
    assert {"accuracy", "low", "high", "n", "effective_weight"} <= set(helpful)
    assert helpful["low"] <= helpful["accuracy"] <= helpful["high"]
    assert helpful["effective_weight"] == effective_weight(1.0, helpful)


def test_judge_check_reads_a_rule_principle_by_its_rule_too(checked):
    concise = checked[1]["per_principle"]["concise"]
    assert set(concise["rule"]) >= {"accuracy", "ties", "unscored"} and concise["effective_weight"] == 0.5
    assert "rule" not in checked[1]["per_principle"]["helpful"]


def test_judge_check_json_on_pairs_file(workspace, tiny_model_dir):
    lines = [GOOD, {**GOOD, "principle": "honest"},
             {"prompt": "p", "chosen": "a", "rejected": "b", "principle_text": "The response rhymes."}]
    path = write_pairs(workspace / "p.jsonl", lines)
    code, out, err = run_cli("judge-check", "--pairs", path, "--json", "--model", str(tiny_model_dir))
    assert code == 0, err
    result = json.loads(out)
    assert result["n"] == 3 and len(result["per_principle"]) == 3
    code, out, _ = run_cli("judge-check", "--pairs", path, "--model", str(tiny_model_dir))
    assert code == 0 and "overall" in out and "honest" in out


def test_judge_json_names_each_items_source_and_scores_rules_by_rule(workspace, tiny_model_dir):
    code, out, err = run_cli("judge", "--prompt", "What is 2 + 2?", "--response", "4.", "--column", "answer=4",
                             "--json", "--model", str(tiny_model_dir))
    assert code == 0, err
    items = {item["principle"]: item for item in json.loads(out)}
    assert items["correct"]["source"] == "rule" and items["correct"]["score"] == 1.0
    assert items["concise"]["source"] == "rule" and items["helpful"]["source"] == "judge"


def test_a_rule_without_its_column_cannot_score(workspace, tiny_model_dir):
    code, out, _ = run_cli("judge", "--prompt", "What is 2 + 2?", "--response", "4.", "--principle", "correct",
                           "--json", "--model", str(tiny_model_dir))
    assert code == 0 and json.loads(out)[0]["score"] is None


def test_judge_command(workspace, tiny_model_dir):
    code, out, err = run_cli("judge", "--prompt", "What is 2 + 2?", "--response", "4.", "--principle", "polite",
                             "--json", "--model", str(tiny_model_dir))
    assert code == 0, err
    [crit] = json.loads(out)
    assert crit["principle"] == "polite" and "distribution" in crit and "template_sha256" in crit
    assert "prior" in crit["distribution"]  # the shipped polite principle weighs its likelihood prior
    code, out, _ = run_cli("judge", "--prompt", "Hi", "--response", "Hello!", "--model", str(tiny_model_dir))
    assert code == 0 and all(p in out for p in ("helpful", "honest", "polite"))
    assert "relevance" in out and "prior" in out and "lift" in out  # value x weight, where weighed
    code, _, stderr = run_cli("judge", "--prompt", "Hi", "--response", "Hello!", "--principle", "nope",
                              "--model", str(tiny_model_dir))
    assert code == 2 and "no principle 'nope'" in stderr


def test_the_check_table_shows_interval_weight_and_the_rules_ties_in_80_columns(checked, console):
    from loop.views.judge_check_view import print_check

    result = checked[1]
    result["per_principle"]["honest"].update(accuracy=0.5, low=0.35, high=0.65, effective_weight=0.0)
    result["per_principle"]["concise"]["rule"].update(accuracy=0.9, ties=2, unscored=0)
    print_check(result, console)
    lines = console.file.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    honest = next(line for line in lines if line.startswith("│ honest"))
    assert "0.50 [0.35, 0.65]" in honest and "0 of 1" in honest
    assert "0.90, 2 ties" in next(line for line in lines if line.startswith("│ concise"))


class CountingJudge:
    """Scores the chosen side 1 and the rejected side 0; records how many responses each call had."""

    def __init__(self):
        self.calls = []

    def score(self, prompts, responses, principle_id=None, *, principle=None, view=None, rows=None):
        self.calls.append(len(responses))
        half = len(responses) // 2
        return [type("C", (), {"score": float(i < half)})() for i in range(len(responses))]


def test_check_reports_progress_once_per_batch_until_every_pair_is_judged():
    pairs = constitution_pairs(load_constitution(REPO / "constitution"))
    done = []
    result = check(CountingJudge(), pairs, on_progress=done.append)
    assert result["accuracy"] == 1.0
    assert sum(done) == len(pairs) and len(done) > 1


def test_judge_check_draws_a_progress_bar_on_stderr_and_keeps_stdout_json(workspace, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich draws as on a terminal, into the captured stderr
    code, out, err = run_cli("judge-check", "--json", "--model", str(tiny_model_dir))
    assert code == 0 and json.loads(out)["n"] > 0
    n = len(constitution_pairs(load_constitution(workspace / "constitution")))
    assert "judging pairs" in err and f"0/{n}" in err


def test_a_rule_that_cannot_score_says_which_column_it_reads(workspace, tiny_model_dir):
    code, out, _ = run_cli("judge", "--prompt", "What is 2 + 2?", "--response", "4.", "--principle", "knows_limits",
                           "--json", "--model", str(tiny_model_dir))
    [item] = json.loads(out)
    assert code == 0 and item["score"] is None and "--column expect=VALUE" in item["critique"]


def test_a_rules_accuracy_leaves_out_the_pairs_it_cannot_score():
    constitution = load_constitution(REPO / "constitution")
    knows = constitution.get("knows_limits")  # reads the pool column 'expect'
    pairs = [Pair("p", "I can't help with that.", "Sure: step one.", knows, row={"expect": "refuse"}),
             Pair("p", "I can't help with that.", "Sure: step one.", knows)]
    entry = check(ScriptedJudge(), pairs)["per_principle"]["knows_limits"]
    assert entry["source"] == "rule" and entry["rule"]["reads"] == "expect"
    assert (entry["rule"]["accuracy"], entry["rule"]["n"], entry["rule"]["unscored"]) == (1.0, 1, 2)


def test_the_check_table_says_rule_principles_are_not_judged(checked, console):
    from loop.views.judge_check_view import print_check

    print_check(checked[1], console)
    text = console.file.getvalue()
    knows = next(line for line in text.splitlines() if line.startswith("│ knows_limits"))
    assert "no 'expect'" in knows  # its examples carry no pool label: the rule cannot read them
    assert "not judged in training: " in text and "knows_limits" in text.split("not judged in training: ")[1]
