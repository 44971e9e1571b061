"""The openings `loop check` counts, read from nasty responses, and which labels it judges."""

from __future__ import annotations

import pytest

from loop.views.check_warnings import MIN_LABEL, opening, opening_lines


@pytest.mark.parametrize("response, expected", [
    ("I can't help with that.", "i can't"),
    ("  I   CAN'T, sorry", "i can't"),
    ('"Sure!" Here it is', "sure here"),
    ("Yes.", "yes"),
    ("... well, no", "well no"),
    ("1. Milk 2. Eggs", "1 milk"),
])
def test_an_opening_is_the_first_two_words_lower_cased(response, expected):
    assert opening(response) == expected


def demos(label: str, n: int) -> list[dict]:
    return [{"category": label, "response": f"I can't do {i}."} for i in range(n)]


def test_a_label_too_small_to_judge_gets_no_warning():
    lines = [line.plain for line in opening_lines(demos("refuse", MIN_LABEL - 1))]
    assert lines == [f'   openings: refuse "i can\'t" {MIN_LABEL - 1}/{MIN_LABEL - 1}']
    assert any(line.plain.startswith("warn") for line in opening_lines(demos("refuse", MIN_LABEL)))
