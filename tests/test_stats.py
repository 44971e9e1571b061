"""The one mean helper: missing values are left out, never counted as 0."""

from __future__ import annotations

import math

import pytest

from loop.stats import is_number, mean


@pytest.mark.parametrize("values, expected", [
    ([1.0, 2.0, 4.0], 7 / 3),
    ([0.5, None, 1.0], 0.75),  # "could not score" is left out, not a 0
    ([0.5, math.nan, math.inf, -math.inf], 0.5),  # not measurements
    ([True, 1.0], 1.0),  # a bool is not a number here
    ([3, 4], 3.5),
    ((x for x in (1.0, 3.0)), 2.0),  # any iterable
])
def test_mean_of_the_numbers_among_the_values(values, expected):
    assert mean(values) == pytest.approx(expected)


@pytest.mark.parametrize("values", [[], [None], [None, math.nan], [False]])
def test_mean_of_nothing_is_none(values):
    assert mean(values) is None


@pytest.mark.parametrize("value, expected", [
    (1, True), (0.5, True), (-2.0, True), (True, False), (None, False), (math.nan, False), (math.inf, False),
    ("1", False),
])
def test_is_number(value, expected):
    assert is_number(value) is expected
