"""The round summary: kept in the ledger as summary.txt, and printed after each round.

It lives with the ledger because summary.txt is one of a round's files, written by the round before
it is published; the round must not import views, and `loop run` prints the same panel through its
progress callback (loop/views/progress.py). For the same reason the two formats every view shares
with summary.txt are defined here, and the views take them from loop/views/charts.py: the one glyph
for "could not score", and durations.
"""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from loop.stats import is_number

MISSING = "–"  # "could not score" / nothing recorded, in every view: never 0, never a hyphen or "n/a"


def duration(seconds, unit: str | None = None) -> str:
    """45s, 6m05s or 1h02m. `unit` ("s", "m", "h") fixes the form, so numbers set side by side read
    alike ("0m45s" next to "2m05s"); without it each value takes the form that fits it. A negative
    value keeps its sign."""
    if not is_number(seconds):
        return MISSING
    sign, s = "-" if seconds < 0 else "", int(round(abs(seconds)))
    unit = unit or ("s" if s < 60 else "m" if s < 3600 else "h")
    return sign + (f"{s}s" if unit == "s" else f"{s // 60}m{s % 60:02d}s" if unit == "m"
                   else f"{s // 3600}h{s % 3600 // 60:02d}m")


def _fmt(value: Any, signed: bool = False) -> str:
    if value is None:
        return MISSING
    if isinstance(value, float):
        return f"{value:+.3f}" if signed else f"{value:.3f}"
    return str(value)


def probes_table(metrics: dict[str, Any]) -> Table | None:
    """Per probe family: the pass rate with its 95 % interval, and the paired change from round 0."""
    probes, changes = metrics.get("probes") or {}, metrics.get("probe_changes") or {}
    if not probes:
        return None
    table = Table(title="probes (no judge decides them): pass rate 0–1", expand=True)
    for col in ("family", "pass rate", "95 % interval", "n", "change from round 0"):
        table.add_column(col, justify="left" if col == "family" else "right")
    for family, stats in probes.items():
        change = changes.get(family)
        text = Text(MISSING if change is None else f"{change['delta']:+.2f} [{change['low']:+.2f}, {change['high']:+.2f}]",
                    style="" if change is None else "green" if change["low"] > 0 else "red" if change["high"] < 0 else "")
        table.add_row(family, f"{stats['rate']:.2f}", f"[{stats['low']:.2f}, {stats['high']:.2f}]", str(stats["n"]),
                      text)
    return table


def totals_grid(summary: dict[str, Any]) -> Table:
    """The round's flat figures, each with what it is measured in."""
    reward, words = _fmt(summary.get("reward")), summary.get("completion_words")
    if is_number(summary.get("reward")) and is_number(summary.get("reward_std")):
        reward += f" ± {summary['reward_std']:.3f} std"
    reward = (f"{reward}: the weighted sum of principle scores, at most the sum of the weights"
              if is_number(summary.get("reward")) else f"{reward} (this round trained on no reward)")
    rows = [("train reward", reward),
            ("zero-spread groups", f"{summary.get('frac_zero_std', 0):.0%} of prompts (no reward spread, nothing "
                                   "to learn)" if is_number(summary.get("frac_zero_std")) else MISSING),
            ("held-out score", f"judge {_fmt(summary.get('judge_score'))} · anchor {_fmt(summary.get('anchor_score'))}"
                               f" · gap {_fmt(summary.get('anchor_gap'), signed=True)} (scores 0–1)"),
            ("rule pass rate", f"{_fmt(summary.get('rule_pass'))} (0–1, held-out answers the rules could check)"),
            ("answers", f"{words:.1f} words on average" if is_number(words) else MISSING),
            ("time", duration(summary.get("seconds")))]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, value)
    return grid


def principles_table(eval_metrics: dict[str, Any]) -> Table:
    """Per principle on the held-out prompts: each judge's mean score, their gap, a rule's pass rate."""
    table = Table(title="held-out prompts, per principle: mean score 0–1", expand=True)
    for col in ("principle", "round judge", "anchor judge", "gap", "rule pass", "unscored"):
        table.add_column(col, justify="left" if col == "principle" else "right")
    for pid, score in eval_metrics["judge_scores"].items():
        gap = eval_metrics["anchor_gap"].get(pid)
        style = "red" if gap is not None and gap > 0.1 else ""
        table.add_row(pid, _fmt(score), _fmt(eval_metrics["anchor_scores"].get(pid)),
                      Text(_fmt(gap, signed=True), style=style), "", str(eval_metrics["unscored"].get(pid, 0)))
    for pid, rate in eval_metrics["rule_pass_rates"].items():
        table.add_row(pid, "", "", "", _fmt(rate), "")
    return table


def summary_renderable(round_number: int, summary: dict[str, Any], metrics: dict[str, Any]) -> Panel:
    note = Text("gap = round judge − anchor judge on held-out prompts; a growing gap means the loop is "
                "rewarding itself for what the round-0 model does not see as better. unscored: answers "
                "the judge could not score.", style="dim")
    parts = [totals_grid(summary), principles_table(metrics["eval"]), note]
    probes = probes_table(metrics)
    if probes is not None:
        parts.append(probes)
    parts += [Text(f"warning: {line}", style="bold yellow") for line in summary.get("warnings") or []]
    kind = summary.get("kind")
    title = f"round {round_number} complete" + (f" ({kind})" if kind else "")
    return Panel(Group(*parts), title=title, title_align="left")


def summary_text(round_number: int, summary: dict[str, Any], metrics: dict[str, Any], width: int = 80) -> str:
    """summary.txt: the panel at 80 columns, without colour, so it reads anywhere."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None).print(summary_renderable(round_number, summary, metrics))
    return buffer.getvalue()


def moved_line(round_number: int, metrics: dict[str, Any]) -> str:
    """One line for the end of a run: what moved on the probes since round 0 (paired change, 95 %
    interval; "up"/"down" only where the interval leaves out 0), and where to read on."""
    changes = metrics.get("probe_changes") or {}
    read_on = f"read on: `loop rounds`, `loop log --round {round_number}`, `loop probes --round {round_number}`"
    if round_number == 0 or not changes:
        return f"round {round_number} complete; {read_on}"
    moved = []
    for family, c in changes.items():
        word = " up" if c["low"] > 0 else " down" if c["high"] < 0 else ""
        moved.append(f"{family} {c['delta']:+.2f} [{c['low']:+.2f}, {c['high']:+.2f}]{word}")
    n = max(c["n"] for c in changes.values())
    return (f"round {round_number} against round 0, probes ({n} a family, pass-rate change, 95 % interval): "
            f"{', '.join(moved)}; {read_on}")
