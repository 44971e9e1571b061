"""Preference pairs from self-rewarded samples: which answer of a prompt's group DPO is taught to
prefer over which. Pure functions over numbers, tested alone (tests/test_preferences.py); the DPO
round (loop/training/dpo_round.py) samples, rewards and records around them.

Self-Rewarding LMs take the best and the worst of N self-judged answers to a prompt as a pair. Here
"best" is decided by the quantity GRPO's advantage is computed from, so that a DPO round and a GRPO
round on the same samples and rewards agree on which answer is better: `ranking_values` mirrors TRL's
GRPOTrainer (trl/trainer/grpo_trainer.py, `multi_objective_aggregation`) for one group:
- "sum_then_normalize" (TRL's default): the weighted sum of the rewards, a principle that could not
  score counting 0 (TRL's nansum); GRPO's advantage is that total minus the group's mean, over its
  spread, which keeps its order.
- "normalize_then_sum": each principle's rewards z-scored within the group (TRL's nanstd, with Bessel's
  correction, and its +1e-4), then the weighted sum; GRPO then normalizes over the batch, which keeps
  the order within a group.
An answer no principle could score is unscorable (TRL gives it no advantage): here it is in no pair.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

AGGREGATIONS = ("sum_then_normalize", "normalize_then_sum")
_STD_EPS = 1e-4  # TRL's: (reward - mean) / (std + 1e-4)


def _is_score(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _nanstd(values: list[float | None]) -> float | None:
    """TRL's nanstd of one group: Bessel-corrected over the values that are numbers; None below two."""
    numbers = [v for v in values if _is_score(v)]
    if len(numbers) < 2:
        return None
    mean = sum(numbers) / len(numbers)
    return math.sqrt(sum((v - mean) ** 2 for v in numbers) / (len(numbers) - 1))


def ranking_values(rewards: list[list[float | None]], weights: list[float],
                   aggregation: str = "sum_then_normalize") -> list[float | None]:
    """For one prompt's group: per answer, the value GRPO's advantage ranks it by (see the module
    docstring; mirrors TRL's GRPOTrainer). `rewards[i][k]` is answer i's reward from reward function
    k (None: could not score), `weights[k]` that function's weight. None: the answer is unscorable."""
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"multi_objective_aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    scorable = [any(_is_score(r) for r in row) for row in rewards]
    if aggregation == "sum_then_normalize":
        per_func = [list(row) for row in rewards]
    else:
        per_func = [[None] * len(weights) for _ in rewards]
        for k in range(len(weights)):
            column = [row[k] for row in rewards]
            numbers = [v for v in column if _is_score(v)]
            std = _nanstd(column)
            if std is None:  # TRL: nanstd of fewer than two values is NaN, so the column adds nothing
                continue
            mean = sum(numbers) / len(numbers)
            for i, value in enumerate(column):
                per_func[i][k] = (value - mean) / (std + _STD_EPS) if _is_score(value) else None
    return [sum(w * r for w, r in zip(weights, row) if _is_score(r)) if ok else None
            for row, ok in zip(per_func, scorable)]


@dataclass(frozen=True)
class PairChoice:
    """What one prompt's group gave: a pair (`chosen`, `rejected`: sample indices, `margin` between
    their ranking values), or why not (`skipped`: "tie" within the margin, "too few scored")."""

    chosen: int | None
    rejected: int | None
    margin: float | None
    skipped: str | None = None
    unscored: int = 0  # answers of the group that no principle could score (excluded)


def choose_pair(values: list[float | None], margin: float) -> PairChoice:
    """The best and the worst scorable answer of a group, if their values differ by more than `margin`.
    Among equal values the earliest sample is taken, so the choice is reproducible."""
    scored = [(i, v) for i, v in enumerate(values) if v is not None]
    unscored = len(values) - len(scored)
    if len(scored) < 2:
        return PairChoice(None, None, None, "too few scored", unscored)
    best = max(scored, key=lambda item: (item[1], -item[0]))
    worst = min(scored, key=lambda item: (item[1], item[0]))
    gap = best[1] - worst[1]
    if gap <= margin:
        return PairChoice(None, None, gap, "tie", unscored)
    return PairChoice(best[0], worst[0], gap, None, unscored)


def pair_counts(choices: list[PairChoice], margin: float, aggregation: str) -> dict:
    """The round's tally for metrics.json "preferences": prompts, pairs kept, ties skipped (best and
    worst within the margin), groups with fewer than two scored answers, answers no principle scored."""
    return {"prompts": len(choices), "pairs": sum(c.skipped is None for c in choices),
            "ties": sum(c.skipped == "tie" for c in choices),
            "too_few_scored": sum(c.skipped == "too few scored" for c in choices),
            "unscored_answers": sum(c.unscored for c in choices), "margin": margin, "ranked_by": aggregation}
