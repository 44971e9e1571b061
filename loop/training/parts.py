"""The parts of a self-rewarding round, built together in one place: the policy, the judge (its own
frozen copy of the round-start policy, M_t), how far the judge is trusted, the rewards with their
recorder, and, for GRPO, the trainer. GRPO and DPO rounds and `loop bench step` all build them here,
so a reader sees in one function what a round is made of, and nothing is finished after the fact.

The steps, in order, each named for all it does:
1. `judge_copy`: the judge's own frozen copy of the round-start adapter, made before anything trains,
   so M_t judges whatever the trainer does with its own reference.
2. `assess_trust`: the judge reads labeled pairs (loop/training/judge_trust.py) and records them;
   each judged principle's measured reliability sets its weight.
3. `self_rewards`: one reward function per principle with TRL's signature, and the recorder they
   report to.
4. `grpo_parts`: all of the above and TRL's GRPOTrainer (loop/training/trainer.py), given the recorder
   and the KL reference at construction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from loop.dist import on_main
from loop.generation import stop_ids
from loop.model import frozen_adapter_copy
from loop.training.rules_first import RulesFirstReward
from loop.training.steps import Judging, RoundContext

JUDGE_ADAPTER = "judge"  # the name of the judge's frozen copy of the round-start policy


@dataclass
class Rewards:
    """A self-rewarding round's reward functions (one per principle, constitution order), the weights
    they are summed with, the recorder they report every score to, and, with [train] aggregation =
    "rules_first", the one function that combines them (loop/training/rules_first.py)."""

    funcs: list
    weights: list[float]
    recorder: Any  # loop.training.recorder.CritiqueRecorder
    combined: Any = None  # loop.training.rules_first.RulesFirstReward, or None: TRL sums `funcs`

    def for_trl(self) -> tuple[list, list[float]]:
        """(reward_funcs, reward_weights) as GRPOTrainer takes them."""
        return ([self.combined], [1.0]) if self.combined is not None else (self.funcs, self.weights)


@dataclass
class RoundParts:
    """What a self-rewarding round is made of; `trainer` is None where the trainer needs data the round
    makes first (a DPO round's pairs)."""

    model: Any
    judging: Judging
    trust: Any  # loop.training.judge_trust.Trust
    rewards: Rewards
    trainer: Any = None


# -------------------------------------------------------------------------------------------------
def judge_copy(ctx: RoundContext, model, folder: Path | None = None) -> Judging:
    """1. The round's judge: the frozen round-start adapter, copied before training moves the policy; with
    [judge] adapter_every, a judging adapter stacked on it (loop/training/judging_adapter.py), which was
    trained without few-shots and so judges without them."""
    from loop.judging.judge import Judge
    from loop.training.judging_adapter import attach

    adapter = frozen_adapter_copy(model, JUDGE_ADAPTER)
    judging_adapter = attach(ctx, model, adapter, folder) if folder is not None else None
    make = lambda **overrides: (ctx.make_judge or Judge)(  # noqa: E731
        model, ctx.tokenizer, ctx.constitution, ctx.plan.templates, ctx.config.judge, model_id=ctx.model_id, **overrides)
    if judging_adapter is None:
        return Judging(make(), model, adapter=adapter)
    return Judging(make(few_shot=False), model, adapter=adapter, judging_adapter=judging_adapter, anchor_judge=make())


def assess_trust(ctx: RoundContext, folder: Path, judging: Judging):
    """2. The judge reads the labeled pairs while it is M_t, and the round records its reliability and
    the weights it earns (reliability.jsonl, round.json). Rank 0 alone reads and records; every process
    trains with its weights."""
    from loop.training import judge_trust

    with judging.judge_view():
        return on_main(judge_trust.assess, ctx.plan, ctx.number, folder, judging.judge, judging.model, ctx.progress,
                       judging.judging_adapter)


def self_rewards(ctx: RoundContext, folder: Path, judging: Judging, weights: dict[str, float]) -> Rewards:
    """3. One reward function per principle (loop/training/rewards.py) at the given weights, reporting to
    the round's critiques.jsonl. The anchor judges training answers only with [judge] anchor_on_training."""
    from loop.training.recorder import CritiqueRecorder
    from loop.training.rewards import build_rewards

    recorder = CritiqueRecorder(folder / "critiques.jsonl", ctx.number, weights,
                                stop_ids=stop_ids(judging.model, ctx.tokenizer),
                                on_judged=lambda: ctx.progress.advance("judge"))
    anchor_view = judging.anchor_view if ctx.config.judge.anchor_on_training else None
    funcs, ordered = build_rewards(ctx.constitution, judging.judge, recorder, judging.judge_view, anchor_view,
                                   weights=weights, anchor_judge=judging.anchor_judge)
    combined = None
    if ctx.config.train.aggregation == "rules_first":
        combined = RulesFirstReward(ctx.constitution.principles, funcs, weights, recorder)
    return Rewards(funcs, ordered, recorder, combined)


def rewarded_parts(ctx: RoundContext, folder: Path, model, trust=None) -> RoundParts:
    """Steps 1-3 on the round's policy; `trust` given (a benchmark's declared weights): no pairs read."""
    judging = judge_copy(ctx, model, folder)
    trust = trust if trust is not None else assess_trust(ctx, folder, judging)
    return RoundParts(model, judging, trust, self_rewards(ctx, folder, judging, trust.weights))


def kl_reference(ctx: RoundContext) -> Path | str | None:
    """What the round's KL term holds the policy near ([train] kl_reference): the warm start's saved
    adapter, "base" (no adapter), or None for the round start (TRL's own copy of it)."""
    setting, train = ctx.config.train.kl_reference, ctx.config.train
    if setting == "base":
        return "base"
    if setting == "warm_start" and train.warm_start and ctx.number > 2:
        return ctx.ledger.complete_dir(1) / "adapter"
    return None


def grpo_parts(ctx: RoundContext, folder: Path, model, dataset, *, trust=None,
               callbacks: list | None = None) -> RoundParts:
    """4. Every part of a GRPO round, the trainer last, built whole."""
    from loop.trl_tables import grpo_args
    from loop.errors import LoopError
    from loop.training.replay import replay_for
    from loop.training.trainer import SelfRewardingGRPOTrainer
    from transformers import PrinterCallback

    parts = rewarded_parts(ctx, folder, model, trust)
    funcs, weights = parts.rewards.for_trl()
    # Rules first: the combined reward is already on the scale the order needs, so TRL only centers it
    # within each group (scaling by the group's spread would blow a judged tie-break up to full size, and
    # normalize_then_sum z-scores each function whatever scale_rewards says).
    decided = {"scale_rewards": "none", "multi_objective_aggregation": "sum_then_normalize"} \
        if parts.rewards.combined is not None else {}
    args = grpo_args(ctx.config, folder / "trainer", seed=ctx.config.run.seed + ctx.number, path=ctx.toml,
                     prompts=len(dataset), reward_weights=weights, **decided)
    try:
        trainer = SelfRewardingGRPOTrainer(
            model=model, reward_funcs=funcs, args=args, train_dataset=dataset,
            processing_class=ctx.tokenizer, callbacks=callbacks or [], recorder=parts.rewards.recorder,
            kl_reference=kl_reference(ctx), greedy_member=ctx.config.train.greedy_member, replay=replay_for(ctx))
    except (ValueError, NotImplementedError) as err:
        # GRPOConfig accepted [grpo] at plan time, but the trainer checks more combinations (with the model
        # in hand): those are settings to fix too, in one line, not a traceback.
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LoopError(f"[grpo] settings rejected by TRL's GRPOTrainer: {message}", path=ctx.toml) from None
    trainer.remove_callback(PrinterCallback)  # raw log dicts; our progress bars and ledger say it better
    return replace(parts, trainer=trainer)
