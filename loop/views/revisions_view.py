"""`loop log --revisions`: what the model's revision pass did, one panel per answer it rewrote.

Each panel shows the prompt, the principle the answer was revised for, the model's critique, the
original and the revision, every principle's score for both with the difference, and whether the
revision was kept and why (loop/training/revision.py): a reader checks at a glance whether what was
kept as training data is better.
"""

from __future__ import annotations

import re
from collections import Counter

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from loop.ledger import Ledger
from loop.ledger.queries import round_with
from loop.ledger.store import REVISIONS_FILE
from loop.views.charts import answer_text, delta, labeled_grid, score_pair_row, score_pair_table
from loop.views.critique_records import containing, records_title
from loop.views.json_out import write_json_lines
from loop.views.paging import paged


def revision_panel(rec: dict) -> Panel:
    """One revision: the prompt, critique, both answers, a row per principle (original, revision, Δ)."""
    scores = score_pair_table("original", "revision")
    for principle, (before, after) in (rec.get("scores") or {}).items():
        score_pair_row(scores, principle, before, after, delta(before, after),
                       style="bold" if principle == rec.get("principle") else "")
    texts = labeled_grid([
        ("prompt", Text(str(rec.get("prompt", "")))),
        ("original", answer_text(str(rec.get("original", "")))),
        (Text("critique", style="dim"), Text(str(rec.get("critique", "")), style="dim")),
        (Text("revision", style="bold green" if rec.get("kept") else "bold red"),
         answer_text(str(rec.get("revision", ""))))])
    title = f"revised for {rec.get('principle')} · {rec.get('behaviour')}"
    subtitle = Text("kept" if rec.get("kept") else f"not kept: {rec.get('reason')}",
                    style="green" if rec.get("kept") else "red")
    return Panel(Group(texts, Text(""), scores), title=title, title_align="left", subtitle=subtitle,
                 subtitle_align="right")


def reason_kind(reason: str) -> str:
    """A reason without its amounts, so that like reasons count together ("loses on correct")."""
    reason = re.sub(r" \(.*\)$", "", reason)
    reason = re.sub(r" by [-+]?\d+(\.\d+)?", "", reason)
    return re.sub(r", not by more than [\d.]+$", " too little", reason)


def counts_line(records: list[dict]) -> str:
    """How many were kept, and why the others were not (most common reasons first)."""
    kept = sum(bool(r.get("kept")) for r in records)
    reasons = Counter(reason_kind(str(r.get("reason", ""))) for r in records if not r.get("kept"))
    why = "; ".join(f"{n} {reason}" for reason, n in reasons.most_common())
    return f"{kept} of {len(records)} revisions kept" + (f"; not kept: {why}" if why else "")


def revision_round(ledger: Ledger, round_number: int | None) -> int:
    """The round to show: the one asked for (which must have revisions), else the latest that has them."""
    return round_with(ledger, round_number, REVISIONS_FILE, "revisions",
                      "no revisions: the warm start revises its answers with [train] warm_start_data = "
                      "\"revisions\" or \"both\"")


def show_revisions(ledger: Ledger, console: Console, *, round_number: int | None, contains: str | None = None,
                   kept_only: bool = False, as_json: bool = False, pager: bool = True) -> int:
    """The `loop log --revisions` command: a round's revisions, as panels or JSON Lines."""
    n = revision_round(ledger, round_number)
    records = ledger.revisions(n)
    shown = containing([r for r in records if r.get("kept") or not kept_only], contains,
                       ("prompt", "original", "critique", "revision"))
    if as_json:
        write_json_lines(shown)
        return 0
    with paged(console, enabled=pager):
        console.print(Text(records_title(ledger.run, n, "revisions", len(shown), contains), style="bold"))
        console.print(Text(counts_line(records), style="dim"))
        for rec in shown:
            console.print(revision_panel(rec))
    return 0
