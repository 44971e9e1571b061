"""The round summary: kept in the ledger as summary.txt, and printed after each round.

It lives with the ledger because summary.txt is one of a round's files, written by the round before
it is published; the round must not import views, and `loop run` prints the same panel through its
progress callback (loop/views/progress.py).
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.3f}" if signed else f"{value:.3f}"
    return str(value)


def summary_renderable(round_number: int, summary: dict[str, Any], eval_metrics: dict[str, Any]) -> Panel:
    per_principle = Table(title="held-out prompts, per principle", expand=True)
    for col in ("principle", "round judge", "anchor judge", "gap", "rule pass", "unscored"):
        per_principle.add_column(col, justify="left" if col == "principle" else "right")
    for pid, score in eval_metrics["judge_scores"].items():
        gap = eval_metrics["anchor_gap"].get(pid)
        style = "red" if gap is not None and gap > 0.1 else ""
        per_principle.add_row(pid, _fmt(score), _fmt(eval_metrics["anchor_scores"].get(pid)),
                              Text(_fmt(gap, signed=True), style=style), "", str(eval_metrics["unscored"].get(pid, 0)))
    for pid, rate in eval_metrics["rule_pass_rates"].items():
        per_principle.add_row(pid, "", "", "", _fmt(rate), "")
    totals = Table.grid(padding=(0, 2))
    totals.add_row("train reward", _fmt(summary.get("reward")), "reward std", _fmt(summary.get("reward_std")),
                   "zero-spread groups", _fmt(summary.get("frac_zero_std")))
    totals.add_row("judge score", _fmt(summary.get("judge_score")), "anchor score", _fmt(summary.get("anchor_score")),
                   "anchor gap", _fmt(summary.get("anchor_gap"), signed=True))
    totals.add_row("rule pass", _fmt(summary.get("rule_pass")), "words/answer", f"{summary.get('completion_words', 0):.1f}",
                   "seconds", _fmt(summary.get("seconds")))
    note = Text("gap = round judge − anchor judge on held-out prompts; a growing gap means the loop is "
                "rewarding itself for what the round-0 model does not see as better.", style="dim")
    return Panel(Group(totals, per_principle, note), title=f"round {round_number} complete", title_align="left")


def summary_text(round_number: int, summary: dict[str, Any], eval_metrics: dict[str, Any], width: int = 100) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(summary_renderable(round_number, summary, eval_metrics))
    return buffer.getvalue()
