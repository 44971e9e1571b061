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
from typing import Any, Callable

from transformers import TrainerCallback

from loop.stats import mean


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


def round_overrides(model: str, prompts_per_round: int | None, num_generations: int | None,
                    max_completion_length: int | None, judge_mode: str | None) -> dict[str, dict[str, Any]]:
    """The benchmark round's plan overrides: round 1 is a GRPO round (no warm start); unset knobs keep
    the shipped defaults."""
    overrides: dict[str, dict[str, Any]] = {"model": {"name": model}, "run": {}, "grpo": {}, "judge": {},
                                            "train": {"warm_start": False}}
    if prompts_per_round:
        overrides["run"]["prompts_per_round"] = prompts_per_round
    if num_generations:
        overrides["grpo"]["num_generations"] = num_generations
    if max_completion_length:
        overrides["grpo"]["max_completion_length"] = max_completion_length
    if judge_mode:
        overrides["judge"]["mode"] = judge_mode
    return overrides


def bench_round(model: str = "embedded", prompts_per_round: int | None = None, num_generations: int | None = None,
                max_completion_length: int | None = None, judge_mode: str | None = None) -> dict[str, Any]:
    """Run one self-rewarding round in a temporary workspace; unset knobs keep the shipped defaults.

    A run starts with round 0 (the base model measured) and, by default, a warm start (an SFT round,
    no judge): the benchmark runs round 0 untimed, then times round 1 as a GRPO round ([train]
    warm_start off), which judges and trains exactly as any later self-rewarding round does."""
    from loop.judging.judge import Judge
    from loop.model import load_model
    from loop.training.round import plan_run, run_rounds
    from loop.workspace import init_workspace

    overrides = round_overrides(model, prompts_per_round, num_generations, max_completion_length, judge_mode)
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
        "reward": summary.get("reward"),
    }


# ---- loop bench step --------------------------------------------------------------------------
# One training step, timed twice on the same model, prompts and batch: as a plain TRL GRPO step with
# a constant reward, and as loop's self-judged step. Both trainers are built from the same plan
# (peft/LoRA setup, GRPOConfig, seed), so they sample the same completions in their first step; each
# runs warmup + repeats steps (one prompt's group a step, as in a round) and the medians are kept.

class ConstantReward:
    """The plain step's reward: the same for every completion, so nothing is judged."""

    __name__ = "constant"

    def __call__(self, prompts, completions, **kwargs):
        return [1.0] * len(completions)


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


def bench_plan(workspace: str | Path | None, overrides: dict[str, dict[str, Any]], tmp: Path):
    """(plan, where it comes from): the workspace's plan when `workspace` is one, the shipped defaults
    otherwise (initialized in `tmp`). Nothing is written to the workspace."""
    from loop.config import CONFIG_FILE
    from loop.training.round import plan_run
    from loop.workspace import Workspace, init_workspace

    if workspace is not None and (Path(workspace) / CONFIG_FILE).exists():
        ws, source = Workspace(Path(workspace)), str(Path(workspace).resolve())
    else:
        ws, source = init_workspace(tmp / "ws"), "shipped defaults"
    return plan_run(ws, overrides, run_name="bench"), source


def step_prompts(plan, n: int) -> list[int]:
    """n pool indices, seeded: the prompts of the benchmark's steps (the same in every process)."""
    import random

    order = list(range(len(plan.pool)))
    random.Random(plan.config.run.seed).shuffle(order)
    return [order[i % len(order)] for i in range(n)]


def timed_steps(plan, model, tokenizer, model_id: str, indices: list[int], judged: bool, folder: Path,
                weights: str = "declared") -> tuple[StepClock, dict[str, float]]:
    """Train one trainer for len(indices) steps (one prompt's group each); returns its clock and the
    weights it trained with.

    judged: loop's reward functions with the round judge (the frozen round-start adapter), as a round
    builds them; otherwise one constant reward. weights: "declared", the constitution's weights as
    written (every judged principle judged); "measured", the weights a first round would train with
    (the judge reads the labeled pairs first, as round 0 does, untimed; a principle it reads at chance
    gets weight 0 and is not judged)."""
    from loop.judging.judge import Judge
    from loop.training.judge_trust import Trust
    from loop.training.parts import grpo_parts
    from loop.training.steps import RoundContext, policy_model, prompt_dataset

    timed: list[TimedJudge] = []  # the judge the round's parts build, timed

    def make_judge(*args, **kwargs):
        timed.append(TimedJudge(Judge(*args, **kwargs)))
        return timed[-1]

    # Round 1 of a run that has no held-out split: the policy is a fresh adapter (B = 0), as in a round.
    ctx = RoundContext(plan, {}, model, tokenizer, model_id, 1, make_judge=make_judge)
    policy = policy_model(ctx)
    dataset = prompt_dataset(ctx, indices)
    clock = StepClock(lambda: timed[-1] if timed else None)
    used = {p.id: p.weight for p in plan.constitution.principles}
    if judged:
        # Declared: a step's cost with every judged principle judged (a round's reliability reading can zero
        # some, and it is per round, not per step). Measured: trust None, so the pairs are read as a round does.
        folder.mkdir(parents=True, exist_ok=True)
        parts = grpo_parts(ctx, folder, policy, dataset, trust=Trust(weights=used) if weights == "declared" else None,
                           callbacks=[clock])
        trainer, used = parts.trainer, dict(parts.trust.weights)
    else:
        trainer = plain_trainer(ctx, policy, dataset, folder, [clock])
    try:
        trainer.train()
    finally:
        policy.unload()  # the base weights go on to the next trainer without these LoRA layers
    return clock, used


