"""What every round ends with: an outside view of the policy it produced, on prompts it never trained on.

1. The held-out prompts, answered greedily (deterministic, so two rounds compare on equal terms) and
   scored by the round's own judge and by the anchor judge (the base model): if the judge's scores climb
   while the anchor's stall, the loop is rewarding itself (`anchor_gap`).
2. Movement: how far the policy moved. The mean per-token KL of its greedy answers against the base
   model (drift over the whole run) and against the round start (this round's step), and the
   share of greedy answers that changed since the previous round. A round that changes almost no
   answer did nothing a user could see, whatever its reward curve says.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

from loop.generation import generate_greedy
from loop.stats import mean
from loop.templates import policy_messages
from loop.training import diagnostics, evaluate
from loop.training.steps import Judging, RoundContext

# Greedy answers whose likelihood is read for the drift figures: enough to average over, few enough that
# the three extra forward passes stay a small part of a round.
DRIFT_ANSWERS = 48


@dataclass
class Measurement:
    eval_records: list[dict[str, Any]]
    eval_metrics: dict[str, Any]
    movement: dict[str, Any] = field(default_factory=dict)


def measure_policy(ctx: RoundContext, model, judging: Judging,
                   start_view: Callable[[], ContextManager] | None) -> Measurement:
    """The outside view of `model` (the round's output policy, its adapter active). `start_view` makes
    the shared model act as the round start; None when the round did not train (round 0)."""
    plan, progress = ctx.plan, ctx.progress
    rows = [{**plan.pool[i], "heldout_index": i} for i in ctx.split["heldout"]]
    conversations = [policy_messages(plan.templates, plan.constitution, row["prompt"]) for row in rows]
    judged = [p for p in plan.constitution.principles if not p.is_rule]
    progress.add("eval generate", total=len(rows))
    progress.add("eval judge", total=len(judged))
    answers = generate_greedy(model, ctx.tokenizer, conversations, max_new_tokens=ctx.config.grpo["max_completion_length"],
                              on_batch=lambda n: progress.advance("eval generate", n))
    records, metrics = evaluate.evaluate_heldout(
        ctx.number, answers, rows, judging.judge, plan.constitution, judging.judge_view,
        None if judging.judge_is_anchor else judging.anchor_view, on_judged=lambda: progress.advance("eval judge"))
    movement = {"changed": diagnostics.changed_share(previous_answers(ctx),
                                                     {rec["index"]: rec["completion"] for rec in records})}
    if start_view is not None:
        pairs = list(zip(conversations, answers))[:DRIFT_ANSWERS]
        base_view = judging.anchor_view
        movement["drift_base"] = token_kl(model, ctx.tokenizer, pairs, base_view)
        movement["drift_start"] = token_kl(model, ctx.tokenizer, pairs, start_view)
    return Measurement(records, metrics, movement)


def token_kl(model, tokenizer, pairs: list[tuple[list[dict], str]],
             other_view: Callable[[], ContextManager]) -> float | None:
    """The mean per-token KL(policy || other) along the policy's own greedy answers, exact over the
    vocabulary at each position: 0 while the policy still writes them as the other model would. Read on
    greedy answers, not samples, so it is a drift gauge comparable across rounds, not TRL's sampled KL."""
    from loop.judging.likelihood import response_kl

    pairs = [(messages, answer) for messages, answer in pairs if answer.strip()]
    return mean(response_kl(model, tokenizer, pairs, other_view)) if pairs else None


def previous_answers(ctx: RoundContext) -> dict[Any, str]:
    """The previous complete round's held-out answers by prompt index (none for round 0)."""
    previous = ctx.number - 1
    if previous < 0 or previous not in ctx.ledger.complete_rounds():
        return {}
    return {rec.get("index"): str(rec.get("completion", "")) for rec in ctx.ledger.evaluations(previous)}
