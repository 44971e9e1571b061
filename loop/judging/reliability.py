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
the earlier readings no longer describe the judge, and the round reads every pair again.

Consistency is also a confidence on the rewards (CREAM, ICLR 2025, weighs its self-rewarded
preferences by the consistency rate of two consecutive judges): with `[judge] consistency_confidence`
the effective weight is multiplied by max(0, tau) (`confidence`). The accuracy says how often this
judge orders held-out answers right; tau says how much of that order the judge before it shared, so
a judge that reorders many answers between rounds earns less trust than its 40-pair accuracy alone
gives it. Measured on at least `CONFIDENCE_PAIRS` pairs only: the rotating slice is 5 pairs, and one
pair read the other way would cut a weight by 40 %; a judge that moved is read in full anyway
(`DRIFT_TAU`), and then its consistency counts. It costs no pass: the pairs are read for the accuracy.
What it did on pairs no choice was made on is in the README, "How far loop trusts its judge".
"""

from __future__ import annotations

import random
from typing import Iterable

from loop.stats import is_number, mean, wilson

CHANCE = 0.5  # pairwise accuracy of a coin
# Below this consistency with the readings it would carry over, a round's judge reads all its pairs
# again: each pair's tau is +1 or -1, so 0.6 means one re-read pair in five ordered the other way.
DRIFT_TAU = 0.6
# Consistency scales a weight only when it was measured on at least this many pairs: from 20, one pair
# read the other way moves tau by 0.1 (from the 5-pair slice, by 0.4).
CONFIDENCE_PAIRS = 20


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


def effective_weight(weight: float, measured: dict | None, confidence: float = 1.0) -> float:
    """The weight a judged principle earns: weight x (2 x accuracy - 1) x confidence when the 95 %
    interval's lower bound is above chance, else 0; unmeasured (n = 0), it keeps its weight (see the
    module docstring)."""
    if not measured or not measured.get("n"):
        return weight
    if measured["low"] is None or measured["low"] <= CHANCE:
        return 0.0
    return round(weight * max(0.0, 2 * measured["accuracy"] - 1) * confidence, 4)


def confidence(agreement: dict | None) -> float:
    """CREAM's confidence in a round judge's rewards: max(0, tau) of its consistency with the judges before
    it, when measured on at least CONFIDENCE_PAIRS pairs; else 1 (too few to say, or no judge before)."""
    if not agreement or agreement.get("n", 0) < CONFIDENCE_PAIRS or agreement.get("tau") is None:
        return 1.0
    return max(0.0, min(1.0, agreement["tau"]))


def weight_note(principle_id: str, measured: dict, weight: float, effective: float,
                agreement: dict | None = None) -> str:
    """One line for a person: what the judge read and what weight that earned (and `agreement`, the
    consistency that scaled it, when it did)."""
    if not measured.get("n"):
        return f"{principle_id}: no labeled pairs or examples to measure the judge on -> weight {effective:g}"
    scaled = f", consistency {agreement['tau']:+.2f} on {agreement['n']} pairs" if agreement and effective else ""
    head = (f"{principle_id}: judge accuracy {measured['accuracy']:.2f} [{measured['low']:.2f}, "
            f"{measured['high']:.2f}] on {measured['n']} pairs{scaled} -> weight {effective:.2g}")
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
