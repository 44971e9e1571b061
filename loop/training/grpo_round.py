"""A self-rewarding round, read top to bottom like a recipe: in round t the frozen round-start model
M_t judges the policy's answers against every principle, TRL's GRPOTrainer trains the policy on those
self-rewards, and M_{t+1} comes out. How this departs from textbook GRPO and Self-Rewarding LMs is
listed in loop/training/round.py.
"""

from __future__ import annotations

import time
from typing import Any

from loop.dist import is_main
from loop.measure import diagnostics, evaluate
from loop.measure.gate import gate_round, start_round
from loop.measure.outside_view import measure_policy
from loop.phases import phase
from loop.model import no_telemetry
from loop.training.parts import grpo_parts
from loop.training.progress import step_progress
from loop.training.steps import (RoundContext, begin_round, conclude_round, policy_model, policy_start,
                                 prompt_dataset, round_prompts, sampling_check)


def grpo_round(ctx: RoundContext) -> dict[str, Any]:
    """One self-rewarding round; each numbered step says what it does and why."""
    started = time.time()
    config, constitution, r, progress = ctx.config, ctx.constitution, ctx.number, ctx.progress
    no_telemetry()
    # 1. A clean folder for the round, and a record of exactly what it uses.
    slice_indices = round_prompts(ctx)
    folder = begin_round(ctx, "grpo", starts_from=policy_start(ctx), judge_is_anchor=start_round(ctx) == 0,
                         prompt_indices=slice_indices, method="grpo")
    # 2. The prompts: a fresh, seeded slice of the pool, with the pool's columns for the rules.
    train_dataset = prompt_dataset(ctx, slice_indices)
    # 3. The model: one copy of the base weights; the policy adapter starts where round r - 1 ended.
    model = policy_model(ctx)
    # 4. Every part of the round, built together (loop/training/parts.py): the judge is a frozen copy of
    #    the round start M_t; it reads labeled pairs first, and what it reads right sets each judged
    #    principle's weight; one reward function per principle; TRL's GRPOTrainer with [grpo]'s settings.
    parts = grpo_parts(ctx, folder, model, train_dataset, callbacks=[step_progress(progress)])
    trainer, judging = parts.trainer, parts.judging

    # 5. Train, then the outside view: held-out answers scored by both judges, and how far it moved.
    with progress:
        judged = [p for p in constitution.principles if not p.is_rule]
        args = trainer.args
        steps_hint = len(train_dataset) * args.num_generations // (args.per_device_train_batch_size
                                                                    * args.gradient_accumulation_steps)
        progress.add("train", total=max(1, steps_hint))
        progress.add("judge", total=max(1, steps_hint * len(judged)))
        with phase("training"):
            trainer.train()
        # With several processes, rank 0 alone measures and publishes (loop/dist.py).
        measured = measure_policy(ctx, model, judging, start_view=judging.start_view) if is_main() else None
        # The gate: a round worse than the best accepted one on the gate set is recorded as rejected, and
        # the next round starts from the best accepted adapter instead (loop/measure/gate.py).
        gate = gate_round(ctx, folder, model, judged=True) if is_main() else None

    # 6. Publish: every file in the partial folder, then one rename makes the round complete. What only
    #    training saw joins the movement: each reward's spread within groups, guard cuts, cut answers.
    train_log = [row for row in trainer.state.log_history if "loss" in row or "reward" in row]
    critiques = parts.rewards.recorder.records  # rank 0's: every process's records, gathered
    result = conclude_round(ctx, folder, "grpo", measured, train_log, started, judging.judge, adapter_model=model,
                            extra=sampling_check(ctx, slice_indices, critiques), gate=gate,
                            no_spread=diagnostics.no_spread(critiques),
                            guard_cut=diagnostics.guard_cut_share(critiques),
                            clipped=evaluate.from_log(train_log, "completions/clipped_ratio"),
                            reliability=parts.trust.reliability)

    # The base weights go on to the next round without this round's LoRA layers (not merged).
    model.unload()
    del trainer, parts
    return result
