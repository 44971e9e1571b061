"""What every round ends with: an outside view of the policy it produced, on prompts it never trained on.

1. The held-out prompts, answered greedily (deterministic, so two rounds compare on equal terms) and
   scored by the round's own judge and by the anchor judge (the base model): if the judge's scores climb
   while the anchor's stall, the loop is rewarding itself (`anchor_gap`).
2. The objective probes (loop/probes.py): answers no judge decides, passed or failed by a rule of their
   family, the same subset every round of a run, so each round's change from round 0 is paired on the
   same prompts (loop/measure/probes.py). Probes decide efficacy; the self-judge cannot flatter them.
3. Movement: how far the policy moved. The mean per-token KL of its greedy answers against the base
   model (drift over the whole run) and against the round start (this round's step), and the share of
   greedy answers (held-out and probes) that changed since the previous round. A round that changes
   almost no answer did nothing a user could see, whatever its reward curve says.

Answers and judgments whose inputs did not change are read back from the workspace's content cache
(loop/cache.py); what was read back and what was measured, per kind, is in metrics.json "cache".

Measurement sits below training: a round recipe (loop/training/) calls `measure_policy` with its
context and its judges, and nothing here imports loop.training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ContextManager

from loop.cache import workspace_cache
from loop.judging.readings import reading_key
from loop.ledger import read_jsonl
from loop.measure import diagnostics, evaluate
from loop.measure.probes import (RECORDS_FILE, answer_probes, probe_changes, probe_fluency, probe_stats,
                                 reused_answers)
from loop.phases import phase, timed
from loop.stats import mean
from loop.templates import policy_messages

# Greedy answers whose likelihood is read for the drift figures: enough to average over, few enough that
# the extra forward passes stay a small part of a round.
DRIFT_ANSWERS = 48


@dataclass
class Measurement:
    eval_records: list[dict[str, Any]]
    eval_metrics: dict[str, Any]
    probe_records: list[dict[str, Any]]
    probe_metrics: dict[str, Any]
    movement: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, dict] = field(default_factory=dict)  # kind -> {hits, misses}: read back, and measured

    def metrics(self, train_log: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
        """metrics.json of the round (without its summary, which publish adds)."""
        return {"train": train_log, "eval": self.eval_metrics, **self.probe_metrics, "movement": self.movement,
                "cache": self.cache, **more}


@timed("held-out")
def measure_policy(ctx, model, judging, start_view: Callable[[], ContextManager] | None) -> Measurement:
    """The outside view of `model` (the round's output policy, its adapter active). `ctx` and `judging`:
    the round's RoundContext and Judging (loop/training/steps.py). `start_view` makes the shared model
    act as the round start; None when the round did not train (round 0)."""
    plan, progress, config = ctx.plan, ctx.progress, ctx.config
    cache = workspace_cache(plan.workspace, config, progress.note)
    rows = [{**plan.pool[i], "heldout_index": i} for i in ctx.split["heldout"]]
    probes = plan.probes.subset(config.probes.per_round, config.run.seed)
    conversation = lambda prompt: policy_messages(plan.templates, plan.constitution, prompt)  # noqa: E731
    judged = [p for p in plan.constitution.principles if not p.is_rule]
    progress.add("eval generate", total=len(rows) + len(probes))
    progress.add("eval judge", total=len(judged))
    advance = lambda n: progress.advance("eval generate", n)  # noqa: E731
    limit = config.grpo["max_completion_length"]
    answers = reused_answers(model, ctx.tokenizer, [conversation(row["prompt"]) for row in rows], limit, cache,
                             "heldout", on_batch=advance)
    with phase("probes"):
        probe_records = answer_probes(model, ctx.tokenizer, probes, conversation, config.probes.max_new_tokens,
                                      batch_size=config.probes.batch_size, on_batch=advance, cache=cache)
    reading = lambda pid, judge: reading_key(plan, judge, judging.model,  # noqa: E731
                                             plan.constitution.get(pid), cache)
    records, metrics = evaluate.evaluate_heldout(
        ctx.number, [a.text for a in answers], rows, judging.judge, plan.constitution, judging.judge_view,
        None if judging.judge_is_anchor else judging.anchor_view, on_judged=lambda: progress.advance("eval judge"),
        cache=cache, reading=reading, anchor_judge=judging.anchor_judge)
    for record, answer in zip(records, answers):
        record["cut_tokens"] = limit if answer.cut else None
    baseline = round_zero_probes(ctx)
    probe_metrics = {"probes": probe_stats(probe_records),
                     "probe_changes": probe_changes(probe_records, baseline) if baseline else {},
                     "probe_fluency": probe_fluency(probe_records)}
    movement: dict[str, Any] = {"changed": diagnostics.changed_share(previous_answers(ctx),
                                                                     answer_keys(records, probe_records))}
    if start_view is not None:
        pairs = [(conversation(row["prompt"]), a.text) for row, a in zip(rows, answers)]
        pairs += [(conversation(r["prompt"]), r["answer"]) for r in probe_records]
        pairs = spread(pairs, DRIFT_ANSWERS)
        movement["drift_base"] = token_kl(model, ctx.tokenizer, pairs, judging.anchor_view)
        movement["drift_start"] = token_kl(model, ctx.tokenizer, pairs, start_view)
    return Measurement(records, metrics, probe_records, probe_metrics, movement, cache.counts)


def token_kl(model, tokenizer, pairs: list[tuple[list[dict], str]],
             other_view: Callable[[], ContextManager]) -> float | None:
    """The mean per-token KL(policy || other) along the policy's own greedy answers, exact over the
    vocabulary at each position: 0 while the policy still writes them as the other model would. Read on
    greedy answers, not samples, so it is a drift gauge comparable across rounds, not TRL's sampled KL."""
    from loop.judging.likelihood import response_kl

    pairs = [(messages, answer) for messages, answer in pairs if answer.strip()]
    return mean(response_kl(model, tokenizer, pairs, other_view)) if pairs else None


def spread(items: list, k: int) -> list:
    """k items taken evenly across the list (every family of probes, not the first ones only)."""
    if len(items) <= k:
        return items
    return [items[round(i * (len(items) - 1) / (k - 1))] for i in range(k)]


def answer_keys(eval_records: list[dict], probe_records: list[dict]) -> dict[tuple, str]:
    """Every greedy answer of a round under a key that names its prompt across rounds."""
    keys = {("heldout", rec.get("index")): str(rec.get("completion", "")) for rec in eval_records}
    keys.update({("probe", rec.get("family"), rec.get("prompt")): str(rec.get("answer", "")) for rec in probe_records})
    return keys


def previous_answers(ctx) -> dict[tuple, str]:
    """The previous complete round's greedy answers (none for round 0)."""
    previous = ctx.number - 1
    if previous < 0 or previous not in ctx.ledger.complete_rounds():
        return {}
    folder = ctx.ledger.complete_dir(previous)
    return answer_keys(read_jsonl(folder / "eval.jsonl"), read_jsonl(folder / RECORDS_FILE))


def round_zero_probes(ctx) -> list[dict]:
    """Round 0's probe records, the baseline every later round's change is paired with."""
    if ctx.number == 0 or 0 not in ctx.ledger.complete_rounds():
        return []
    return read_jsonl(ctx.ledger.complete_dir(0) / RECORDS_FILE)
