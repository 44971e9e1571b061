"""Progress bars with ETA for a round: training steps, judging, held-out generation and judging.

One rich Progress per round. It is also a TrainerCallback so training steps advance it. With
--json (or when quiet) every method is a no-op and nothing is drawn.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback


class RoundProgress(TrainerCallback):
    def __init__(self, console: Console | None, round_number: int, enabled: bool = True):
        self.enabled = enabled and console is not None
        self.round = round_number
        self.tasks: dict[str, int] = {}
        self.progress = Progress(
            TextColumn("[bold]round {task.fields[round]}[/] {task.description:<14}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=console, disable=not self.enabled, transient=False)

    def __enter__(self) -> "RoundProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def add(self, name: str, total: int) -> None:
        self.tasks[name] = self.progress.add_task(name, total=total, round=self.round)

    def advance(self, name: str, amount: int = 1) -> None:
        if name in self.tasks:
            self.progress.advance(self.tasks[name], amount)

    # ---- TrainerCallback: the trainer knows its step count only once training begins -------------
    def on_train_begin(self, args, state, control, **kwargs):
        self.progress.update(self.tasks["train"], total=state.max_steps)

    def on_step_end(self, args, state, control, **kwargs):
        self.advance("train")
