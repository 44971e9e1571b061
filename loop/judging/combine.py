"""How a judgment becomes a score: pure arithmetic over plain floats, no model and no prompt.

The judge reads three things (loop/judging/judge.py): the verdict, P(Yes) and P(No) after its
question; the same verdict on an empty answer to the same prompt (the calibration baseline); and the
likelihood signals a principle weighs (loop/judging/likelihood.py). `combine` weighs them into one
score in [0, 1], or None when the judge could not answer; `evidence` is the record of what it read,
kept with every critique so a score can be traced back to its parts.

- The verdict is P(Yes) / (P(Yes) + P(No)). When the two together hold less than `min_mass` of the
  next-token probability the model is not answering the question, and its ratio would be noise: None.
- Calibration works in log-odds: how much more the judge says Yes to this answer than to an empty
  one for the same prompt. It shifts both answers to a prompt alike, so it leaves their order as it
  is, and makes scores comparable across prompts.
- Each weighted signal adds weight x (signal - center) to the log-odds. Lift and relevance are
  contrasts, 0 when the principle or question changes nothing (center 0). The prior is an absolute
  log-probability with no such zero; the judge centers it on its mean over the principle's labeled
  answers (one constant per principle, so no ranking changes).
- An answer with nothing left to judge (`blank`) scores 0: it was judged, and failed.
"""

from __future__ import annotations

import math

# Below this joint probability of Yes and No the model is not answering the question: None.
MIN_MASS = 1e-3


def ratio(p_yes: float, p_no: float, min_mass: float = MIN_MASS) -> float | None:
    """P(Yes) / (P(Yes) + P(No)); None when the two hold less than min_mass (or are not finite)."""
    mass = p_yes + p_no
    if not math.isfinite(mass) or mass < min_mass:
        return None
    return p_yes / mass


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def combine(verdict: tuple[float, float], signals: dict[str, float], weights: dict[str, float], *,
            baseline: tuple[float, float] | None = None, centers: dict[str, float] | None = None,
            blank: bool = False, min_mass: float = MIN_MASS) -> float | None:
    """The score of one answer: the verdict's (p_yes, p_no), less the baseline's in log-odds, plus each
    weighted signal's distance from its center; None where the verdict (or its baseline) could not be read."""
    centers = centers or {}
    score = ratio(*verdict, min_mass)
    log_odds = None if score is None else logit(score)
    if baseline is not None:
        base_score = ratio(*baseline, min_mass)
        log_odds = None if log_odds is None or base_score is None else log_odds - logit(base_score)
    for name, weight in weights.items():
        log_odds = None if log_odds is None else log_odds + weight * (signals[name] - centers.get(name, 0.0))
    if baseline is not None or weights:  # else the plain ratio stands, exactly
        score = None if log_odds is None else 1 / (1 + math.exp(-max(-700.0, min(700.0, log_odds))))
    if blank:
        score = 0.0
    return score


def evidence(verdict: tuple[float, float], signals: dict[str, float], *, baseline: tuple[float, float] | None = None,
             centers: dict[str, float] | None = None, blank: bool = False) -> dict[str, float]:
    """What a score was read from, as a critique's `distribution`: yes, no, the baseline's yes and no,
    each weighted signal (and the prior's center), and `empty` for an answer with nothing to judge."""
    centers = centers or {}
    out = {"yes": verdict[0], "no": verdict[1]}
    if baseline is not None:
        out.update(baseline_yes=baseline[0], baseline_no=baseline[1])
    for name, value in signals.items():
        out[name] = value
        if name == "prior":
            out["prior_center"] = centers.get(name, 0.0)
    if blank:
        out["empty"] = 1.0
    return out
