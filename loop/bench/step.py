"""`loop bench step`: one training step, timed twice on the same model, prompts and batch: as a plain
TRL GRPO step with a constant reward, and as loop's self-judged step. Both trainers are built from the
same plan (peft/LoRA setup, GRPOConfig, seed), so they sample the same completions in their first
step; each runs warmup + repeats steps (one prompt's group a step; a round's steps average several) and
the means are kept. `loop bench inference` is the step's baseline: the same batches sampled without
training, measured in a process of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from loop.bench.timing import StepClock, TimedJudge, median, peak_rss_mb
from loop.stats import mean
from loop.errors import LoopError


class ConstantReward:
    """The plain step's reward: the same for every completion, so nothing is judged."""

    __name__ = "constant"

    def __call__(self, prompts, completions, **kwargs):
        return [1.0] * len(completions)


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


def one_group_steps(overrides: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    """The overrides with every step one prompt's group, sampled, judged and trained once ([grpo]
    gradient_accumulation_steps = 1, num_iterations = 1), in the plain and the judged trainer alike: a
    round's steps average several groups, which would give the two trainers steps of different sizes,
    and later passes that only train would hide the judge."""
    overrides = dict(overrides or {})
    overrides["grpo"] = {**overrides.get("grpo", {}), "num_iterations": 1, "gradient_accumulation_steps": 1}
    return overrides


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

    from loop.trl_tables import grpo_args

    args = grpo_args(ctx.config, folder / "trainer", seed=ctx.config.run.seed + 1, path=ctx.toml)
    trainer = GRPOTrainer(model=policy, reward_funcs=[ConstantReward()], args=args, train_dataset=dataset,
                          processing_class=ctx.tokenizer, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)
    return trainer


def bench_step(workspace: str | Path | None = None, overrides: dict[str, dict[str, Any]] | None = None,
               repeats: int = 3, warmup: int = 1, inference_rss: Callable[[], float] | None = None,
               weights: str = "declared") -> dict[str, Any]:
    """Time the plain and the self-judged GRPO step (means of `repeats` steps after `warmup`), and the
    self-judged step's peak memory against `inference_rss()`, an inference-only baseline that must be
    measured in another process (a process's peak covers everything it ever held). `weights`: see
    timed_steps."""
    from loop.model import load_model, no_telemetry

    no_telemetry()
    with tempfile.TemporaryDirectory(prefix="loop-bench-") as tmp:
        plan, source = bench_plan(workspace, one_group_steps(overrides), Path(tmp))
        config = plan.config
        model, tokenizer, info = load_model(config.model.name, config.model.dtype)
        indices = step_prompts(plan, warmup + repeats)
        clocks = {kind: timed_steps(plan, model, tokenizer, info.name, indices, kind == "judged", Path(tmp) / kind,
                                    weights) for kind in ("plain", "judged")}
    used = clocks["judged"][1]
    plain, judged = (clocks[k][0].steps[warmup:] for k in ("plain", "judged"))
    # Means, not medians: under rules first the judge reads only some steps' answers, and a median step
    # may be one it did not read; the mean over the same prompts is what a round of them costs.
    plain_s, plain_cpu = (mean([s[key] for s in plain]) for key in ("seconds", "cpu_seconds"))
    step_s, step_cpu, judge_s, judge_cpu = (mean([s[key] for s in judged]) for key in
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


def inference_in_another_process(workspace: str, flags: list[str]) -> float:
    """Peak resident memory (MB) of `loop bench inference` (with the step's `flags`) run as its own
    process: a process's peak covers everything it ever held, so the baseline cannot be measured beside
    the training step."""
    command = [sys.executable, "-m", "loop", "-C", workspace, "bench", "inference", "--json", *flags]
    # The same loop as this process, wherever it is imported from (a checkout on PYTHONPATH or an install).
    package_root = str(Path(__file__).resolve().parents[2])
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": path})
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise LoopError(f"the inference baseline (`{' '.join(command[2:])}`) failed: {last}")
    return json.loads(done.stdout)["peak_rss_mb"]
