"""`loop bench round`: how long one self-rewarding round takes, where the time goes, and how much
memory it holds.

The round runs for real (the same code as `loop run`) in a throwaway workspace with the shipped
defaults; the judge is wrapped to time its calls, so the judge's share of a training step is
measured, not estimated. Peak memory is the process's maximum resident set size.
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from loop.bench.timing import TimedJudge
from loop.stats import mean


def bench_round(model: str = "embedded", overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run one self-rewarding round in a temporary workspace; settings `overrides` does not name keep the
    shipped defaults.

    A run starts with round 0 (the base model measured) and, by default, a warm start (an SFT round,
    no judge): the benchmark runs round 0 untimed, then times round 1 as a GRPO round ([train]
    warm_start off), which judges and trains exactly as any later self-rewarding round does."""
    from loop.judging.judge import Judge
    from loop.model import load_model
    from loop.training.round import plan_run, run_rounds
    from loop.workspace import init_workspace

    overrides = {**(overrides or {}), "model": {"name": model}}
    overrides["train"] = {**overrides.get("train", {}), "warm_start": False}  # round 1 is a GRPO round
    start = time.perf_counter()
    load_model(model)  # builds the embedded cache if needed, so the round below times a warm load
    cache_seconds = time.perf_counter() - start
    timed: list[TimedJudge] = []

    def make_judge(*args, **kwargs):
        timed.append(TimedJudge(Judge(*args, **kwargs)))
        return timed[-1]

    with tempfile.TemporaryDirectory(prefix="loop-bench-") as tmp:
        ws = init_workspace(Path(tmp) / "ws")
        plan = plan_run(ws, overrides)
        run_rounds(plan, 0, make_judge=make_judge)  # round 0, untimed: the baseline every run starts with
        timed.clear()
        start = time.perf_counter()
        summary = run_rounds(plan, 1, make_judge=make_judge)[0]
        round_seconds = time.perf_counter() - start
        metrics = plan.ledger.metrics(1)
    steps = [row for row in metrics["train"] if "step_time" in row]
    step_seconds = mean(row["step_time"] for row in steps)
    judge = timed[-1]
    train_judge_seconds = judge.seconds  # includes the held-out evaluation's judging too
    config = plan.config
    return {
        "model": model,
        "settings": {"prompts_per_round": config.run.prompts_per_round, "heldout_size": config.run.heldout_size,
                     "num_generations": config.grpo["num_generations"],
                     "max_completion_length": config.grpo["max_completion_length"], "judge_mode": config.judge.mode},
        "round_kind": summary.get("kind"),
        "round_seconds": round(round_seconds, 1),
        "first_model_load_seconds": round(cache_seconds, 1),
        "train_steps": len(steps),
        "seconds_per_step": None if step_seconds is None else round(step_seconds, 2),
        "judge_seconds": round(train_judge_seconds, 1),
        "judge_share_of_round": round(train_judge_seconds / round_seconds, 3),
        "judge_calls": judge.calls,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        # Where the round's seconds went (loop/phases.py), as the round recorded them in metrics.json.
        "phases": metrics.get("phases", {}),
        "reward": summary.get("reward"),
    }
