"""`loop constitution show`: one line per principle at 80 columns, the judge's measured accuracy read
from the run's ledger, and the text behind --full."""

from __future__ import annotations

import json

from tests.fixture_ledger import copy_fixture_ledger
from tests.helpers import REPO, run_cli

from loop.constitution import load_constitution
from loop.views.constitution_view import render_constitution
from loop.views.reliability_view import latest_reliability

CONSTITUTION = load_constitution(REPO / "constitution")


def test_the_compact_view_is_one_line_per_principle_at_80_columns(console):
    render_constitution(CONSTITUTION, console, run="main")
    lines = console.file.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert len(lines) <= len(CONSTITUTION.principles) + 12  # was 148 lines with the text of every principle
    rows = [line for line in lines if line.startswith("│ ")]
    assert len(rows) == len(CONSTITUTION.principles)
    assert [c.strip() for c in rows[0].strip("│").split("│")] == ["concise", "0.5", "rule: ≤ 40 words", "", ""]


def test_full_keeps_the_text_rubric_and_question(console):
    render_constitution(CONSTITUTION, console, questions={"honest": "Is this answer accurate?"}, full=True)
    text = " ".join(line.strip("│ ") for line in console.file.getvalue().splitlines())
    assert "low: States" in text and "asks: Is this answer accurate?" in text and "--full" not in text


def test_show_reads_the_reliability_a_round_kept_in_metrics_json(workspace):
    """An older round.json without the trust figures: the latest complete round's metrics.json has them."""
    ledger = copy_fixture_ledger(workspace / "runs")
    for n in ledger.complete_rounds():
        path = ledger.complete_dir(n) / "round.json"
        info = json.loads(path.read_text())
        path.write_text(json.dumps({k: v for k, v in info.items() if k not in ("reliability", "effective_weights")}))
    path = ledger.complete_dir(3) / "metrics.json"
    path.write_text(json.dumps({**json.loads(path.read_text()),
                                "reliability": {"honest": {"accuracy": 0.7, "low": 0.55, "high": 0.82, "n": 40}}}))
    assert latest_reliability(ledger)[0] == 3
    code, out, _ = run_cli("constitution", "show")
    honest = next(line for line in out.splitlines() if line.startswith("│ honest"))
    assert code == 0 and "0.70 [0.55, 0.82]" in honest and "│ 40 │" in honest
    text = " ".join(out.split())
    assert "how often round 3's judge (run main)" in text and "harmless, helpful, polite not read in round 3" in text
