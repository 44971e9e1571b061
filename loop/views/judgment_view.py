"""`loop judge`'s table: one row per principle with its score, what the score was read from, and a
caption that says which is which.

A judged score is not the raw P(Yes): with calibration on (the default) it is the judge's Yes share
less its Yes share for an empty answer to the same prompt, in log-odds, so a score of 0.87 can sit
next to P(Yes) 0.274 below P(No) 0.616. The headers and the caption say so, so nobody reads one as
the other. Takes the plain items of `loop judge --json`.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from loop.constitution import SIGNALS, Constitution
from loop.views.charts import MISSING
from loop.views.console import make_console
from loop.views.constitution_view import describe_reward


def score_header(calibrated: bool) -> str:
    return "score (calibrated)" if calibrated else "score"


def caption(calibrated: bool, signals: bool) -> str:
    """What the score and the probabilities are, in one or two sentences."""
    read = ("P(Yes) / (P(Yes) + P(No)) less the same for an empty answer to this prompt, in log-odds"
            if calibrated else "P(Yes) / (P(Yes) + P(No))")
    text = (f"score, 0 to 1: {read}{', plus the likelihood column' if signals else ''}; a rule scores 0 or 1; "
            f"{MISSING}: could not score. P(Yes) / P(No) raw: the judge's next-token probabilities, "
            "before any calibration.")
    if signals:
        text += (" likelihood: each signal (nats per token) less its center, × its weight: what it adds to the "
                 "score's log-odds.")
    return text


def likelihood_cell(item: dict, constitution: Constitution) -> str:
    """Each likelihood signal the principle weighs: its value relative to its center × its weight."""
    dist = item.get("distribution") or {}
    principle = constitution.get(item["principle"])
    return " ".join(f"{name} {dist[name] - dist.get(name + '_center', 0.0):+.2f}×{getattr(principle, name):g}"
                    for name in SIGNALS if name in dist) or "none"


def judgments_table(items: list[dict], constitution: Constitution, *, mode: str, calibrated: bool) -> Table:
    critique_mode = mode == "critique"
    signals = any(name in (item.get("distribution") or {}) for item in items for name in SIGNALS)
    table = Table(title=f"judge · {mode} mode · constitution {constitution.version}", title_justify="left",
                  caption=caption(calibrated, signals), caption_justify="left")
    table.add_column("principle")
    table.add_column("by")
    table.add_column(score_header(calibrated), justify="right")
    table.add_column("P(Yes) / P(No) raw", justify="right")
    table.add_column("likelihood", justify="right")
    if critique_mode:
        table.add_column("critique")
    for item in items:
        score = MISSING if item["score"] is None else f"{item['score']:.2f}"
        if item["source"] == "rule":
            row = [item["principle"], "rule", score, describe_reward(item["check"]).removeprefix("rule: "), ""]
        else:
            dist = item.get("distribution") or {}
            row = [item["principle"], "judge", score, f"{dist.get('yes', 0):.3f} / {dist.get('no', 0):.3f}",
                   likelihood_cell(item, constitution)]
        table.add_row(*(row + [item.get("critique", "")] if critique_mode else row))
    return table


def print_judgments(items: list[dict], constitution: Constitution, *, mode: str, calibrated: bool,
                    console: Console | None = None) -> None:
    """The table, then why each rule could not score (score mode has no critique column) and the
    sentences the guard cut before the judge read the answer."""
    console = console or make_console()
    console.print(judgments_table(items, constitution, mode=mode, calibrated=calibrated))
    for item in items:
        if item["source"] == "rule" and item["score"] is None and mode != "critique":
            console.print(f"[bold]{item['principle']}[/] {escape(item['critique'])}")
    cuts = {(c["text"], c["reason"]): None for item in items for c in item.get("cuts", [])}
    for text, reason in cuts:  # the same sentences are cut for every principle: list them once
        console.print(f"[bold yellow]guard cut[/] ({reason}), not shown to the judge: [yellow]{escape(text)}[/]")
