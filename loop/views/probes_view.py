"""`loop probes`: each family's pass rate with its 95 % interval, the paired change from round 0, and
how fluent the answers were; `loop probes --compare A B`: two rounds' recorded answers side by side, per
family, with the paired change. Plain values in (loop/measure/probes.py computes them), a table out."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from loop.views.charts import MISSING


def _share(value) -> str:
    return MISSING if value is None else f"{value:.0%}"


def _change(change: dict) -> tuple[Text, str]:
    """The change and its interval, green when the interval is above 0, red when below."""
    style = "green" if change["low"] > 0 else "red" if change["high"] < 0 else "dim"
    return Text(f"{change['delta']:+.2f}", style=style), f"[{change['low']:+.2f}, {change['high']:+.2f}]"


def probes_table(stats: dict[str, dict], changes: dict[str, dict], fluency: dict[str, dict]) -> Table:
    """One row per family. `changes` may be empty (no baseline): the change columns are left out."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("family", no_wrap=True)
    table.add_column("pass", justify="right", no_wrap=True)
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    if changes:
        table.add_column("change", justify="right", no_wrap=True)
        table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("loops", justify="right", no_wrap=True)
    table.add_column("cut", justify="right", no_wrap=True)
    table.add_column("words", justify="right", no_wrap=True)
    for family, row in stats.items():
        cells: list = [family, f"{row['rate']:.2f}", f"[{row['low']:.2f}, {row['high']:.2f}]", str(row["n"])]
        if changes:
            cells += list(_change(changes[family])) if family in changes else [MISSING, ""]
        flow = fluency.get(family, {})
        cells += [_share(flow.get("repeats")), _share(flow.get("cut")),
                  MISSING if flow.get("words") is None else f"{flow['words']:.0f}"]
        table.add_row(*cells)
    return table


def render_probes(console: Console, stats: dict[str, dict], changes: dict[str, dict], fluency: dict[str, dict],
                  title: str, baseline: str = "round 0", max_new_tokens: int | None = None) -> None:
    """The title, the table, and a legend (as wide as the console, not the table)."""
    console.print(Text(title, style="bold"))
    console.print(probes_table(stats, changes, fluency))
    limit = f"{max_new_tokens} tokens" if max_new_tokens else "the length limit"
    legend = (f"pass: the share (0–1) meeting the family's criterion (README, Probes), with its 95 % interval; "
              f"n: probes answered. loops: answers that repeat a sentence or phrase; cut: answers stopped by "
              f"{limit}; words: mean words per answer.")
    if changes:
        legend += f" change: from {baseline} on the same prompts, green or red when its interval leaves 0."
    console.print(Text(legend, style="dim"))


def comparison_table(a: int, b: int, stats_a: dict[str, dict], stats_b: dict[str, dict],
                     changes: dict[str, dict]) -> Table:
    """One row per family either round answered: each round's pass rate and n, and the change from round
    `a` to round `b` on the prompts both answered, with its 95 % interval and the pairs it rests on."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("family", no_wrap=True)
    for n in (a, b):
        table.add_column(f"r{n}", justify="right", no_wrap=True)
        table.add_column("n", justify="right", no_wrap=True)
    table.add_column("change", justify="right", no_wrap=True)
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("pairs", justify="right", no_wrap=True)
    for family in dict.fromkeys([*stats_a, *stats_b]):
        cells: list = [family]
        for stats in (stats_a, stats_b):
            row = stats.get(family)
            cells += [f"{row['rate']:.2f}", str(row["n"])] if row else [MISSING, ""]
        change = changes.get(family)
        cells += [*_change(change), str(change["n"])] if change else [MISSING, "", "0"]
        table.add_row(*cells)
    return table


def render_comparison(console: Console, title: str, a: int, b: int, stats_a: dict[str, dict],
                      stats_b: dict[str, dict], changes: dict[str, dict], means: tuple[float, float]) -> None:
    """The title, the table, each round's mean pass rate over families (how the gate ranks rounds), a legend."""
    console.print(Text(title, style="bold"))
    console.print(comparison_table(a, b, stats_a, stats_b, changes))
    console.print(f"mean over families: round {a} {means[0]:.2f}, round {b} {means[1]:.2f}")
    console.print(Text(f"r{a}, r{b}: each round's pass rate (0–1) on the probes it answered, n of them; change: "
                       f"round {b} less round {a} on the same prompts (pairs), with its paired 95 % interval, "
                       "green or red when the interval leaves 0.", style="dim"))


@contextmanager
def answering(console: Console | None, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar while the probes are answered; yields the callback that advances it (by n answers).
    Without a console (--json) nothing is drawn."""
    progress = Progress(TextColumn("answering probes"), BarColumn(), MofNCompleteColumn(), TextColumn("eta"),
                        TimeRemainingColumn(), TextColumn("elapsed"), TimeElapsedColumn(), console=console,
                        disable=console is None, transient=True)
    task = progress.add_task("probes", total=total)
    with progress:
        yield lambda n: progress.advance(task, n)