def plain_trainer(ctx, policy, dataset, folder: Path, callbacks: list):
    """TRL's GRPOTrainer as it comes, with a constant reward: the step loop's judged step is measured against."""
    from transformers import PrinterCallback
    from trl import GRPOTrainer

    from loop.config import grpo_args

    args = grpo_args(ctx.config, folder / "trainer", seed=ctx.config.run.seed + 1, path=ctx.toml)
    trainer = GRPOTrainer(model=policy, reward_funcs=[ConstantReward()], args=args, train_dataset=dataset,
                          processing_class=ctx.tokenizer, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)
    return trainer


def median(values: list[float]) -> float | None:
    import statistics

    return statistics.median(values) if values else None


def bench_step(workspace: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None,
               repeats: int = 3, warmup: int = 1, inference_rss: Callable[[], float] | None = None,
               weights: str = "declared") -> dict[str, Any]:
    """Time the plain and the self-judged GRPO step (medians of `repeats` steps after `warmup`), and the
    self-judged step's peak memory against `inference_rss()`, an inference-only baseline that must be
    measured in another process (a process's peak covers everything it ever held). `weights`: see
    timed_steps."""
    from loop.model import load_model, no_telemetry

    no_telemetry()
    with tempfile.TemporaryDirectory(prefix="loop-bench-") as tmp:
        plan, source = bench_plan(workspace, overrides or {}, Path(tmp))
        config = plan.config
        model, tokenizer, info = load_model(config.model.name, config.model.dtype)
        indices = step_prompts(plan, warmup + repeats)
        clocks = {kind: timed_steps(plan, model, tokenizer, info.name, indices, kind == "judged", Path(tmp) / kind,
                                    weights) for kind in ("plain", "judged")}
    used = clocks["judged"][1]
    plain, judged = (clocks[k][0].steps[warmup:] for k in ("plain", "judged"))
    plain_s, plain_cpu = (median([s[key] for s in plain]) for key in ("seconds", "cpu_seconds"))
    step_s, step_cpu, judge_s, judge_cpu = (median([s[key] for s in judged]) for key in
                                            ("seconds", "cpu_seconds", "judge_seconds", "judge_cpu_seconds"))
    peak = max(s["peak_rss_mb"] for s in judged)
    inference = inference_rss() if inference_rss else None
    judged_ids = [p.id for p in plan.constitution.principles if not p.is_rule and used.get(p.id)]
    return {
        "model": config.model.name,
        "settings": {"num_generations": config.grpo["num_generations"],
                     "max_completion_length": config.grpo["max_completion_length"], "judge_mode": config.judge.mode,
                     "constitution": plan.constitution.version, "judged_principles": judged_ids,
                     "weights": weights, "effective_weights": used,
                     "workspace": source,
                     "repeats": repeats, "warmup": warmup},
        "plain_step_s": round(plain_s, 2),
        "step_s": round(step_s, 2),
        "ratio": round(step_s / plain_s, 2),
        "judge_s": round(judge_s, 2),
        "judge_share_of_round": round(judge_s / step_s, 3),
        "peak_rss_mb": round(peak),
        "plain_peak_rss_mb": round(max(s["peak_rss_mb"] for s in plain)),
        "inference_rss_mb": None if inference is None else round(inference),
        "memory_ratio": None if not inference else round(peak / inference, 2),
        "plain_steps_s": [round(s["seconds"], 2) for s in plain],
        "steps_s": [round(s["seconds"], 2) for s in judged],
        # The same in CPU seconds of this process: on a machine others are using, wall time swings with
        # their load; CPU time much less (it still moves with memory bandwidth and caches).
        "plain_step_cpu_s": round(plain_cpu, 2),
        "step_cpu_s": round(step_cpu, 2),
        "cpu_ratio": round(step_cpu / plain_cpu, 2),
        "judge_cpu_s": round(judge_cpu, 2),
    }


def bench_inference(workspace: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None,
                    repeats: int = 3, warmup: int = 1) -> dict[str, Any]:
    """Inference only: load the model and sample the benchmark's batches (each step's prompt,
    num_generations completions of max_completion_length tokens) as TRL generates them; peak memory
    of this process and the median seconds per batch."""
    import torch

    from loop.generation import encode_chats, left_padded
    from loop.model import load_model
    from loop.templates import policy_messages

    with tempfile.TemporaryDirectory(prefix="loop-bench-") as tmp:
        plan, _ = bench_plan(workspace, overrides or {}, Path(tmp))
    config = plan.config
    model, tokenizer, _ = load_model(config.model.name, config.model.dtype)
    model.eval()
    n, tokens = config.grpo["num_generations"], config.grpo["max_completion_length"]
    seconds = []
    for index in step_prompts(plan, warmup + repeats):
        messages = policy_messages(plan.templates, plan.constitution, plan.pool[index]["prompt"])
        ids, mask = left_padded(encode_chats(tokenizer, [messages]) * n, tokenizer.pad_token_id)
        start = time.perf_counter()
        with torch.no_grad():
            model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=tokens, do_sample=True,
                           temperature=config.grpo.get("temperature", 1.0), top_p=1.0, top_k=None,
                           pad_token_id=tokenizer.pad_token_id)
        seconds.append(time.perf_counter() - start)
    return {"model": config.model.name, "settings": {"num_generations": n, "max_completion_length": tokens},
            "generate_s": round(median(seconds[warmup:]), 2),
            # VmHWM, not ru_maxrss: a process started by fork + exec inherits its parent's ru_maxrss.
            "peak_rss_mb": round(peak_rss_mb())}
