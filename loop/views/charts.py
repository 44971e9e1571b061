"""Small text charts: a score bar, a sparkline, a signed delta, a number that may be missing.

They are rich `Text`, so they keep their colour on a terminal and lose it cleanly in a pipe or
under NO_COLOR; the glyphs alone still carry the meaning (bar length, spark height, the sign).
Every view shows "could not score" (or "nothing recorded") as MISSING, and a time as `duration`;
both are defined with the round summary (loop/ledger/summary.py), which the ledger writes and
which cannot import views.
"""

from __future__ import annotations

from typing import Iterable

from rich.text import Text

from loop.ledger.summary import MISSING, duration  # noqa: F401  (re-exported: the views' one source)
from loop.stats import is_number

SPARKS = "▁▂▃▄▅▆▇█"
FULL, EIGHTHS = "█", " ▏▎▍▌▋▊▉"  # partial blocks give a 10-cell bar 80 steps of resolution


def fmt(value, digits: int = 2) -> str:
    """A number for a table cell; MISSING where it is missing (never 0: "could not score" is not 0)."""
    if not is_number(value):
        return MISSING
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 10:
        return str(int(value))
    return f"{value:.{digits}f}"


def answer_text(completion: str, cut_tokens=None) -> Text:
    """An answer as shown; "(empty)" when there is none, and `… [cut at N tokens]` after one that hit the
    length limit (so a reader does not take a cut-off answer for one that stops mid-thought)."""
    text = Text(completion) if completion.strip() else Text("(empty)", style="dim")
    if is_number(cut_tokens):
        text.append(f" … [cut at {int(cut_tokens)} tokens]", style="yellow")
    return text


def score_style(score: float) -> str:
    return "red" if score < 0.4 else "yellow" if score < 0.7 else "green"


def score_bar(score, width: int = 10) -> Text:
    """A bar `width` cells long for a score in [0, 1], coloured red / yellow / green; blank where there
    is no score (the number beside it says MISSING)."""
    if not is_number(score):
        return Text(" " * width)
    clamped = min(1.0, max(0.0, float(score)))
    eighths = round(clamped * width * 8)
    full, part = divmod(eighths, 8)
    bar = FULL * full + (EIGHTHS[part] if part else "")
    return Text(bar.ljust(width, "·"), style=score_style(clamped))


def sparkline(values: Iterable, lo: float | None = None, hi: float | None = None, min_span: float = 0.0) -> Text:
    """One glyph per value, scaled between the lowest and highest (or lo/hi); a gap where one is missing.

    Scaled to the values alone, 0.50 -> 0.51 draws ▁█, a cliff. `min_span` is the smallest range the
    glyphs stand for: a narrower range is widened around its middle, so a change much smaller than
    `min_span` moves a level or so."""
    values = list(values)
    numbers = [v for v in values if is_number(v)]
    if not numbers:
        return Text(" " * len(values))
    lo = min(numbers) if lo is None else lo
    hi = max(numbers) if hi is None else hi
    if hi - lo < min_span:
        middle = (hi + lo) / 2
        lo, hi = middle - min_span / 2, middle + min_span / 2
    out = Text()
    for v in values:
        if not is_number(v):
            out.append(" ")
        elif hi - lo < 1e-12:
            out.append(SPARKS[len(SPARKS) // 2])
        else:
            level = round((min(hi, max(lo, v)) - lo) / (hi - lo) * (len(SPARKS) - 1))
            out.append(SPARKS[level])
    return out


def delta(a, b, digits: int = 2, higher_is_better: bool = True, tie: float = 0.005) -> Text:
    """b - a with its sign, green when it went the good way, red when the bad way."""
    if not (is_number(a) and is_number(b)):
        return Text(MISSING, style="dim")
    d = b - a
    if abs(d) < tie:
        return Text(f"{0:+.{digits}f}".replace("+", "±"), style="dim")
    good = (d > 0) == higher_is_better
    return Text(f"{d:+.{digits}f}", style="green" if good else "red")


def score_pair_table(first: str, second: str):
    """A table of two answers' scores, a principle a row (add rows with `score_pair_row`)."""
    from rich.table import Table

    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="dim")
    table.add_column("principle", style="bold", no_wrap=True)
    table.add_column(f"{first} (0–1)", no_wrap=True)
    table.add_column(f"{second} (0–1)", no_wrap=True)
    table.add_column("Δ", justify="right", no_wrap=True)
    return table


def score_pair_row(table, name, a, b, change: Text, style: str = "") -> None:
    """One principle's two scores as bars with their numbers, and `change`, the signed difference."""
    table.add_row(Text(name, style=style), score_bar(a) + Text(f" {fmt(a):>4}"), score_bar(b) + Text(f" {fmt(b):>4}"),
                  change)


def labeled_grid(rows: Iterable[tuple]):
    """Label and text rows (a panel's prompt and answers), the labels bold."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(ratio=1)
    for label, text in rows:
        grid.add_row(label, text)
    return grid
