"""Means of numbers that may be missing: the one helper, used wherever such a mean is taken.

A score of None means "could not score", never 0, so a mean leaves it out rather than count it low;
NaN and infinities are left out the same way (they are not measurements). A mean of nothing is None.
"""

from __future__ import annotations

import math
from typing import Iterable


def is_number(value) -> bool:
    """A finite int or float; bools, None and NaN are not."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def mean(values: Iterable) -> float | None:
    """The mean of the values that are numbers (see `is_number`); None when there are none."""
    numbers = [v for v in values if is_number(v)]
    return sum(numbers) / len(numbers) if numbers else None


# ---- intervals for pass rates -------------------------------------------------------------------
# The probes' pass rates (loop/measure/probes.py) are proportions of small samples (20 to 60 prompts):
# a normal-approximation interval would reach below 0 and above 1 there and be too narrow near 0 and 1,
# so we use Wilson's score interval, and Newcombe's for the change between two rounds.
def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson's score interval for k successes in n trials (95 % for z = 1.96); (0, 1) when n is 0.

        centre = (p + z²/2n) / (1 + z²/n),  half = z / (1 + z²/n) · sqrt(p(1 - p)/n + z²/4n²),  p = k/n
    """
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def paired_change(before: list[bool], after: list[bool], z: float = 1.96) -> tuple[float, float, float, int]:
    """(delta, low, high, n): the change in pass rate, after - before, on the SAME n prompts, with
    Newcombe's method 10 interval for a difference of paired proportions (Newcombe 1998, "Improved
    confidence intervals for the difference between binomial proportions based on paired data",
    Statistics in Medicine 17:2635-2650): the hybrid score interval built from the two rates' Wilson
    limits, corrected for their correlation across prompts.

    With the pairs counted as a (pass, pass), b (pass, fail), c (fail, pass), d (fail, fail):
        p1 = (a + c)/n after, Wilson limits l1, u1;  p2 = (a + b)/n before, Wilson limits l2, u2
        phi = (ad - bc) / sqrt((a + b)(c + d)(a + c)(b + d)), 0 when the denominator is 0
        delta = p1 - p2 = (c - b)/n
        low   = delta - sqrt((p1 - l1)² - 2 phi (p1 - l1)(u2 - p2) + (u2 - p2)²)
        high  = delta + sqrt((u1 - p1)² - 2 phi (u1 - p1)(p2 - l2) + (p2 - l2)²)
    Pairing matters: prompts that pass (or fail) in both rounds carry no change, so the interval is
    narrower than for two independent samples. (0, -1, 1, 0) when there are no pairs.
    """
    if len(before) != len(after):
        raise ValueError(f"paired_change needs the same prompts before and after, got {len(before)} and {len(after)}")
    n = len(before)
    if n == 0:
        return 0.0, -1.0, 1.0, 0
    a = sum(1 for x, y in zip(before, after) if x and y)
    b = sum(1 for x, y in zip(before, after) if x and not y)
    c = sum(1 for x, y in zip(before, after) if not x and y)
    d = n - a - b - c
    p1, p2 = (a + c) / n, (a + b) / n
    (l1, u1), (l2, u2) = wilson(a + c, n, z), wilson(a + b, n, z)
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(denominator) if denominator else 0.0
    delta = (c - b) / n
    low = delta - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = delta + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return delta, max(-1.0, low), min(1.0, high), n
