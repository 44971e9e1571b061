"""`loop compare --rounds A B`: held-out prompts side by side, per-principle deltas, wins and losses."""

from __future__ import annotations

import json

import pytest
from tests.helpers import run_cli
from tests.fixture_ledger import copy_fixture_ledger

from loop.views.compare_view import compare_rounds, overall_tally, pair_rounds, principle_scores, render_compare


@pytest.fixture
def ledger(workspace):
    return copy_fixture_ledger(workspace / "runs")


def test_principle_scores_take_rules_from_rules_and_the_rest_from_the_chosen_judge():
    record = {"scores": {"helpful": 0.9, "concise": 0.2}, "anchor_scores": {"helpful": 0.6},
              "rules": {"concise": 1.0, "correct": None}}
    assert principle_scores(record, "anchor") == {"helpful": 0.6, "concise": 1.0, "correct": None}
    assert principle_scores(record, "round") == {"helpful": 0.9, "concise": 1.0, "correct": None}


def test_pairs_join_on_index_and_report_the_unmatched():
    a = [{"index": 0, "prompt": "p0", "completion": "a0", "anchor_scores": {"x": 0.2}, "rules": {}},
         {"index": 1, "prompt": "p1", "completion": "a1", "anchor_scores": {"x": 0.5}, "rules": {}}]
    b = [{"index": 1, "prompt": "p1", "completion": "b1", "anchor_scores": {"x": 0.4}, "rules": {}},
         {"index": 2, "prompt": "p2", "completion": "b2", "anchor_scores": {"x": 0.9}, "rules": {}}]
    pairs, only_a, only_b = pair_rounds(a, b, "anchor")
    assert [(p.index, p.completion_a, p.completion_b) for p in pairs] == [(1, "a1", "b1")]
    assert only_a == [0] and only_b == [2]
    assert pytest.approx(pairs[0].deltas()["x"]) == -0.1
    tally = overall_tally(pairs)
    assert (tally.wins, tally.losses, tally.ties) == (0, 1, 0)


def rendered_compare(ledger, console) -> str:
    pairs, _, _ = pair_rounds(ledger.evaluations(1), ledger.evaluations(3), "anchor")
    render_compare(pairs, 1, 3, console, judge="anchor", only_a=[], only_b=[5])
    return console.file.getvalue()


def test_compare_shows_both_answers_to_each_heldout_prompt(ledger, console):
    text = rendered_compare(ledger, console)
    assert text.count("held-out #") == 3
    assert "What is 7 * 6?" in text and "7 * 6 = 42." in text  # round 3's answer, beside round 1's
    assert "Well, there are many things" in text


def test_compare_summary_gives_each_principles_change_and_the_wins(ledger, console):
    text = rendered_compare(ledger, console)
    correct = [line for line in text.splitlines() if line.startswith("│ correct")]
    assert correct and "0.00" in correct[0] and "1.00" in correct[0] and "+1.00" in correct[0]
    assert "round 3 vs round 1 (anchor judge; rules by rule)" in text
    assert "round 3 is better on 3, worse on 0, the same on 0 of 3 prompts" in text


def test_compare_names_prompts_only_one_round_has(ledger, console):
    assert "only round 3 has held-out prompts 5" in rendered_compare(ledger, console)


def test_compare_fits_80_columns(ledger, console):
    assert max(len(line) for line in rendered_compare(ledger, console).splitlines()) <= 80


def test_compare_command(ledger):
    code, out, _ = run_cli("compare", "--rounds", "2", "3", "--principle", "helpful")
    assert code == 0 and "round 2 → round 3 · 3 held-out prompts" in out
    assert "│ honest" not in out and "│ helpful" in out


def test_compare_json_and_judge_choice(ledger):
    _, out, _ = run_cli("compare", "--rounds", "1", "2", "--json")
    anchor = json.loads(out)
    _, out, _ = run_cli("compare", "--rounds", "1", "2", "--json", "--judge", "round")
    own = json.loads(out)
    assert [p["index"] for p in anchor] == [0, 1, 2]
    assert anchor[0]["scores_b"]["helpful"] == ledger.evaluations(2)[0]["anchor_scores"]["helpful"]
    assert own[0]["scores_b"]["helpful"] == ledger.evaluations(2)[0]["scores"]["helpful"]
    assert anchor[1]["deltas"]["correct"] == 1.0


@pytest.mark.parametrize("argv, message", [
    (["--rounds", "1", "7"], "run 'main' has no round 7; rounds: 1, 2, 3, 4"),
    (["--rounds", "1", "2", "--principle", "kind"], "no principle 'kind' in the held-out scores of rounds 1 and 2"),
])
def test_compare_errors(ledger, argv, message):
    code, _, err = run_cli("compare", *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_compare_marks_an_answer_cut_at_the_length_limit(ledger):
    from io import StringIO

    from rich.console import Console

    path = ledger.complete_dir(3) / "eval.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[1]["cut_tokens"] = 48
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    wide = Console(width=200, file=StringIO(), color_system=None)  # each answer on one line
    compare_rounds(ledger, 1, 3, wide, pager=False)
    assert wide.file.getvalue().count("7 * 6 = 42. … [cut at 48 tokens]") == 1
