"""The arithmetic of trust: intervals, the weight a measured accuracy earns, which pairs a round reads,
and the consistency of two judges (loop/judging/reliability.py, loop/stats.py)."""

from __future__ import annotations

import pytest

from loop.judging.reliability import (confidence, consistency, effective_weight, figure, kendall_tau, pairs_to_read,
                                      weight_note)


def test_a_figure_of_nothing_is_unmeasured():
    assert figure([]) == {"accuracy": None, "low": None, "high": None, "n": 0}


@pytest.mark.parametrize("outcomes, weight, expected", [
    ([True] * 36 + [False] * 4, 1.0, 0.8),  # 0.90 [0.77, 0.96]: 2 x 0.9 - 1
    ([True] * 30 + [False] * 10, 0.5, 0.25),  # 0.75 [0.60, 0.86]: half of a 0.5 weight
    ([True] * 26 + [False] * 14, 1.0, 0.0),  # 0.65 [0.495, 0.78]: not shown above chance
    ([True] * 20 + [False] * 20, 1.0, 0.0),  # at chance
    ([True] * 5, 1.0, 1.0),  # 5 of 5: [0.57, 1.0], above chance even at n = 5
    ([], 1.0, 1.0),  # nothing to measure it on: it keeps its weight
])
def test_effective_weight(outcomes, weight, expected):
    assert effective_weight(weight, figure(outcomes)) == pytest.approx(expected)


def test_the_note_says_what_was_measured_and_what_to_do():
    note = weight_note("honest", figure([True] * 20 + [False] * 20), 1.0, 0.0)
    assert note == "honest: judge accuracy 0.50 [0.35, 0.65] on 40 pairs -> weight 0; give it a [check] or better pairs"


def test_a_kept_weight_is_said_against_the_declared_one():
    assert weight_note("helpful", figure([True] * 36 + [False] * 4), 1.0, 0.8).endswith("-> weight 0.8 of 1")


def test_the_first_reading_reads_every_pair():
    keys = [f"k{i}" for i in range(40)]
    assert pairs_to_read(keys, set(), 10, round_number=1) == keys


def test_later_rounds_read_a_rotating_slice_that_covers_every_pair():
    keys = [f"k{i}" for i in range(40)]
    slices = [pairs_to_read(keys, set(keys), 10, round_number=r) for r in range(2, 6)]
    assert all(len(s) == 10 for s in slices)
    assert sorted(k for s in slices for k in s) == sorted(keys)  # four rounds: each pair read once


def test_a_pair_without_a_valid_reading_is_always_read():
    keys = [f"k{i}" for i in range(40)]
    read = pairs_to_read(keys, set(keys) - {"k7"}, 1, round_number=2)
    assert "k7" in read and len(read) <= 2


def test_sample_0_reads_every_pair_every_round():
    keys = ["a", "b", "c"]
    assert pairs_to_read(keys, set(keys), 0, round_number=9) == keys


@pytest.mark.parametrize("xs, ys, tau", [
    ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
    ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    ([1, 2, 3], [1, 3, 2], 1 / 3),
    ([1, 1, 1], [1, 2, 3], None),  # one scoring cannot order anything
])
def test_kendall_tau(xs, ys, tau):
    assert kendall_tau(xs, ys) == (pytest.approx(tau) if tau is not None else None)


def test_consistency_averages_tau_over_the_pairs_both_judges_ordered():
    before = [(0.9, 0.1), (0.6, 0.4), (0.5, None)]
    after = [(0.8, 0.2), (0.3, 0.7), (0.9, 0.1)]  # the third: the first judge could not score it
    assert consistency(before, after) == {"tau": 0.0, "n": 2}


@pytest.mark.parametrize("agreement, expected", [
    (None, 1.0),  # no judge before this one
    ({"tau": 0.6, "n": 5}, 1.0),  # the rotating slice alone: too few pairs to scale a weight by
    ({"tau": 0.7, "n": 40}, 0.7),  # a judge that moved, read in full
    ({"tau": -0.4, "n": 40}, 0.0),  # orders more pairs against the judges before it than with them
])
def test_consistency_is_a_confidence_only_where_enough_pairs_measured_it(agreement, expected):
    assert confidence(agreement) == pytest.approx(expected)


def test_confidence_scales_the_weight_accuracy_earns():
    measured = figure([True] * 36 + [False] * 4)  # 0.90: 0.8 of a weight of 1
    assert effective_weight(1.0, measured, confidence=0.5) == pytest.approx(0.4)
    assert effective_weight(1.0, figure([True] * 20 + [False] * 20), confidence=1.0) == 0.0


def test_the_note_names_the_consistency_that_scaled_a_weight():
    note = weight_note("helpful", figure([True] * 36 + [False] * 4), 1.0, 0.56, {"tau": 0.7, "n": 40})
    assert note == "helpful: judge accuracy 0.90 [0.77, 0.96] on 40 pairs, consistency +0.70 on 40 pairs -> weight 0.56 of 1"
