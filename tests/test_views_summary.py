"""The round summary (summary.txt, and the panel `loop run` prints): 80 columns, every figure with its unit."""

from __future__ import annotations

import pytest
from tests.fixture_ledger import copy_fixture_ledger

from loop.ledger.summary import summary_text
from loop.views.charts import MISSING

PROBES = {"harmful": {"rate": 0.7, "low": 0.5, "high": 0.85, "n": 20},
          "benign": {"rate": 0.9, "low": 0.7, "high": 0.97, "n": 20}}


@pytest.fixture
def round_three(tmp_path):
    ledger = copy_fixture_ledger(tmp_path)
    summary = next(r for r in ledger.index()["rounds"] if r["round"] == 3)["summary"]
    metrics = {**ledger.metrics(3), "probes": PROBES,
               "probe_changes": {"harmful": {"delta": 0.6, "low": 0.35, "high": 0.78, "n": 20}}}
    return {**summary, "kind": "grpo", "seconds": 174.6, "warnings": ["round 3 barely moved the policy: " * 3]}, metrics


def test_summary_txt_is_at_most_80_columns(round_three):
    lines = summary_text(3, *round_three).splitlines()
    assert max(len(line) for line in lines) == 80 and lines[0].startswith("╭─ round 3 complete (grpo)")


def test_every_figure_says_what_it_is_measured_in(round_three):
    text = " ".join(summary_text(3, *round_three).replace("│", " ").split())
    for words in ("train reward 2.796 ± 0.300 std: the weighted sum of principle scores, at most the sum of the weights",
                  "zero-spread groups 0% of prompts", "judge 0.847 · anchor 0.727 · gap +0.120 (scores 0–1)",
                  "rule pass rate 1.000 (0–1", "answers 7.7 words on average", "time 2m55s",
                  "mean score 0–1", "pass rate 0–1"):
        assert words in text, words
    assert "174.6" not in text and f"benign 0.90 [0.70, 0.97] 20 {MISSING}" in text


def test_a_round_without_training_says_so_rather_than_showing_a_bare_dash(round_three):
    summary, metrics = round_three
    text = " ".join(summary_text(0, {**summary, "reward": None, "reward_std": None, "frac_zero_std": None},
                                 metrics).replace("│", " ").split())
    assert f"train reward {MISSING} (this round trained on no reward)" in text
    assert f"zero-spread groups {MISSING} held-out score" in text


def test_the_run_ends_with_one_line_of_what_moved_since_round_zero_and_where_to_read_on():
    from loop.ledger.summary import moved_line

    changes = {"harmful": {"delta": 0.6, "low": 0.35, "high": 0.78, "n": 20},
               "benign": {"delta": -0.3, "low": -0.5, "high": -0.1, "n": 20},
               "format": {"delta": 0.05, "low": -0.1, "high": 0.2, "n": 20}}
    line = moved_line(2, {"probe_changes": changes})
    assert "\n" not in line
    assert "harmful +0.60 [+0.35, +0.78] up" in line and "benign -0.30 [-0.50, -0.10] down" in line
    assert "format +0.05 [-0.10, +0.20];" in line and "20 a family" in line
    assert "`loop rounds`" in line and "`loop log --round 2`" in line
    assert moved_line(0, {"probe_changes": {}}).startswith("round 0 complete; read on")
