"""How far a judge can be trusted, principle by principle, and the weight that trust earns.

A judged principle's reliability is the judge's pairwise accuracy on its labeled pairs (the
constitution's reliability split, constitution/pairs/<id>.jsonl, or the principle's own examples,
each left out of the few-shots, where it has no file), with a 95 % Wilson interval and n. Rule
principles are not measured: they are rules.

The effective weight (`effective_weight`) is the principle's weight x (2 x accuracy - 1) when the
interval's lower bound is above 0.5, else 0. Why that rule:
- 2p - 1 is the expected Kendall tau between the judge's order of two answers and the true order
  when it is right with probability p: the share of the principle's reward that is signal. A judge
  at chance (p = 0.5) is all noise, so its reward, fed to GRPO, teaches noise; it gets weight 0, and
  a principle at weight 0 is not judged at all (loop/training/rewards.py).
- Zeroing must be earned: a principle keeps a non-zero weight as long as its interval is above
  chance; one whose interval reaches 0.5 has not shown that its judge reads it, and training on it
  would risk exactly the noise this guards against. A principle with nothing to measure it on (no
  pairs, no examples) keeps its weight, and `loop judge-check` says it was not measured.
- Weights only act proportionally when each reward is normalized before the weighted sum, so loop
  runs GRPO with `multi_objective_aggregation = "normalize_then_sum"` (loop/config.py): with TRL's
  default (sum, then normalize per group), a principle that alone varies in a group gets the same
  advantages at any weight above 0.

Each round reads the pairs at its start (loop/training/judge_trust.py). Reading all of them every
round is costly on a CPU, so a round reads every pair it has no valid reading of, plus a rotating
slice of `[judge] reliability_sample` pairs a principle (`pairs_to_read`): the figure is always over
all n pairs, each read by a judge at most n / sample rounds old. Where a pair is read again by a
changed judge, the two readings give the CREAM consistency (`consistency`): agreement of the two
judges' orders of the same two answers, as Kendall tau over each pair, averaged. Below `DRIFT_TAU`
the earlier readings no longer describe the judge, and the round reads every pair again. Consistency
does not scale the rewards: the labeled pairs measure the judge's accuracy directly, and a per-round
multiplier on a principle's weight would only repeat that (see the README, "How good is the judge?").
"""

from __future__ import annotations

import random
from typing import Iterable

from loop.stats import is_number, mean, wilson

CHANCE = 0.5  # pairwise accuracy of a coin
# Below this consistency with the readings it would carry over, a round's judge reads all its pairs
# again: each pair's tau is +1 or -1, so 0.6 means one re-read pair in five ordered the other way.
DRIFT_TAU = 0.6


def figure(outcomes: Iterable[bool]) -> dict:
    """{accuracy, low, high, n} of a principle's pair outcomes (True: chosen strictly above rejected)."""
    outcomes = list(outcomes)
    correct = sum(bool(o) for o in outcomes)
    if not outcomes:
        return {"accuracy": None, "low": None, "high": None, "n": 0}  # unmeasured, not "anywhere in [0, 1]"
    low, high = wilson(correct, len(outcomes))
    return {"accuracy": correct / len(outcomes), "low": low, "high": high, "n": len(outcomes)}


def correct(chosen, rejected) -> bool:
    """A pair is read right only when chosen scores strictly above rejected (a tie or a None is a miss)."""
    return is_number(chosen) and is_number(rejected) and chosen > rejected


def effective_weight(weight: float, measured: dict | None) -> float:
    """The weight a judged principle earns: weight x (2 x accuracy - 1) when the 95 % interval's lower
    bound is above chance, else 0; unmeasured (n = 0), it keeps its weight (see the module docstring)."""
    if not measured or not measured.get("n"):
        return weight
    if measured["low"] is None or measured["low"] <= CHANCE:
        return 0.0
    return round(weight * max(0.0, 2 * measured["accuracy"] - 1), 4)


def weight_note(principle_id: str, measured: dict, weight: float, effective: float) -> str:
    """One line for a person: what the judge read and what weight that earned."""
    if not measured.get("n"):
        return f"{principle_id}: no labeled pairs or examples to measure the judge on -> weight {effective:g}"
    head = (f"{principle_id}: judge accuracy {measured['accuracy']:.2f} [{measured['low']:.2f}, "
            f"{measured['high']:.2f}] on {measured['n']} pairs -> weight {effective:.2g}")
    if effective == 0:
        return f"{head}; give it a [check] or better pairs"
    return f"{head} of {weight:g}"


def pairs_to_read(keys: list[str], valid: set[str], sample: int, round_number: int, seed: int = 0) -> list[str]:
    """The pairs a round's judge reads: every pair without a valid earlier reading, plus the round's
    slice of `sample` pairs from a fixed, seeded order that rotates through all of them round by round.
    sample <= 0, or as many as there are pairs: all of them."""
    if sample <= 0 or sample >= len(keys):
        return list(keys)
    order = sorted(keys)
    random.Random(seed).shuffle(order)
    start = (round_number * sample) % len(order)
    chosen = {order[(start + i) % len(order)] for i in range(sample)}
    return [k for k in keys if k in chosen or k not in valid]


def kendall_tau(xs: list[float], ys: list[float]) -> float | None:
    """Kendall's tau-b of two scorings of the same items (ties in either count as neither agreement nor
    disagreement, and shrink the denominator); None when either scoring is constant."""
    concordant = discordant = ties_x = ties_y = 0
    for i in range(len(xs)):
        for j in range(i + 1, len(xs)):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                ties_x += 1
            elif dy == 0:
                ties_y += 1
            elif (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = ((concordant + discordant + ties_x) * (concordant + discordant + ties_y)) ** 0.5
    return (concordant - discordant) / denominator if denominator else None


def consistency(before: list[tuple], after: list[tuple]) -> dict | None:
    """CREAM's consistency of two judges on the same answers: Kendall tau of their orders of each
    prompt's answers (here a pair's chosen and rejected), averaged over the prompts both could order."""
    taus = [kendall_tau(list(b), list(a)) for b, a in zip(before, after)
            if all(is_number(s) for s in (*b, *a))]
    taus = [t for t in taus if t is not None]
    return {"tau": mean(taus), "n": len(taus)} if taus else None
