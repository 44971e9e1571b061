"""`loop rounds`: the rounds table, trend sparklines, judge vs anchor per principle, --json."""

from __future__ import annotations

import json

import pytest
from tests.helpers import run_cli
from tests.fixture_ledger import copy_fixture_ledger

from loop.views.charts import delta, fmt, score_bar, sparkline
from loop.views.rounds_view import render_rounds


@pytest.fixture
def ledger(workspace):
    return copy_fixture_ledger(workspace / "runs")


@pytest.mark.parametrize("values, lo, hi, expected", [
    ([0.1, 0.5, 0.9], None, None, "▁▅█"),
    ([1, 1, 1], None, None, "▅▅▅"),  # flat: the middle, not the floor
    ([0.0, None, 1.0], 0, 1, "▁ █"),  # a gap where a round has no value
    ([0.5], 0, 1, "▅"),
    ([], None, None, ""),
    ([None, None], None, None, "  "),
])
def test_sparkline(values, lo, hi, expected):
    assert sparkline(values, lo, hi).plain == expected


@pytest.mark.parametrize("score, expected", [
    (0.0, "··········"), (1.0, "██████████"), (0.55, "█████▌····"),
    (1.7, "██████████"),  # clamped
    (None, "n/a       "), (float("nan"), "n/a       "),
])
def test_score_bar(score, expected):
    assert score_bar(score).plain == expected


def test_fmt_and_delta_never_turn_missing_into_zero():
    assert fmt(None) == "–" and fmt(0.0) == "0.00" and fmt(15.0) == "15" and fmt(7.6667, 1) == "7.7"
    assert delta(None, 0.5).plain == "–" and delta(0.2, 0.5).plain == "+0.30" and delta(0.5, 0.5).plain == "±0.00"
    assert delta(0.5, 0.2).style == "red" and delta(0.5, 0.2, higher_is_better=False).style == "green"


def rendered_rounds(ledger, console) -> str:
    render_rounds(ledger, console)
    return console.file.getvalue()


def test_rounds_table_has_one_row_per_round_with_its_metrics(ledger, console):
    text = rendered_rounds(ledger, console)
    lines = text.splitlines()
    assert "run main: 4 rounds" in text
    row3 = next(line for line in lines if line.strip().startswith("3  complete"))
    assert row3.split() == ["3", "complete", "2.80", "0.30", "0.00", "0.85", "0.73", "0.12", "1.00", "7.7", "1m15s"]
    assert any(line.strip().startswith("4  running") for line in lines)


def test_trends_show_a_sparkline_first_last_and_change_per_metric(ledger, console):
    text = rendered_rounds(ledger, console)
    trend = next(line for line in text.splitlines() if "judge_score" in line)
    assert "▁▅█" in trend and "0.55" in trend and "0.85" in trend and "+0.30" in trend
    assert "anchor_gap" in text and "seconds" in text and "+10s" in text


def test_principles_table_sets_judge_against_anchor_and_rules_apart(ledger, console):
    lines = rendered_rounds(ledger, console).splitlines()
    honest = next(line for line in lines if line.startswith("│ honest"))
    assert "0.87" in honest and "0.75" in honest and "+0.12" in honest
    concise = next(line for line in lines if line.startswith("│ concise"))
    assert "rule" in concise and "1.00" in concise


def test_rounds_view_fits_80_columns(ledger, console):
    assert max(len(line) for line in rendered_rounds(ledger, console).splitlines()) <= 80


def test_rounds_json(ledger):
    code, out, _ = run_cli("rounds", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["round"] for r in rows] == [1, 2, 3, 4]
    assert [r["status"] for r in rows] == ["complete"] * 3 + ["running"]
    assert rows[0]["judge_score"] == 0.5487 and rows[2]["seconds"] == 75.0
    assert rows[1]["eval"]["judge_scores"]["helpful"] == 0.6833 and "eval" not in rows[3]


def test_rounds_with_zero_rounds(workspace):
    code, out, _ = run_cli("rounds")
    assert code == 0 and "run 'main' has no rounds yet; start one with loop run" in out
    code, out, _ = run_cli("rounds", "--json")
    assert code == 0 and json.loads(out) == []


def test_rounds_with_only_a_running_round(workspace):
    copy_fixture_ledger(workspace / "runs", rounds=0, running=True)
    code, out, _ = run_cli("rounds")
    assert code == 0 and "run main: 1 round" in out and "running" in out and "trends" not in out


def test_rounds_reads_the_run_name_from_loop_toml(ledger, workspace):
    (workspace / "runs" / "main").rename(workspace / "runs" / "exp")
    toml = (workspace / "loop.toml").read_text()
    (workspace / "loop.toml").write_text(toml.replace('name = "main"', 'name = "exp"'))
    code, out, _ = run_cli("rounds", "--json")
    assert code == 0 and len(json.loads(out)) == 4
    code, out, _ = run_cli("-C", str(workspace), "rounds", "--run", "main", "--json")
    assert code == 0 and json.loads(out) == []


def test_rounds_show_how_well_the_anchor_and_the_last_judge_read_each_principle(ledger, console):
    text = rendered_rounds(ledger, console)
    assert "judge reliability" in text and "anchor (round 1)" in text and "judge (round 3)" in text
    honest = [line for line in text.splitlines() if line.startswith("│ honest")][-1]
    # round 1's judge was the base model (the anchor): 27 of 40; round 3's: 20 of 40, at chance -> weight 0
    assert "0.68 [0.52, 0.80]" in honest and "0.50 [0.35, 0.65]" in honest and "0 of 1" in honest
    helpful = [line for line in text.splitlines() if line.startswith("│ helpful")][-1]
    assert "0.8 of 1" in helpful


def test_rounds_json_carries_each_rounds_trust_in_its_judge(ledger):
    rows = json.loads(run_cli("rounds", "--json")[1])
    assert rows[2]["trust"]["effective_weights"]["honest"] == 0 and rows[0]["trust"]["judge_state"] == "base"
