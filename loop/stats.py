"""Means of numbers that may be missing (the one helper, used wherever such a mean is taken), and the
one interval of a proportion.

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


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float | None, float | None]:
    """The Wilson score interval of k successes in n trials (95 % with z = 1.96); (None, None) when n = 0.

    Unlike the normal approximation it stays inside [0, 1] and is honest at small n and at 0 or n
    successes: 40 of 40 gives (0.91, 1.0), not (1.0, 1.0)."""
    if n <= 0:
        return None, None
    p = k / n
    center = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, center - half), min(1.0, center + half)
