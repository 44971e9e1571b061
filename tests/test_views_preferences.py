"""`loop log --preferences`: a DPO round's pairs, chosen against rejected, with scores and margin."""

from __future__ import annotations

import json

import pytest
from tests.fixture_efficacy import PAIR, write_dpo_run
from tests.helpers import run_cli

from loop.errors import LoopError
from loop.views.preferences_view import pair_panel, show_preferences


@pytest.fixture
def ledger(workspace):
    """Round 1 by GRPO, round 2 by DPO with one pair, inside a fresh workspace."""
    return write_dpo_run(workspace / "runs")


def test_a_pair_shows_both_answers_each_principles_scores_and_the_margin(console):
    console.print(pair_panel(PAIR))
    text = console.file.getvalue()
    assert "Stand the stems in a glass" in text and "Basil is a herb." in text
    assert "margin +0.63" in text
    helpful = next(line for line in text.splitlines() if "helpful" in line)
    assert "0.81" in helpful and "0.22" in helpful and "+0.59" in helpful
    total = next(line for line in text.splitlines() if "total" in line)
    assert "2.43" in total and "1.80" in total


def words(text: str) -> str:
    """The text with panel borders and line wraps taken out."""
    return " ".join(word for word in text.split() if word not in "│╭╮╰╯")


def test_a_cut_rejected_answer_is_marked(console):
    console.print(pair_panel(PAIR))
    assert "Plants are green. … [cut at 48 tokens]" in words(console.file.getvalue())


def test_without_a_round_the_latest_round_with_pairs_is_shown(ledger, console):
    show_preferences(ledger, console, round_number=None, pager=False)
    text = words(console.file.getvalue())
    assert "round 2 preference pairs · 1 shown" in text
    assert "1 pair(s) from 6 prompts; skipped: 4 tie(s) within the margin 0.1 (weighted reward)" in text


def test_a_round_without_pairs_is_one_line_naming_the_rounds_that_have_them(ledger, console):
    with pytest.raises(LoopError, match="round 1 has no preference pairs \\(a grpo round\\): only DPO rounds have "
                                        "them; rounds with pairs: 2"):
        show_preferences(ledger, console, round_number=1, pager=False)


def test_contains_filters_pairs_by_prompt_or_answers(ledger, console):
    show_preferences(ledger, console, round_number=2, contains="no such words", pager=False)
    assert "0 shown" in console.file.getvalue() and "no pairs to show" in console.file.getvalue()


def test_log_preferences_json_prints_the_records(ledger):
    code, out, _ = run_cli("log", "--preferences", "--json")
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == [PAIR]


def test_log_preferences_refuses_filters_that_read_single_answers(ledger):
    code, _, err = run_cli("log", "--preferences", "--worst", "3")
    assert code == 2 and "--preferences shows whole records" in err and "--worst" in err
