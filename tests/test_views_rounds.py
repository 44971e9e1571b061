"""`loop rounds`: the rounds table, trend sparklines, judge vs anchor per principle, --json."""

from __future__ import annotations

import io
import json

import pytest
from tests.helpers import run_cli
from tests.fixture_ledger import copy_fixture_ledger

from loop.views.charts import delta, fmt, score_bar, sparkline
from loop.views.rounds_view import render_rounds, trends_table


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


@pytest.mark.parametrize("values, min_span, expected", [
    ([0.50, 0.51], 0.1, "▄▅"),  # centred on a span of 0.1: a 0.01 change is one level
    ([0.1, 0.5, 0.9], 0.1, "▁▅█"),  # wider than the minimum: scaled to the values as before
    ([0.50, 0.51], 0.0, "▁█"),  # no minimum: the old, cliff-like scale
])
def test_sparkline_minimum_span(values, min_span, expected):
    assert sparkline(values, min_span=min_span).plain == expected


@pytest.mark.parametrize("score, expected", [
    (0.0, "··········"), (1.0, "██████████"), (0.55, "█████▌····"),
    (1.7, "██████████"),  # clamped
    (None, "          "), (float("nan"), "          "),  # blank: the number beside it says "–"
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
    # A ledger written before rounds had kinds and probes: those cells say "–", never 0. The status is
    # the index's own word, as in --json.
    row3 = next(line for line in lines if line.split()[:3] == ["3", "–", "complete"])
    assert row3.split() == ["3", "–", "complete", "2.80", "0.85", "0.73", "0.12", "1.00", "–", "7.7", "1m15s"]
    assert any(line.split()[:3] == ["4", "–", "running"] for line in lines)


def test_trends_show_a_sparkline_first_last_and_change_per_metric(ledger, console):
    text = rendered_rounds(ledger, console)
    trend = next(line for line in text.splitlines() if "judge_score" in line)
    assert "▁▅█" in trend and "0.55" in trend and "0.85" in trend and "+0.30" in trend
    assert "anchor_gap" in text and "seconds" in text


def trend_row(rows: list[dict], key: str, console) -> list[str]:
    console.print(trends_table(rows))
    line = next(line for line in console.file.getvalue().splitlines() if f"│ {key} " in line)
    return [cell.strip() for cell in line.strip("│").split("│")]


def complete(key: str, *values) -> list[dict]:
    return [{"round": n, "status": "complete", key: v} for n, v in enumerate(values, start=1)]


def test_a_small_change_in_a_score_is_a_small_step_in_its_sparkline(console):
    _, _, spark, *_ = trend_row(complete("judge_score", 0.50, 0.51), "judge_score", console)
    assert spark in ("▄▅", "▄▄", "▅▅")  # 0.01 on a span of at least 0.1: one level at most, not ▁█


def test_a_large_change_still_fills_the_sparkline(console):
    _, _, spark, *_ = trend_row(complete("judge_score", 0.1, 0.5, 0.9), "judge_score", console)
    assert spark == "▁▅█"


def test_the_seconds_row_speaks_in_one_unit(console):
    _, _, _, first, last, change = trend_row(complete("seconds", 45.0, 125.0), "seconds", console)
    assert (first, last, change) == ("0m45s", "2m05s", "+1m20s")


def test_seconds_under_a_minute_stay_in_seconds(console):
    _, _, _, first, last, change = trend_row(complete("seconds", 45.0, 50.0), "seconds", console)
    assert (first, last, change) == ("45s", "50s", "+5s")


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
    code, _, err = run_cli("-C", str(workspace), "rounds", "--run", "main", "--json")
    assert code == 2 and "no run 'main' yet; runs: exp" in err


def test_rounds_show_how_well_the_anchor_and_the_last_judge_read_each_principle(ledger, console):
    text = rendered_rounds(ledger, console)
    assert "judge reliability" in text and "anchor (round 1)" in text and "judge (round 3)" in text
    honest = [line for line in text.splitlines() if line.startswith("│ honest")][-1]
    # round 1's judge was the base model (the anchor): 27 of 40; round 3's: 20 of 40, at chance -> weight 0
    assert "0.68 [0.52, 0.80]" in honest and "0.50 [0.35, 0.65]" in honest and "0 of 1" in honest
    helpful = [line for line in text.splitlines() if line.startswith("│ helpful")][-1]
    assert "0.8 of 1" in helpful


def test_rounds_show_the_consistency_that_scaled_a_weight(ledger, console):
    text = rendered_rounds(ledger, console)
    harmless = [line for line in text.splitlines() if line.startswith("│ harmless")][-1]
    # round 3's judge: 31 of 40 (0.55 of a weight of 1 from accuracy), consistency 0.7 -> 0.39 of 1
    assert "+0.70" in harmless and "0.39 of 1" in harmless and "τ: consistency" in text
    helpful = [line for line in text.splitlines() if line.startswith("│ helpful")][-1]
    assert " – " in helpful  # round 3 read none of helpful's pairs again


def test_rounds_json_carries_each_rounds_trust_in_its_judge(ledger):
    rows = json.loads(run_cli("rounds", "--json")[1])
    assert rows[2]["trust"]["effective_weights"]["honest"] == 0 and rows[0]["trust"]["judge_state"] == "base"


@pytest.mark.parametrize("command", [
    ["rounds"], ["rounds", "--json"], ["log"], ["compare", "--rounds", "1", "2"],
    ["export", "--round", "1", "out"], ["constitution", "diff", "--rounds", "1", "2"],
])
def test_a_mistyped_run_is_exit_2_naming_the_runs_there_are(ledger, command):
    code, out, err = run_cli(*command, "--run", "mian")
    assert (code, out) == (2, "")
    assert err == "loop: error: runs: no run 'mian' yet; runs: main (did you mean 'main'?)\n"


def test_a_workspace_without_runs_says_how_to_start_one(workspace):
    code, out, _ = run_cli("rounds", "--run", "first")
    assert code == 0 and "run 'first' has no rounds yet; start one with loop run" in out


def probe_rows() -> list[dict]:
    """Rows as round_rows gives them for a run with round 0, a warm start and a self-rewarding round."""
    def probes(h, b):
        return {"harmful": {"rate": h, "low": max(0, h - 0.2), "high": min(1, h + 0.2), "n": 20},
                "benign": {"rate": b, "low": max(0, b - 0.2), "high": min(1, b + 0.2), "n": 20}}

    changes = {"harmful": {"delta": 0.6, "low": 0.35, "high": 0.78, "n": 20},
               "benign": {"delta": -0.1, "low": -0.3, "high": 0.08, "n": 20}}
    movement = {"changed": {"share": 0.8, "n": 106}, "drift_base": 0.123, "drift_start": 0.05, "clipped": 0.25,
                "guard_cut": 0.0}
    return [{"round": 0, "kind": "baseline", "status": "complete", "probes": probes(0.0, 1.0), "probe_changes": {},
             "movement": {"changed": None}, "probe_pass": 0.5, "warnings": []},
            {"round": 1, "kind": "warm-start", "status": "complete", "probes": probes(0.7, 0.9),
             "probe_changes": changes, "movement": movement, "probe_pass": 0.8,
             "warnings": ["round 1 barely moved the policy: 2% of 106 greedy answers changed since round 0"]}]


def test_the_probes_table_shows_each_family_per_round_and_the_change_from_round_zero(console):
    from loop.views.rounds_probes import probes_table

    console.print(probes_table(probe_rows()))
    lines = console.file.getvalue().splitlines()
    harmful = next(line for line in lines if line.strip().startswith("harmful"))
    assert harmful.split() == ["harmful", "0.00", "0.70", "+0.60", "[+0.35,", "+0.78]", "20"]
    assert max(len(line) for line in lines) <= 80


def test_the_movement_table_has_a_row_per_round_that_measured_it(console):
    from loop.views.rounds_probes import movement_table

    console.print(movement_table(probe_rows()))
    row = next(line for line in console.file.getvalue().splitlines() if line.strip().startswith("1 "))
    assert row.split() == ["1", "80%", "0.123", "0.050", "–", "25%", "0%"]


def test_warnings_are_listed_with_their_round():
    from loop.views.rounds_probes import warning_lines

    [line] = warning_lines(probe_rows())
    assert line.plain.startswith("warning, round 1: round 1 barely moved the policy")


def test_the_best_round_by_probes_is_marked(console):
    from loop.views.rounds_view import rounds_table

    console.print(rounds_table(probe_rows(), "main", best=1))
    text = console.file.getvalue()
    assert "★ best by probes: round 1" in text
    assert any(line.split()[:2] == ["★1", "warm-start"] for line in text.splitlines())


def vocabulary_rows() -> list[dict]:
    """probe_rows with every kind and status a table must name: the same words as --json."""
    rows = probe_rows()
    rows.append({"round": 2, "kind": "grpo", "status": "interrupted", "seconds": 3725.0})
    rows.append({"round": 3, "kind": "dpo", "status": "running"})
    for row in rows[:2]:
        row.update(reward=1.6, judge_score=0.7, anchor_score=0.6, anchor_gap=0.1, rule_pass=0.5,
                   completion_words=31.0, seconds=174.6, trust={"effective_weights": {"a": 1.0, "b": 0.5}})
    return rows


@pytest.mark.parametrize("width", [80, 72, 60, 50])
def test_the_rounds_table_keeps_its_round_column_and_json_words_at_any_width(width):
    from rich.console import Console

    from loop.views.rounds_view import rounds_legend, rounds_table

    console = Console(width=width, file=io.StringIO(), color_system=None)
    rows = vocabulary_rows()
    table = rounds_table(rows, "main", best=1, width=width)
    console.print(table)
    console.print(rounds_legend(rows, table))
    lines = console.file.getvalue().splitlines()
    assert max(len(line) for line in lines) <= width
    cells = {line.split()[0]: line.split()[:3] for line in lines if line.strip()[:2] in ("0 ", "★1", "2 ", "3 ")}
    assert cells == {"0": ["0", "baseline", "complete"], "★1": ["★1", "warm-start", "complete"],
                     "2": ["2", "grpo", "interrupted"], "3": ["3", "dpo", "running"]}
    legend = " ".join(" ".join(lines).split())
    assert "at most the sum of the weights, 1.50 in round 1" in legend
    assert ("left out at this width" in legend) == (width < 80)


def test_the_rounds_legend_and_trends_give_every_figure_its_unit(console):
    from loop.views.rounds_view import rounds_legend, rounds_table

    rows = vocabulary_rows()
    console.print(rounds_legend(rows, rounds_table(rows, "main")))
    console.print(trends_table(rows))
    text = " ".join(console.file.getvalue().split())
    for words in ("judge: mean held-out score by the round's judge, 0–1", "rules: rule pass rate, 0–1",
                  "words: per held-out answer", "time: wall clock", "│ seconds │ wall clock │",
                  "│ reward │ Σ weight × score │", "2m55s"):
        assert words in text, words
