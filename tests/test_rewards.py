"""Rule checks and reward callables: table-driven, nasty inputs included."""

from __future__ import annotations

import math
from contextlib import contextmanager

import pytest
from tests.scripted_judge import ScriptedJudge

from loop.constitution import Principle
from loop.errors import LoopError
from loop.rules import (check_admits_unknown, check_answer, check_format, check_max_words,
                        check_refusal, check_regex)
from loop.training.recorder import weighted_total
from loop.training.rewards import JudgeReward, RuleReward, build_rewards, text_of, user_prompt


@pytest.mark.parametrize("text, answer, mode, expected", [
    ("12 + 30 = 42.", "42", "numeric", 1.0),
    ("12 + 30 = 52.", "42", "numeric", 0.0),
    ("I am not sure.", "42", "numeric", 0.0),
    ("The total is 42.0", "42", "numeric", 1.0),
    ("anything", None, "numeric", None),  # no answer to check: could not score, never 0
    ("anything", "", "numeric", None),
    ("Paris.", "paris", "exact", 1.0),
    ("Paris is the capital", "paris", "exact", 0.0),
    ("forty-two", "42", "numeric", 0.0),
])
def test_check_answer(text, answer, mode, expected):
    assert check_answer(text, {"answer": answer}, mode=mode) == expected


# The label-reading checks: the row's label picks the criterion's verdict (loop/criteria.py, tested
# there); a row without a label the check reads is "could not check", None, never 0.
@pytest.mark.parametrize("check, text, label, expected", [
    (check_refusal, "I can't help with that.", "refuse", 1.0),
    (check_refusal, "I can't help with that. 1. Buy it 2. Use it", "refuse", 0.0),
    (check_refusal, "Press Ctrl+C.", "refuse", 0.0),
    (check_refusal, "Press Ctrl+C.", "comply", 1.0),
    (check_refusal, "I can't know that.", "comply", 0.0),
    (check_refusal, "Press Ctrl+C.", "unknowable", 0.0),
    (check_refusal, "I can't know what you ate.", "unknowable", 1.0),
    (check_refusal, "Press Ctrl+C.", "list:3", None),
    (check_refusal, "Press Ctrl+C.", None, None),
    (check_admits_unknown, "I can't know what you ate.", "unknowable", 1.0),
    (check_admits_unknown, "You ate eggs.", "unknowable", 0.0),
    (check_admits_unknown, "I can't know that.", "refuse", None),
    (check_format, "Blue.", "one_word", 1.0),
    (check_format, "Dark blue.", "one_word", 0.0),
    (check_format, "Blue.", "refuse", None),
    (check_format, "Blue.", None, None),
])
def test_label_checks_read_the_expect_column(check, text, label, expected):
    assert check(text, {"expect": label}) == expected


def test_label_checks_read_the_column_they_are_given():
    row = {"expect": "comply", "should": "refuse"}
    assert check_refusal("I can't help with that.", row) == 0.0
    assert check_refusal("I can't help with that.", row, column="should") == 1.0


@pytest.mark.parametrize("text, expected", [("Stand the stems in water.", 1.0), ("I can't. I can't. I can't. I can't.", 0.0),
                                            ("", 1.0)])
def test_max_words_with_fail_loops_zeroes_a_loop(text, expected):
    assert check_max_words(text, {}, max=40, fail_loops=True) == expected
    assert check_max_words(text, {}, max=40) == 1.0  # without it, only length counts


@pytest.mark.parametrize("words, limit, expected", [(0, 5, 1.0), (5, 5, 1.0), (10, 5, 0.5), (20, 5, 0.25)])
def test_max_words_shrinks_smoothly(words, limit, expected):
    assert check_max_words(" ".join(["w"] * words), {}, max=limit) == pytest.approx(expected)


@pytest.mark.parametrize("text, must, must_not, expected", [
    ("Sure, here it is", r"^Sure", None, 1.0),
    ("Here it is", r"^Sure", None, 0.0),
    ("As an AI model I cannot", None, r"(?i)as an ai", 0.0),
    ("Fine answer", None, r"(?i)as an ai", 1.0),
    ("Sure, as an AI", r"^Sure", r"(?i)as an ai", 0.0),
])
def test_check_regex(text, must, must_not, expected):
    assert check_regex(text, {}, must=must, must_not=must_not) == expected


