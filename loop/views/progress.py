"""Progress bars with ETA for a round: training steps, judging, held-out generation and judging;
then the round's summary. And one bar for a command that judges a batch at a time (judge-check).

One rich Progress per round, made by the CLI and handed to the round as its progress callback
(loop/training/progress.py), so the round never imports views. With --json (or without a console)
nothing is drawn.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class RichRoundProgress:
    """A round's progress drawn with rich: the `RoundProgress` protocol of loop/training/progress.py,
    one bar per task, notes as lines, and the round summary at the end."""

    def __init__(self, console: Console | None, round_number: int, enabled: bool = True):
        self.enabled = enabled and console is not None
        self.console = console
        self.round = round_number
        self.tasks: dict[str, int] = {}
        self.progress = Progress(
            TextColumn("[bold]round {task.fields[round]}[/] {task.description:<14}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console, disable=not self.enabled, transient=False)

    def __enter__(self) -> "RichRoundProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def add(self, name: str, total: int) -> None:
        if name in self.tasks:  # the trainer knows its step count only once training begins
            self.progress.update(self.tasks[name], total=total)
        else:
            self.tasks[name] = self.progress.add_task(name, total=total, round=self.round)

    def advance(self, name: str, amount: int = 1) -> None:
        if name in self.tasks:
            self.progress.advance(self.tasks[name], amount)

    def note(self, text: str) -> None:
        from rich.markup import escape

        if self.enabled:
            self.console.print(f"[bold]round {self.round}[/] {escape(text)}")

    def round_done(self, summary: dict[str, Any], metrics: dict[str, Any]) -> None:
        from loop.ledger.summary import summary_renderable

        if self.enabled:
            self.console.print(summary_renderable(self.round, summary, metrics))


@contextmanager
def task_bar(console: Console, description: str, total: int) -> Iterator[Callable[[int], None]]:
    """One bar with ETA while the block runs; yields `advance(n)`. On stderr it stays out of --json's
    stdout; transient, so a finished bar leaves nothing behind, and a pipe (no terminal) gets nothing."""
    progress = Progress(TextColumn(f"{description:<14}"), BarColumn(), MofNCompleteColumn(), TextColumn("elapsed"),
                        TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console,
                        transient=True, disable=not console.is_terminal)
    task = progress.add_task(description, total=total)
    with progress:
        yield lambda n=1: progress.advance(task, n)

