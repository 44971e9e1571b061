"""The judge's score arithmetic alone: plain floats in, a score out, no model and no prompt."""

from __future__ import annotations

import math

import pytest

from loop.judging.combine import MIN_MASS, combine, evidence, logit, ratio


@pytest.mark.parametrize("p_yes, p_no, expected", [
    (0.3, 0.1, 0.75),  # the ratio of the two, whatever else the distribution holds
    (0.5, 0.5, 0.5),
    (0.0, 0.2, 0.0),
    (MIN_MASS / 4, MIN_MASS / 4, None),  # the model is not answering the question: noise, not a score
    (math.nan, 0.1, None),
    (math.inf, 0.1, None),
])
def test_ratio_is_yes_over_yes_and_no_or_none(p_yes, p_no, expected):
    assert ratio(p_yes, p_no) == (None if expected is None else pytest.approx(expected))


def test_a_lone_verdict_is_its_plain_ratio_exactly():
    assert combine((0.3, 0.1), {}, {}) == 0.3 / 0.4


def test_an_unreadable_verdict_is_none_not_zero():
    assert combine((1e-5, 1e-5), {"lift": 1.0}, {"lift": 4.0}, baseline=(0.2, 0.2)) is None


def test_calibration_subtracts_the_baseline_in_log_odds():
    score = combine((0.6, 0.2), {}, {}, baseline=(0.4, 0.4))
    assert logit(score) == pytest.approx(logit(0.75) - logit(0.5))
    assert combine((0.5, 0.5), {}, {}, baseline=(0.3, 0.1)) == pytest.approx(1 / (1 + 3))


def test_calibration_keeps_the_order_of_answers_to_one_prompt():
    baseline = (0.7, 0.1)
    a, b = combine((0.3, 0.2), {}, {}, baseline=baseline), combine((0.2, 0.3), {}, {}, baseline=baseline)
    assert a > b


def test_an_unreadable_baseline_makes_the_score_none():
    assert combine((0.6, 0.2), {}, {}, baseline=(1e-6, 1e-6)) is None


def test_each_weighted_signal_adds_its_distance_from_its_center_to_the_log_odds():
    signals, weights = {"lift": 0.25, "prior": -2.0}, {"lift": 4.0, "prior": 1.0}
    score = combine((0.5, 0.5), signals, weights, centers={"prior": -3.0})
    assert logit(score) == pytest.approx(4.0 * 0.25 + 1.0 * (-2.0 - -3.0))


def test_a_signal_without_a_center_is_counted_from_zero():
    assert logit(combine((0.5, 0.5), {"relevance": 0.5}, {"relevance": 2.0})) == pytest.approx(1.0)


def test_huge_log_odds_saturate_without_overflow():
    assert combine((0.5, 0.5), {"lift": 1e6}, {"lift": 100.0}) == pytest.approx(1.0)
    assert combine((0.5, 0.5), {"lift": -1e6}, {"lift": 100.0}) == pytest.approx(0.0)


@pytest.mark.parametrize("verdict", [(0.9, 0.1), (1e-6, 1e-6)])
def test_an_answer_with_nothing_to_judge_scores_zero_whatever_was_read(verdict):
    assert combine(verdict, {"prior": 5.0}, {"prior": 1.0}, baseline=(0.1, 0.9), blank=True) == 0.0


def test_evidence_records_what_the_score_was_read_from_in_order():
    record = evidence((0.6, 0.2), {"lift": 0.1, "prior": -2.5}, baseline=(0.4, 0.4), centers={"prior": -3.0},
                      blank=True)
    assert list(record.items()) == [("yes", 0.6), ("no", 0.2), ("baseline_yes", 0.4), ("baseline_no", 0.4),
                                    ("lift", 0.1), ("prior", -2.5), ("prior_center", -3.0), ("empty", 1.0)]


def test_evidence_of_a_plain_verdict_is_yes_and_no():
    assert evidence((0.6, 0.2), {}) == {"yes": 0.6, "no": 0.2}
    assert evidence((0.6, 0.2), {"prior": -2.0})["prior_center"] == 0.0  # no labeled answers: centered on 0