def test_text_and_prompt_extraction_from_chat_messages():
    assert text_of([{"role": "assistant", "content": "hi"}]) == "hi"
    assert text_of("plain") == "plain"
    prompt = [{"role": "system", "content": "sys"}, {"role": "user", "content": "question?"}]
    assert user_prompt(prompt) == "question?"


def test_rule_reward_uses_dataset_columns_and_keeps_none():
    p = Principle(id="correct", title="Correct", text="Right answer.", check={"type": "answer", "column": "answer"})
    reward = RuleReward(p)
    assert reward.__name__ == "principle_correct"
    out = reward(["q1", "q2", "q3"], ["= 4", "= 5", "= 4"], answer=["4", "4", None])
    assert out == [1.0, 0.0, None]


def test_rule_reward_reads_the_pool_label_through_trl_columns():
    p = Principle(id="refuse", title="Refuse", text="Refuses harm.", check={"type": "refusal"})
    out = RuleReward(p)(["q1", "q2", "q3"], ["I can't help with that.", "I can't help with that.", "Sure."],
                        expect=["refuse", "comply", None])
    assert out == [1.0, 0.0, None]


def test_custom_check_by_dotted_path():
    p = Principle(id="calm", title="Calm", text="No shouting.", check={"type": "custom", "path": "tests.custom_checks:no_exclamations"})
    assert RuleReward(p)(["q", "q"], ["Hello!", "Hello."]) == [0.0, 1.0]


def test_custom_check_that_cannot_be_imported_is_a_one_line_error():
    p = Principle(id="calm", title="Calm", text="x", check={"type": "custom", "path": "no_such_module:f"}, path="c.toml")
    with pytest.raises(LoopError, match="cannot be imported"):
        RuleReward(p)


def test_judge_reward_scores_inside_the_judge_view_and_records_the_anchor():
    events = []

    @contextmanager
    def view(name):
        events.append(f"enter {name}")
        yield
        events.append(f"exit {name}")

    judge = ScriptedJudge()
    judge.enqueue(0.9, None, 0.2, 0.3)  # round judge: 0.9, None; anchor: 0.2, 0.3
    recorded = []

    class Recorder:
        def add(self, *args):
            recorded.append(args)

    p = Principle(id="helpful", title="Helpful", text="Helps.")
    reward = JudgeReward(p, judge, Recorder(), lambda: view("judge"), lambda: view("anchor"))
    out = reward([[{"role": "user", "content": "Q?"}]] * 2, [[{"role": "assistant", "content": "A"}]] * 2)
    assert out == [0.9, None]  # None stays None for TRL
    assert events == ["enter judge", "exit judge", "enter anchor", "exit anchor"]
    assert judge.calls[0] == (["Q?", "Q?"], ["A", "A"], "helpful")
    assert judge.views == ["judge", "anchor"]  # named views: the judge may share passes within each
    entries = recorded[0][5]
    assert [e["anchor_score"] for e in entries] == [0.2, 0.3]


def test_judge_reward_without_views_lets_the_judge_remember_nothing():
    judge = ScriptedJudge()
    reward = JudgeReward(Principle(id="helpful", title="Helpful", text="Helps."), judge)
    reward([[{"role": "user", "content": "Q?"}]], [[{"role": "assistant", "content": "A"}]])
    assert judge.views == [None]  # the model may be the training policy itself


def test_build_rewards_one_named_callable_per_principle(workspace):
    from loop.workspace import Workspace

    constitution = Workspace(workspace).constitution()
    funcs, weights = build_rewards(constitution, ScriptedJudge())
    assert [f.__name__ for f in funcs] == [f"principle_{p.id}" for p in constitution.principles]
    assert weights == [p.weight for p in constitution.principles]
    kinds = {f.__name__: type(f).__name__ for f in funcs}
    assert kinds["principle_concise"] == "RuleReward" and kinds["principle_helpful"] == "JudgeReward"


@pytest.mark.parametrize("rewards, expected", [
    ({"a": 1.0, "b": 0.5}, 1.0 * 2 + 0.5 * 1),
    ({"a": None, "b": 0.5}, 0.5),
    ({"a": None, "b": None}, None),
])
def test_weighted_total_skips_unscored(rewards, expected):
    total = weighted_total(rewards, {"a": 2.0, "b": 1.0})
    assert total == expected or (total is not None and math.isclose(total, expected))
