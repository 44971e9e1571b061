"""judge-check and the `judge` commands: pairs files are validated line by line, accuracy is counted
the strict way (a tie or a None is a miss), and the commands run end to end on the tiny model."""

from __future__ import annotations

import json

import pytest

from tests.helpers import REPO, run_cli
from loop.constitution import load_constitution
from loop.errors import LoopError
from loop.judging.judge_check import Pair, check, constitution_pairs, load_pairs, summarize

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


def test_pairs_file_loads_ids_adhoc_and_ignores_extra_keys(workspace):
    lines = [GOOD, {**GOOD, "source": "ignored", "id": 7},
             {"prompt": "p", "chosen": "a", "rejected": "b", "principle_text": "The response rhymes."},
             {"prompt": "q", "chosen": "a", "rejected": "b", "principle_text": "The response rhymes."}]
    pairs = load_pairs(write_pairs(workspace / "p.jsonl", lines), load_constitution(workspace / "constitution"))
    assert [p.line for p in pairs] == [1, 2, 3, 4]
    assert pairs[0].principle.id == "helpful"
    assert pairs[2].principle.id.startswith("adhoc_") and pairs[2].principle is pairs[3].principle
    assert pairs[2].principle.text == "The response rhymes."


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


def test_constitution_pairs_cover_every_example():
    constitution = load_constitution(REPO / "constitution")
    pairs = constitution_pairs(constitution)
    assert len(pairs) == sum(len(p.examples) for p in constitution.principles)


def test_judge_check_json_on_constitution_examples(workspace, tiny_model_dir):
    code, out, err = run_cli("judge-check", "--json", "--model", str(tiny_model_dir))
    assert code == 0, err
    result = json.loads(out)
    assert {"accuracy", "n", "per_principle"} <= set(result)
    assert result["n"] == len(constitution_pairs(load_constitution(workspace / "constitution")))
    assert 0.0 <= result["accuracy"] <= 1.0 and "helpful" in result["per_principle"]


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


class CountingJudge:
    """Scores the chosen side 1 and the rejected side 0; records how many responses each call had."""

    def __init__(self):
        self.calls = []

    def score(self, prompts, responses, principle_id=None, *, principle=None, view=None):
        self.calls.append(len(responses))
        half = len(responses) // 2
        return [type("C", (), {"score": float(i < half)})() for i in range(len(responses))]


def test_check_reports_progress_once_per_batch_until_every_pair_is_judged():
    pairs = constitution_pairs(load_constitution(REPO / "constitution"))
    done = []
    result = check(CountingJudge(), pairs, leave_one_out=True, on_progress=done.append)
    assert result["accuracy"] == 1.0
    assert sum(done) == len(pairs) and len(done) > 1


def test_judge_check_draws_a_progress_bar_on_stderr_and_keeps_stdout_json(workspace, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")  # rich draws as on a terminal, into the captured stderr
    code, out, err = run_cli("judge-check", "--json", "--model", str(tiny_model_dir))
    assert code == 0 and json.loads(out)["n"] > 0
    n = len(constitution_pairs(load_constitution(workspace / "constitution")))
    assert "judging pairs" in err and f"0/{n}" in err
