"""Held-out evaluation: signals the loop did not train on.

Each round ends by answering the held-out prompts greedily with the round's output policy, then
scoring every answer twice: by the round's own judge (the frozen round-start model) and by the anchor
judge (the run's round-0 model). Self-judges get hacked: if the round judge's scores climb while the
anchor's stall, the loop is gaming itself, and `anchor_gap` shows it. Rule checks are reported as
pass rates: the rule cannot be flattered. A judgment whose inputs did not change (the judge as it
stands in its view, the principle, the answer) is read back from the workspace's content cache
(loop/cache.py), not scored again.
"""

from __future__ import annotations

from typing import Any, Callable, ContextManager

from loop.cache import Cache
from loop.constitution import Constitution
from loop.judging.readings import count_unscored, row_part
from loop.rules import resolve_check
from loop.stats import mean


def evaluate_heldout(round_number: int, completions: list[str], rows: list[dict[str, Any]], judge,
                     constitution: Constitution, judge_view: Callable[[], ContextManager],
                     anchor_view: Callable[[], ContextManager] | None,
                     on_judged: Callable[[], None] | None = None, cache: Cache | None = None,
                     reading: Callable[[str, Any], dict] | None = None,
                     anchor_judge: Any | None = None) -> tuple[list[dict], dict[str, Any]]:
    """Score held-out completions with both judges and the rules; returns (eval records, metrics).
    `anchor_view` None: the round's judge is the anchor itself (a round that starts from the base
    model), so the answers are judged once and the anchor's scores are the judge's. With `cache`,
    `reading(principle id, judge)` gives what decides a judgment but the answer, inside the view it is
    called in (loop/judging/readings.py reading_key). `anchor_judge`: the judge that reads in the
    anchor's view, where it differs from `judge` (a judging adapter's judge reads without few-shots)."""
    anchor_judge = anchor_judge if anchor_judge is not None else judge
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
            own = judgments(judge, prompts, completions, p.id, "judge" if anchor_view else "anchor", cache, reading, rows)
        anc = own
        if anchor_view is not None:
            with anchor_view():
                anc = judgments(anchor_judge, prompts, completions, p.id, "anchor", cache, reading, rows)
        scores[p.id], critiques[p.id] = [s for s, _ in own], [c for _, c in own]
        anchor[p.id], anchor_critiques[p.id] = [s for s, _ in anc], [c for _, c in anc]
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
    return records, _metrics(completions, scores, anchor, rules)


def _metrics(completions: list[str], scores: dict[str, list], anchor: dict[str, list],
             rules: dict[str, list]) -> dict[str, Any]:
    """The held-out evaluation's metrics: mean scores by both judges, their gap, rule pass rates."""
    judge_scores = {k: mean(v) for k, v in scores.items()}
    anchor_scores = {k: mean(v) for k, v in anchor.items()}
    return {
        "n_prompts": len(completions),
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


def judgments(judge, prompts: list[str], completions: list[str], principle_id: str, view: str,
              cache: Cache | None = None, reading: Callable[[str, Any], dict] | None = None,
              rows: list[dict] | None = None) -> list[tuple[float | None, str]]:
    """(score, critique) of each completion by the judge as the model stands now (inside its view),
    read back from `cache` where the same judge judged the same answer before (`reading`: see
    evaluate_heldout; without both, every answer is judged). `rows`: the prompts' pool rows, for
    templates that read their columns."""
    if cache is None or reading is None:
        cache = Cache(None)
    rows = rows or [{} for _ in prompts]
    def fresh(indices: list[int]) -> list[list]:
        crits = judge.score([prompts[i] for i in indices], [completions[i] for i in indices], principle_id, view=view,
                            rows=[rows[i] for i in indices])
        return [[c.score, c.critique] for c in crits]

    # The columns of a row the principle's templates read join the key (none for most principles).
    principle = judge.constitution.get(principle_id) if hasattr(judge, "constitution") else None
    parts = [row_part(getattr(judge, "templates", None), principle, row) if principle else {} for row in rows]
    items = [{"prompt": prompt, "response": completion, **({"row": part} if part else {})}
             for prompt, completion, part in zip(prompts, completions, parts)]
    values = cache.reuse("judgment", lambda: reading(principle_id, judge), items, fresh,
                         on_hits=lambda hits: count_unscored(judge, [score for score, _ in hits]))
    return [(score, critique) for score, critique in values]


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
