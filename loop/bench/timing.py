"""What the benchmarks time with: a judge that adds up the seconds of its calls, a clock over each
training step, the process's peak memory, and the machine the numbers were measured on.
"""

from __future__ import annotations

import os
import platform
import resource
import time
from pathlib import Path
from typing import Callable

from transformers import TrainerCallback


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "device": "cpu"}
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
    return info


class TimedJudge:
    """A Judge that adds up the seconds spent in its calls (training and evaluation alike): wall time,
    and this process's CPU time, which other people's work on a shared machine disturbs far less."""

    def __init__(self, judge):
        self.judge = judge
        self.seconds = self.cpu_seconds = 0.0
        self.calls = 0

    def score(self, *args, **kwargs):
        start, cpu = time.perf_counter(), time.process_time()
        try:
            return self.judge.score(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.cpu_seconds += time.process_time() - cpu
            self.calls += 1

    def __getattr__(self, name):
        return getattr(self.judge, name)


def peak_rss_mb() -> float:
    """This process's peak resident memory since the last `reset_peak_rss()` (VmHWM on Linux; the
    lifetime peak elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> None:
    """Start a new peak: Linux resets VmHWM to the current resident size on "5" to clear_refs."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # the peak then covers the whole process, which can only overstate it


class StepClock(TrainerCallback):
    """Each training step's wall and CPU time, the judge's share of both, and the step's peak memory.
    `judge()`: the timed judge of the steps, None when nothing is judged."""

    def __init__(self, judge: Callable[[], TimedJudge | None] = lambda: None):
        self.judge = judge
        self.steps: list[dict[str, float]] = []
        self._start: tuple[float, ...] = ()

    def _now(self) -> tuple[float, ...]:
        judge = self.judge()
        judge = (judge.seconds, judge.cpu_seconds) if judge else (0.0, 0.0)
        return (time.perf_counter(), time.process_time(), *judge)

    def on_step_begin(self, args, state, control, **kwargs):
        reset_peak_rss()
        self._start = self._now()

    def on_step_end(self, args, state, control, **kwargs):
        spent = [b - a for a, b in zip(self._start, self._now())]
        self.steps.append({**dict(zip(("seconds", "cpu_seconds", "judge_seconds", "judge_cpu_seconds"), spent)),
                           "peak_rss_mb": peak_rss_mb()})


def median(values: list[float]) -> float | None:
    import statistics

    return statistics.median(values) if values else None
