"""What a round tells whoever watches it, through a callback: training never imports views.

`run_rounds(plan, n, progress=...)` takes a factory: called with a round number, it returns that
round's progress, an object with the methods of `RoundProgress`. The CLI builds one from
loop/views/progress.py (rich bars with ETA, then the round summary); without one a round is silent.
"""

from __future__ import annotations

from typing import Any, Protocol


class RoundProgress(Protocol):
    """The round's progress: tasks with a total, advanced as the work goes, and the round's end."""

    def __enter__(self) -> Any: ...  # the tasks are shown from here ...

    def __exit__(self, *exc) -> Any: ...  # ... to here (training and the held-out evaluation)

    def add(self, name: str, total: int) -> None:
        """A task of `total` steps; added again under the same name, the task gets the new total."""

    def advance(self, name: str, amount: int = 1) -> None: ...

    def round_done(self, summary: dict[str, Any], metrics: dict[str, Any]) -> None:
        """The round is published: its flat summary (with its warning lines) and its metrics.json."""


class Silent:
    """The progress of a round nobody watches (`loop run --json`, tests, benchmarks)."""

    def __init__(self, round_number: int = 0):
        self.round = round_number

    def __enter__(self) -> "Silent":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add(self, name: str, total: int) -> None:
        pass

    def advance(self, name: str, amount: int = 1) -> None:
        pass

    def round_done(self, summary: dict[str, Any], metrics: dict[str, Any]) -> None:
        pass


def step_progress(progress: RoundProgress):
    """A TrainerCallback that advances the "train" task once per optimizer step (transformers is
    imported here, when a round starts, not when this module loads)."""
    from transformers import TrainerCallback

    class StepProgress(TrainerCallback):
        # The trainer knows its step count only once training begins.
        def on_train_begin(self, args, state, control, **kwargs):
            progress.add("train", state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            progress.advance("train")

    return StepProgress()
