"""Held-out evaluation: signals the loop did not train on.

Each round ends by answering the held-out prompts greedily with the round's output policy, then
scoring every answer twice: by the round's own judge (the frozen round-start model) and by the anchor
judge (the run's round-0 model). Self-judges get hacked: if the round judge's scores climb while the
anchor's stall, the loop is gaming itself, and `anchor_gap` shows it. Rule checks are reported as
pass rates: the rule cannot be flattered.
"""

from __future__ import annotations

from typing import Any, Callable, ContextManager

from loop.constitution import Constitution
from loop.stats import mean
from loop.training.rules import resolve_check


def evaluate_heldout(round_number: int, completions: list[str], rows: list[dict[str, Any]], judge,
                     constitution: Constitution, judge_view: Callable[[], ContextManager],
                     anchor_view: Callable[[], ContextManager] | None,
                     on_judged: Callable[[], None] | None = None) -> tuple[list[dict], dict[str, Any]]:
    """Score held-out completions with both judges and the rules; returns (eval records, metrics).
    `anchor_view` None: the round's judge is the anchor itself (a round that starts from the base
    model), so the answers are judged once and the anchor's scores are the judge's."""
    prompts = [row["prompt"] for row in rows]
    scores: dict[str, list] = {}
    anchor: dict[str, list] = {}
    critiques: dict[str, list] = {}
    anchor_critiques: dict[str, list] = {}
    rules: dict[str, list] = {}
    for p in constitution.principles:
        if p.is_rule:
            check = resolve_check(p)
            rules[p.id] = [check(c, row) for c, row in zip(completions, rows)]
            continue
        with judge_view():
            own = judge.score(prompts, completions, p.id, view="judge" if anchor_view else "anchor")
        anc = own
        if anchor_view is not None:
            with anchor_view():
                anc = judge.score(prompts, completions, p.id, view="anchor")
        scores[p.id], critiques[p.id] = [c.score for c in own], [c.critique for c in own]
        anchor[p.id], anchor_critiques[p.id] = [c.score for c in anc], [c.critique for c in anc]
        if on_judged:
            on_judged()
    records = []
    for i, (row, completion) in enumerate(zip(rows, completions)):
        records.append({
            "round": round_number, "index": row.get("heldout_index", i), "prompt": row["prompt"],
            "completion": completion,
            "scores": {k: v[i] for k, v in scores.items()}, "anchor_scores": {k: v[i] for k, v in anchor.items()},
            "critiques": {k: v[i] for k, v in critiques.items()},
            "anchor_critiques": {k: v[i] for k, v in anchor_critiques.items()},
            "rules": {k: v[i] for k, v in rules.items()},
        })
    judge_scores = {k: mean(v) for k, v in scores.items()}
    anchor_scores = {k: mean(v) for k, v in anchor.items()}
    metrics = {
        "n_prompts": len(rows),
        "judge_scores": judge_scores,
        "anchor_scores": anchor_scores,
        "anchor_gap": {k: (judge_scores[k] - anchor_scores[k]) if None not in (judge_scores[k], anchor_scores[k])
                       else None for k in judge_scores},
        # A rule passes when it gives full reward; prompts it cannot check (None) are left out.
        "rule_pass_rates": {k: mean([None if v is None else float(v >= 0.999) for v in vals])
                            for k, vals in rules.items()},
        "unscored": {k: sum(v is None for v in vals) for k, vals in scores.items()},
        "mean_completion_words": mean(len(c.split()) for c in completions) if completions else 0.0,
    }
    return records, metrics


def from_log(train_log: list[dict[str, Any]], key: str) -> float | None:
    """The mean over a round's TRL log rows of one logged value."""
    return mean([row[key] for row in train_log if isinstance(row.get(key), (int, float))])


def summarize(kind: str, train_log: list[dict[str, Any]], measured, seconds: float) -> dict[str, Any]:
    """The flat per-round summary kept in the run index (what `loop rounds` shows and trends)."""
    eval_metrics, movement = measured.eval_metrics, measured.movement
    probes = measured.probe_metrics.get("probes") or {}
    changes = measured.probe_metrics.get("probe_changes") or {}
    return {
        "kind": kind,
        "reward": from_log(train_log, "reward"),
        "reward_std": from_log(train_log, "reward_std"),
        "frac_zero_std": from_log(train_log, "frac_reward_zero_std"),
        "kl": from_log(train_log, "kl"),
        "loss": from_log(train_log, "loss") if kind == "warm-start" else None,
        "judge_score": mean(list(eval_metrics["judge_scores"].values())),
        "anchor_score": mean(list(eval_metrics["anchor_scores"].values())),
        "anchor_gap": mean(list(eval_metrics["anchor_gap"].values())),
        "rule_pass": mean(list(eval_metrics["rule_pass_rates"].values())),
        # The mean pass rate over the probe families (each family counts once): what "best round" reads.
        "probe_pass": mean([v["rate"] for v in probes.values()]),
        "probe_regressed": sorted(f for f, c in changes.items() if isinstance(c.get("high"), (int, float))
                                  and c["high"] < 0),
        "completion_words": eval_metrics["mean_completion_words"],
        "changed": (movement.get("changed") or {}).get("share"),
        "drift_base": movement.get("drift_base"),
        "seconds": round(seconds, 1),
    }
