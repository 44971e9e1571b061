"""Critique and revision: what is kept (loop/training/revision.py), the warm start on revisions, the
ledger record, `loop log --revisions`, and the checks of the settings and the template."""

from __future__ import annotations

import json

import pytest
from tests.helpers import run_cli
from tests.scripted_judge import ScriptedJudge
from tests.test_round import plan_for, read_lines

from loop.generation import Answer
from loop.training import revision
from loop.training.round import run_rounds
from loop.views.revisions_view import counts_line, revision_panel

RULES = {"concise", "correct", "follows_format", "knows_limits"}
WEIGHTS = {"helpful": 0.4, "polite": 0.35}


def record(target: str, scores: dict, original: str = "A long and padded answer.", revised: str = "A short one.") -> dict:
    return {"prompt": "q", "behaviour": "comply", "principle": target, "original": original, "critique": "c",
            "revision": revised, "scores": scores}


def test_a_revision_that_breaks_a_rule_is_never_kept_however_the_judge_reads_it():
    rec = record("helpful", {"concise": [1.0, 1.0], "correct": [1.0, 0.0], "helpful": [0.1, 0.9]})
    assert revision.verdict(rec, RULES, WEIGHTS, 0.1) == (False, "loses on correct")


def test_a_revision_for_a_rule_is_kept_only_where_that_rule_gains():
    gains = record("concise", {"concise": [0.5, 1.0], "helpful": [0.5, 0.5]})
    same = record("concise", {"concise": [0.5, 0.5], "helpful": [0.5, 0.9]})
    assert revision.verdict(gains, RULES, WEIGHTS, 0.1) == (True, "kept")
    assert revision.verdict(same, RULES, WEIGHTS, 0.1) == (False, "no gain on concise")


def test_a_revision_for_a_judged_principle_needs_the_judge_to_prefer_it_by_more_than_the_margin():
    little = record("helpful", {"helpful": [0.40, 0.45]})
    enough = record("helpful", {"helpful": [0.40, 0.60]})
    assert not revision.verdict(little, RULES, WEIGHTS, 0.1)[0]
    assert revision.verdict(enough, RULES, WEIGHTS, 0.1) == (True, "kept")


def test_a_rule_gain_the_judged_principles_read_much_worse_is_not_kept():
    rec = record("concise", {"concise": [0.5, 1.0], "helpful": [0.9, 0.2], "polite": [0.9, 0.9]})
    kept, why = revision.verdict(rec, RULES, WEIGHTS, 0.1)
    assert not kept and why.startswith("the judge reads it worse by 0.37")  # (0.4 * 0.7) / 0.75


def test_an_empty_unchanged_or_looping_revision_is_not_kept():
    good = {"concise": [0.5, 1.0]}
    assert revision.verdict(record("concise", good, revised=""), RULES, WEIGHTS, 0.1)[1] == "no finished sentence"
    assert revision.verdict(record("concise", good, revised=" a LONG and padded answer. "), RULES, WEIGHTS,
                            0.1)[1] == "unchanged"
    loop_text = "Do it now. Do it now. Do it now. Do it now."
    assert revision.verdict(record("concise", good, revised=loop_text), RULES, WEIGHTS, 0.1)[1] == \
        "it repeats itself"


def test_the_target_is_the_first_failed_rule_else_a_weighted_judged_principle():
    import random

    rules = {"concise": lambda text, row: 0.5, "correct": lambda text, row: None}
    assert revision.revision_target({}, "x", rules, ["helpful"], random.Random(0)) == "concise"
    passing = {"concise": lambda text, row: 1.0}
    assert revision.revision_target({}, "x", passing, ["helpful"], random.Random(0)) == "helpful"
    assert revision.revision_target({}, "x", passing, [], random.Random(0)) is None


def test_a_preamble_line_is_cut_from_the_revision():
    assert revision.strip_preamble("Here is the revised answer:\n\"Use a box cutter.\"") == "Use a box cutter."
    assert revision.strip_preamble("Use a box cutter: it is quick.") == "Use a box cutter: it is quick."


def test_only_the_behaviours_revision_can_help_are_revised():
    pool = [{"prompt": "a", "expect": "refuse"}, {"prompt": "b", "expect": "comply"},
            {"prompt": "c", "expect": "unknowable"}, {"prompt": "d", "answer": "4"}, {"prompt": "e", "expect": "comply"}]
    assert [r["prompt"] for r in revision.revisable_rows(pool, [4, 3, 2, 1, 0], 2)] == ["e", "d"]


