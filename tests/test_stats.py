"""The one mean helper (missing values are left out, never counted as 0) and the pass-rate intervals."""

from __future__ import annotations

import math
import random

import pytest

from loop.stats import is_number, mean, paired_change, wilson


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


# ---- Wilson --------------------------------------------------------------------------------------
@pytest.mark.parametrize("k, n, low, high", [
    # By hand: z²/n = 3.8416/10; 0/10: high = z²/(n + z²) = 3.8416/13.8416 = 0.27754.
    (0, 10, 0.0, 0.27754),
    # 5/10: centre 0.5, half = 1.96/1.38416 * sqrt(0.025 + 3.8416/400) = 1.41602 * 0.18602 = 0.26341.
    (5, 10, 0.23659, 0.76341),
    (10, 10, 0.72246, 1.0),
    (0, 0, 0.0, 1.0),  # nothing measured: anything is possible
])
def test_wilson_worked_values(k, n, low, high):
    assert wilson(k, n) == pytest.approx((low, high), abs=1e-5)


def test_wilson_contains_the_rate_and_narrows_with_n():
    for k, n in [(1, 20), (7, 20), (19, 20)]:
        low, high = wilson(k, n)
        assert low <= k / n <= high
        wide, narrow = wilson(k, n), wilson(4 * k, 4 * n)
        assert narrow[1] - narrow[0] < wide[1] - wide[0]


# ---- Newcombe's paired difference ------------------------------------------------------------------
def pairs(a: int, b: int, c: int, d: int) -> tuple[list[bool], list[bool]]:
    """(before, after) with a pass-pass, b pass-fail, c fail-pass, d fail-fail pairs."""
    before = [True] * a + [True] * b + [False] * c + [False] * d
    after = [True] * a + [False] * b + [True] * c + [False] * d
    return before, after


def test_paired_change_worked_example_without_correlation():
    """By hand: 10 prompts all failing before, 5 of them passing after (a=0, b=0, c=5, d=5).
    p_after = 0.5, Wilson (0.23659, 0.76341); p_before = 0, Wilson (0, 0.27754); phi = 0 because a + b = 0.
    low  = 0.5 - sqrt((0.5 - 0.23659)² + (0.27754 - 0)²) = 0.5 - sqrt(0.069385 + 0.077028) = 0.5 - 0.38264
    high = 0.5 + sqrt((0.76341 - 0.5)² + (0 - 0)²) = 0.76341"""
    assert paired_change(*pairs(0, 0, 5, 5)) == pytest.approx((0.5, 0.11736, 0.76341, 10), abs=1e-5)


def test_paired_change_worked_example_with_correlation():
    """(a, b, c, d) = (36, 12, 2, 0), n = 50, worked through the formula by hand:
    after = 38/50 = 0.76: z²/n = 0.076832, centre = 0.798416/1.076832 = 0.741450,
      half = 1.96/1.076832 · sqrt(0.003648 + 0.000384) = 0.115579 -> Wilson (0.62587, 0.85703);
    before = 48/50 = 0.96, the same way -> Wilson (0.86540, 0.98896);
    phi = (36·0 - 12·2) / sqrt(48·2·38·12) = -24 / 209.227 = -0.114708; delta = (2 - 12)/50 = -0.2;
    low  = -0.2 - sqrt(0.13413² + 2·0.114708·0.13413·0.02896 + 0.02896²) = -0.2 - 0.14043
    high = -0.2 + sqrt(0.09703² + 2·0.114708·0.09703·0.09460 + 0.09460²) = -0.2 + 0.14307"""
    delta, low, high, n = paired_change(*pairs(36, 12, 2, 0))
    assert (delta, n) == (pytest.approx(-0.2), 50)
    assert (low, high) == pytest.approx((-0.34043, -0.05693), abs=1e-5)


def random_pairs(rng: random.Random, n: int) -> tuple[list[bool], list[bool]]:
    before = [rng.random() < 0.4 for _ in range(n)]
    after = [x if rng.random() < 0.7 else not x for x in before]
    return before, after


def test_paired_change_contains_delta_and_stays_within_minus_one_and_one():
    rng = random.Random(0)
    tables = [random_pairs(rng, rng.randint(1, 60)) for _ in range(200)]
    tables += [pairs(5, 0, 0, 0), pairs(0, 0, 0, 5), pairs(0, 5, 0, 0), pairs(0, 0, 5, 0), pairs(1, 0, 0, 0)]
    for before, after in tables:
        delta, low, high, n = paired_change(before, after)
        assert -1.0 <= low <= delta <= high <= 1.0
        assert n == len(before)


def test_paired_change_is_symmetric_when_before_and_after_swap():
    rng = random.Random(1)
    for _ in range(50):
        before, after = random_pairs(rng, 30)
        delta, low, high, n = paired_change(before, after)
        assert paired_change(after, before) == pytest.approx((-delta, -high, -low, n))


def test_paired_change_narrows_with_more_prompts():
    small = paired_change(*pairs(5, 2, 6, 7))
    large = paired_change(*pairs(20, 8, 24, 28))  # the same rates, four times the prompts
    assert large[0] == pytest.approx(small[0])
    assert large[2] - large[1] < small[2] - small[1]


def test_paired_change_is_narrower_than_for_independent_samples_when_rounds_agree():
    """Prompts that pass or fail in both rounds carry no change: the same rates with every prompt agreeing
    except the changed ones give a narrower interval than with no agreement at all."""
    agreeing = paired_change(*pairs(10, 0, 5, 5))  # 0.5 -> 0.75
    crossing = paired_change(*pairs(5, 5, 10, 0))  # 0.5 -> 0.75 too, with prompts moving both ways
    assert agreeing[0] == pytest.approx(crossing[0])
    assert agreeing[2] - agreeing[1] < crossing[2] - crossing[1]


def test_paired_change_of_nothing_is_the_widest_interval():
    assert paired_change([], []) == (0.0, -1.0, 1.0, 0)


def test_paired_change_needs_the_same_prompts():
    with pytest.raises(ValueError, match="same prompts"):
        paired_change([True], [True, False])
