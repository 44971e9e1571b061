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