# ---- the warm start on revisions, on a tiny model: the texts are scripted, the rest is real ----------
LONG = " ".join(["word"] * 50) + "."
SHORT = "A short answer, with enough letters in it for the scripted judge to read it as well as the long one."


def scripted_texts(model, tokenizer, conversations, max_new_tokens, batch_size=8, on_batch=None):
    """The policy answers with a padded answer, the critique says so, the revision is short."""
    def text(conversation):
        last = conversation[-1]["content"]
        if "Rewrite the answer" in last:
            return SHORT
        if "In one or two sentences" in last:
            return "It pads the answer."
        return LONG
    return [Answer(text(c), False) for c in conversations]


@pytest.fixture(scope="module")
def revised(tmp_path_factory, tiny_model_dir):
    from loop.workspace import init_workspace

    root = init_workspace(tmp_path_factory.mktemp("revise") / "ws").root
    plan = plan_for(root, tiny_model_dir, train={"warm_start": True, "warm_start_data": "both", "revisions": 6})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(revision, "greedy_answers", scripted_texts)
        run_rounds(plan, 1, make_judge=ScriptedJudge)
    return root


def test_the_warm_start_records_every_revision_and_trains_on_the_kept_ones(revised):
    records = read_lines(revised / "runs/main/round-001/revisions.jsonl")
    assert len(records) == 6 and all(r["behaviour"] in revision.REVISABLE for r in records)
    assert all(r["principle"] == "concise" and r["scores"]["concise"] == [0.0, 1.0] for r in records)
    kept = [r for r in records if r["kept"]]
    assert kept and all(r["revision"] == SHORT and r["critique"] == "It pads the answer." for r in kept)
    trained = read_lines(revised / "runs/main/round-001/demonstrations.jsonl")
    assert sum(t["source"] == "revision (concise)" for t in trained) == len(kept)
    assert any(t["source"] == "demonstrations" for t in trained)  # "both"
    info = json.loads((revised / "runs/main/round-001/round.json").read_text())
    assert info["demonstrations"]["revisions"] == {"tried": 6, "kept": len(kept)}
    assert info["demonstrations"]["data"] == "both"


def test_log_revisions_shows_each_revision_and_the_counts(revised, monkeypatch):
    monkeypatch.chdir(revised)
    code, out, _ = run_cli("log", "--revisions", "--no-pager")
    assert code == 0 and "round 1 revisions · 6 shown" in out and "revisions kept" in out
    code, out, _ = run_cli("log", "--revisions", "--json")
    assert code == 0 and len(out.splitlines()) == 6
    code, _, err = run_cli("log", "--revisions", "--round", "0")
    assert code == 2 and "round 0 has no revisions (a baseline round); rounds with revisions: 1" in err
    code, _, err = run_cli("log", "--preferences", "--kept")
    assert code == 2 and "--kept" in err


def test_a_revision_panel_shows_both_answers_the_critique_and_why(console):
    rec = {**record("concise", {"concise": [0.5, 1.0], "helpful": [0.3, 0.2]}), "kept": False,
           "reason": "no gain on concise"}
    console.print(revision_panel(rec))
    text = console.file.getvalue()
    assert "A long and padded answer." in text and "A short one." in text and "not kept: no gain on concise" in text
    helpful = next(line for line in text.splitlines() if "helpful" in line)
    assert "0.30" in helpful and "0.20" in helpful and "-0.10" in helpful.replace("−", "-")
    assert counts_line([rec, {**rec, "kept": True}]) == "1 of 2 revisions kept; not kept: 1 no gain on concise"
    judged = [{"kept": False, "reason": f"the judge prefers it by {d:+.2f} on helpful, not by more than 0.1"}
              for d in (0.03, -0.01)]
    assert counts_line(judged) == "0 of 2 revisions kept; not kept: 2 the judge prefers it on helpful too little"


@pytest.fixture(scope="module")
def dpo_revised(tmp_path_factory, tiny_model_dir):
    from tests.test_dpo_round import dpo_plan

    from loop.workspace import init_workspace

    root = init_workspace(tmp_path_factory.mktemp("dpo_revise") / "ws").root
    plan = dpo_plan(root, tiny_model_dir, train={"revision_pairs": True}, run={"prompts_per_round": 6})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(revision, "greedy_answers", scripted_texts)
        summaries = run_rounds(plan, 1, make_judge=ScriptedJudge)
    return root, summaries


