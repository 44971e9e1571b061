"""A self-rewarding round, read top to bottom like a recipe: in round t the frozen round-start model
M_t judges the policy's answers against every principle, TRL's GRPOTrainer trains the policy on those
self-rewards, and M_{t+1} comes out. How this departs from textbook GRPO and Self-Rewarding LMs is
listed in loop/training/round.py.
"""

from __future__ import annotations

import time
from typing import Any

from loop.config import grpo_args
from loop.dist import is_main
from loop.errors import LoopError
from loop.model import frozen_adapter_copy, no_telemetry
from loop.templates import policy_messages
from loop.training import diagnostics, evaluate
from loop.training.measure import measure_policy
from loop.training.progress import step_progress
from loop.training.steps import RoundContext, begin_round, conclude_round, make_judging, self_rewards


def grpo_round(ctx: RoundContext) -> dict[str, Any]:
    """One self-rewarding round; each numbered step is a function below, in the same order."""
    started = time.time()
    config, constitution, r, progress = ctx.config, ctx.constitution, ctx.number, ctx.progress
    no_telemetry()
    # 1. A clean folder for the round, and a record of exactly what it uses.
    slice_indices = round_slice(ctx.split, r, config.run.prompts_per_round)
    folder = begin_round(ctx, "grpo", starts_from=policy_start(r), prompt_indices=slice_indices, method="grpo")
    # 2. The prompts: a fresh, seeded slice of the pool.
    train_dataset = prompt_dataset(ctx, slice_indices)
    # 3. The model: one copy of the base weights; the policy adapter starts where round r - 1 ended.
    model = policy_model(ctx)
    # 4. GRPO settings: TRL's names straight from [grpo] (checked already by plan_run).
    args = grpo_args(config, folder / "trainer", seed=config.run.seed + r, path=ctx.toml)

    # 5. Rewards: the round's judge is the frozen round-start adapter; the anchor (adapters off) judges the
    #    held-out answers in step 6, and training completions only with [judge] anchor_on_training.
    judging = make_judging(ctx, model)
    recorder, reward_funcs, args.reward_weights, trust = self_rewards(ctx, folder, judging, model)
    trainer = grpo_trainer(ctx, model, args, train_dataset, reward_funcs, callbacks=[recorder, step_progress(progress)])
    recorder.trainer = trainer
    judging.adapter = round_start_adapter(model)

    # 6. Train, then the outside view: held-out answers scored by both judges, and how far it moved.
    with progress:
        judged = [p for p in constitution.principles if not p.is_rule]
        steps_hint = len(train_dataset) * args.num_generations // args.per_device_train_batch_size
        progress.add("train", total=max(1, steps_hint))
        progress.add("judge", total=max(1, steps_hint * len(judged)))
        trainer.train()
        # With several processes, rank 0 alone measures and publishes (loop/dist.py).
        measured = measure_policy(ctx, model, judging, start_view=judging.judge_view) if is_main() else None

    # 7. Publish: every file in the partial folder, then one rename makes the round complete. What only
    #    training saw joins the movement: each reward's spread within groups, guard cuts, cut answers.
    train_log = [row for row in trainer.state.log_history if "loss" in row or "reward" in row]
    critiques = ctx.ledger.critiques(r) if is_main() else []  # the partial folder's, as written
    result = conclude_round(ctx, folder, "grpo", measured, train_log, started, judging.judge, adapter_model=model,
                            no_spread=diagnostics.no_spread(critiques),
                            guard_cut=diagnostics.guard_cut_share(critiques),
                            clipped=evaluate.from_log(train_log, "completions/clipped_ratio"),
                            reliability=trust.reliability)

    # The base weights go on to the next round without this round's LoRA layers (not merged).
    model.unload()
    del trainer
    return result


# -------------------------------------------------------------------------------------------------
# 1. Round r trains on the r-th slice of the training order (wrapping around a small pool).
def round_slice(split: dict[str, Any], round_number: int, size: int) -> list[int]:
    order = split["train_order"]
    start = (round_number - 1) * size
    return [order[(start + i) % len(order)] for i in range(size)]


# -------------------------------------------------------------------------------------------------
# 2. The prompts: a fresh, seeded slice of the pool. Conversational rows, so TRL applies the chat
#    template; `answer`, `expect` and any other columns reach the rule checks as reward kwargs.
def prompt_dataset(ctx: RoundContext, slice_indices: list[int]):
    from datasets import Dataset

    plan = ctx.plan
    rows = []
    for slot, index in enumerate(slice_indices):
        row = dict(plan.pool[index])
        rows.append({**row, "prompt": policy_messages(plan.templates, plan.constitution, row["prompt"]),
                     "slot": slot, "pool_index": index})
    return Dataset.from_list(rows)


# -------------------------------------------------------------------------------------------------
# 3. The model: one copy of the base weights (M_0). The policy adapter starts where the previous
#    round ended (M_t = base + adapter), or fresh (B = 0, so M_1 == M_0) in round 1.
def policy_model(ctx: RoundContext):
    from peft import PeftModel

    if ctx.number > 1:
        previous = ctx.ledger.complete_dir(ctx.number - 1) / "adapter"
        return PeftModel.from_pretrained(ctx.base_model, str(previous), is_trainable=True)
    return fresh_adapter(ctx)


def policy_start(round_number: int) -> str:
    """Where round r's policy starts, in round.json's words (views read "base model" as: the round's
    judge is the anchor)."""
    return f"round {round_number - 1} adapter" if round_number > 1 else "base model"


def fresh_adapter(ctx: RoundContext):
    """A new LoRA adapter on the base weights, B = 0, so the policy starts exactly as the base model."""
    from peft import LoraConfig, get_peft_model

    lora = ctx.config.lora
    return get_peft_model(ctx.base_model, LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, task_type="CAUSAL_LM",
        target_modules=lora.target_modules if lora.target_modules == "all-linear"
        else [m.strip() for m in lora.target_modules.split(",")]))


# -------------------------------------------------------------------------------------------------
# 5. The judge's adapter, and the trainer with one reward function per principle (loop/training/rewards.py).
def round_start_adapter(model) -> str:
    """The judge's adapter, M_t. With beta > 0 TRL has copied the round-start adapter into "ref" for the
    KL term: that frozen copy is M_t. With beta == 0 there is no "ref", so we make the same frozen copy."""
    return "ref" if "ref" in model.peft_config else frozen_adapter_copy(model, "judge")


def grpo_trainer(ctx: RoundContext, model, args, train_dataset, reward_funcs: list, callbacks: list):
    from transformers import PrinterCallback
    from trl import GRPOTrainer

    try:
        trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs, args=args, train_dataset=train_dataset,
                              processing_class=ctx.tokenizer, callbacks=callbacks)
    except (ValueError, NotImplementedError) as err:
        # GRPOConfig accepted [grpo] at plan time, but the trainer checks more combinations (with the model
        # in hand): those are settings to fix too, in one line, not a traceback.
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LoopError(f"[grpo] settings rejected by TRL's GRPOTrainer: {message}", path=ctx.toml) from None
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; our progress bars and ledger say it better
    return trainer
