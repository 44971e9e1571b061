"""`loop rounds` for rounds that must earn their place: the gate's verdict per round, why a rejected round
was rejected and where the next one started, and the samples-vs-greedy table; older ledgers without
either still render as before."""

from __future__ import annotations

import io
import json

import pytest
from rich.console import Console
from tests.fixture_ledger import add_gate_and_sampling, copy_fixture_ledger
from tests.helpers import run_cli

from loop.views.rounds_gate import rejection_lines, sampling_table
from loop.views.rounds_view import render_rounds


@pytest.fixture
def gated(workspace):
    ledger = copy_fixture_ledger(workspace / "runs")
    add_gate_and_sampling(ledger)
    return ledger


def rendered(ledger, width: int = 80) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None)
    render_rounds(ledger, console)
    return console.file.getvalue()


def row_of(text: str, first: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if line.split()[:1] == [first])


def joined(text: str) -> str:
    return " ".join(text.split())


def test_each_round_shows_its_gate_verdict_and_rate(gated):
    text = rendered(gated)
    assert "★ best accepted by the gate: round 2" in text
    assert row_of(text, "round")[:4] == ["round", "kind", "status", "gate"]
    assert row_of(text, "1")[:4] == ["1", "–", "complete", "0.50"]  # measured, nothing to compare with
    assert row_of(text, "★2")[:5] == ["★2", "–", "complete", "✓", "0.70"]
    assert row_of(text, "3")[:5] == ["3", "–", "complete", "✗", "0.85"]  # the highest rate, yet rejected
    assert "gate: mean pass rate on the gate set, 0–1; ✓ accepted, ✗ rejected" in joined(text)


def test_a_rejected_round_says_why_and_where_the_next_round_started(gated):
    assert ("round 3 rejected: worse than the best accepted round (2) on benign -0.15 [-0.34, +0.02]; round 4 "
            "started from round 2") in joined(rendered(gated))


def test_a_rejected_last_round_says_where_the_next_one_will_start():
    gate = {"accepted": False, "rate": 0.5, "against_round": 1, "margin": 0.1, "why": "...",
            "families": {"harmful": {"delta": -0.3, "low": -0.5, "high": -0.1, "n": 20},
                         "benign": {"delta": 0.05, "low": -0.1, "high": 0.2, "n": 20}}}
    lines = rejection_lines([{"round": 1, "status": "complete"}, {"round": 2, "status": "complete", "gate": gate}])
    assert [line.plain for line in lines] == [
        "round 2 rejected: worse than the best accepted round (1) on harmful -0.30 [-0.50, -0.10]; the next round "
        "starts from round 1"]


def test_samples_vs_greedy_sets_each_behaviour_beside_the_start_policy(gated):
    text = rendered(gated)
    assert "samples vs greedy" in text
    assert row_of(text, "2")[:11] == ["2", "refuse", "0.25", "[0.10,", "0.49]", "16", "0.80", "[0.58,", "0.92]",
                                       "harmful", "20"] and row_of(text, "2")[-1] == "≠"  # intervals apart
    comply = row_of(text, "comply")
    assert comply[-2:] == ["benign", "20"]  # they overlap: no mark
    assert row_of(text, "answer") == ["answer", "1.00", "[0.68,", "1.00]", "8", "–", "arithmetic", "–"]


def test_the_gated_view_fits_80_columns_and_the_gate_never_gives_way(gated):
    for width in (80, 60):
        text = rendered(gated, width)
        assert max(len(line) for line in text.splitlines()) <= width
        assert row_of(text, "3")[3:5] == ["✗", "0.85"]


def test_an_older_ledger_without_gate_or_sampling_renders_as_before(workspace):
    text = rendered(copy_fixture_ledger(workspace / "runs"))
    assert row_of(text, "round")[:4] == ["round", "kind", "status", "reward"]
    assert "gate" not in text and "rejected" not in text and "samples vs greedy" not in text
    assert sampling_table([{"round": 1, "status": "complete", "sampling": {}}]) is None


def test_rounds_json_carries_the_gate_and_the_sampling(gated):
    rows = json.loads(run_cli("rounds", "--json")[1])
    assert [r.get("gate", {}).get("accepted") for r in rows] == [True, True, False, None]
    assert rows[2]["gate"]["against_round"] == 2 and rows[2]["gate"]["families"]["benign"]["delta"] == -0.15
    assert rows[1]["sampling"]["refuse"]["samples"]["n"] == 16 and "sampling" not in rows[3]