def test_a_dpo_round_with_revision_pairs_trains_on_each_kept_revision_over_its_original(dpo_revised):
    root, summaries = dpo_revised
    folder = root / "runs/main/round-001"
    records = read_lines(folder / "revisions.jsonl")
    kept = [r for r in records if r["kept"]]
    info = json.loads((folder / "round.json").read_text())
    assert kept and {r["pool_index"] for r in records} <= set(info["prompt_indices"])
    pairs = [p for p in read_lines(folder / "preferences.jsonl") if p.get("source") == "revision (concise)"]
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [(SHORT, LONG)] * len(kept)
    assert all(p["margin"] == 1.0 and p["group"] == info["prompt_indices"].index(p["pool_index"]) for p in pairs)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["preferences"]["revision_pairs"] == len(kept)
    assert summaries[-1]["pairs"] == metrics["preferences"]["pairs"] + len(kept)  # trained with the sampled ones


def test_revision_pairs_outside_a_dpo_round_are_refused(workspace):
    toml = workspace / "loop.toml"
    toml.write_text(toml.read_text().replace("revision_pairs = false", "revision_pairs = true"))
    code, _, err = run_cli("check")
    assert code == 2 and "revision_pairs makes preference pairs for DPO rounds" in err


# ---- checks ------------------------------------------------------------------------------------------
def test_revisions_without_the_revise_template_are_refused_by_loop_check(workspace):
    (workspace / "prompts/revise.jinja").unlink()
    code, _, _ = run_cli("check")
    assert code == 0  # an older workspace without it still checks
    toml = workspace / "loop.toml"
    toml.write_text(toml.read_text().replace('warm_start_data = "demonstrations"', 'warm_start_data = "revisions"'))
    code, _, err = run_cli("check")
    assert code == 2 and "loop.toml" in err and "needs prompts/revise.jinja" in err


def test_a_revise_template_with_an_undefined_variable_is_refused(workspace):
    (workspace / "prompts/revise.jinja").write_text("Rewrite {{ answer }} for {{ prompt }}.")
    code, _, err = run_cli("check")
    assert code == 2 and "revise.jinja:1" in err and "undefined variable 'answer'" in err


@pytest.mark.slow
def test_one_revision_pass_on_the_embedded_model_writes_valid_records(tmp_path):
    """The real model answers, critiques and rewrites; the real judge scores. What it keeps is not asserted
    (the 135M model's revisions are mostly worse: README), only that every record is whole and decided."""
    from loop.judging.judge import Judge
    from loop.model import load_model
    from loop.training.round import plan_run
    from loop.workspace import init_workspace

    plan = plan_run(init_workspace(tmp_path / "ws"), {})
    model, tokenizer, _ = load_model("embedded")
    judge = Judge(model, tokenizer, plan.constitution, plan.templates, plan.config.judge)
    rows = revision.revisable_rows(plan.pool, list(range(len(plan.pool))), 4)
    records = revision.revision_pass(model, tokenizer, plan, rows, judge, {"helpful": 0.4, "polite": 0.35},
                                     max_new_tokens=48, critique_tokens=32, margin=0.1, seed=0)
    assert records and len(records) <= 4
    for rec in records:
        assert set(rec) == {"prompt", "pool_index", "behaviour", "principle", "original", "critique", "revision",
                            "scores", "kept", "reason"}
        assert rec["critique"] and isinstance(rec["kept"], bool) and rec["reason"]
        assert all(len(pair) == 2 for pair in rec["scores"].values()) and rec["principle"] in rec["scores"]
        json.dumps(rec)  # a JSON Lines record as written


def test_a_revision_that_repeats_its_instructions_is_not_kept():
    told = "Rewrite the answer so that it follows the principle: say it briefly."
    rec = record("concise", {"concise": [0.5, 1.0]}, revised="4. Rewrite the answer so that it follows the rule.")
    assert revision.verdict(rec, RULES, WEIGHTS, 0.1, told) == (False, "it repeats its instructions")
    assert revision.verdict(record("concise", {"concise": [0.5, 1.0]}, revised="Say less."), RULES, WEIGHTS, 0.1,
                            told) == (True, "kept")
