"""Rewards: one plain callable per principle, with TRL's signature
`(prompts, completions, **kwargs) -> list[float | None]`, named `principle_<id>` so TRL logs
`rewards/principle_<id>/mean`.

Rules wherever the answer is verifiable, judgment elsewhere (DeepSeek-V3): a principle that declares a
rule check is rewarded by the rule, which cannot be flattered; every other principle is rewarded by
the judge. `None` means "could not score" (a rule with no answer to compare against, a judge that
could not read a verdict): TRL leaves it out of the group statistics. It is never turned into 0.
"""

from __future__ import annotations

import importlib
import re
from contextlib import nullcontext
from typing import Any, Callable, ContextManager

from loop.constitution import Constitution, Principle
from loop.errors import LoopError

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


# ---- rule checks: (completion text, dataset row) -> float in [0, 1] or None ---------------------
def check_max_words(text: str, row: dict, *, max: int) -> float:
    """1.0 up to `max` words, then shrinking as max/words: long answers lose reward smoothly."""
    words = len(text.split())
    return 1.0 if words <= max else max / words


def check_regex(text: str, row: dict, *, must: str | None = None, must_not: str | None = None) -> float:
    ok = (must is None or re.search(must, text) is not None) and (must_not is None or re.search(must_not, text) is None)
    return 1.0 if ok else 0.0


def final_number(text: str) -> float | None:
    """The last number in a text ("17 + 25 = 42." -> 42): where small models put their answer."""
    numbers = NUMBER.findall(text)
    if not numbers:
        return None
    try:
        return float(numbers[-1].replace(",", ""))
    except ValueError:
        return None


def check_answer(text: str, row: dict, *, column: str = "answer", mode: str = "numeric") -> float | None:
    expected = row.get(column)
    if expected is None or str(expected).strip() == "":
        return None  # nothing to check against: could not score, not wrong
    if mode == "exact":
        norm = lambda s: re.sub(r"[\s.!]+$", "", str(s).strip().lower())  # noqa: E731
        return 1.0 if norm(text) == norm(expected) else 0.0
    want = final_number(str(expected))
    got = final_number(text)
    if want is None:
        return None
    return 1.0 if got is not None and abs(got - want) < 1e-6 else 0.0


BUILTIN_CHECKS: dict[str, Callable[..., float | None]] = {
    "max_words": check_max_words,
    "regex": check_regex,
    "answer": check_answer,
}


def resolve_check(principle: Principle) -> Callable[[str, dict], float | None]:
    """The rule function of a principle: a built-in by name, or a custom one by dotted import path."""
    spec = dict(principle.check or {})
    kind = spec.pop("type")
    if kind != "custom":
        func = BUILTIN_CHECKS[kind]
        return lambda text, row: func(text, row, **spec)
    module_name, _, attr = spec["path"].replace(":", ".").rpartition(".")
    try:
        func = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as err:
        raise LoopError(f"custom check '{spec['path']}' cannot be imported ({err}); install the module or fix the path",
                        path=principle.path) from None
    if not callable(func):
        raise LoopError(f"custom check '{spec['path']}' is not callable", path=principle.path)
    return func


# ---- what TRL hands a reward function ---------------------------------------------------------
def text_of(item: Any) -> str:
    """A completion or prompt as plain text: TRL passes strings, or chat messages for chat datasets."""
    if isinstance(item, str):
        return item
    if isinstance(item, list) and item and isinstance(item[-1], dict):
        return str(item[-1].get("content", ""))
    return str(item)


def user_prompt(prompt: Any) -> str:
    """The user's words of a conversational prompt (the judge sees the question, not the system prompt)."""
    if isinstance(prompt, list):
        users = [m.get("content", "") for m in prompt if isinstance(m, dict) and m.get("role") == "user"]
        if users:
            return str(users[-1])
    return text_of(prompt)


def rows_from_kwargs(n: int, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """TRL passes each dataset column as a list aligned with the completions; turn them into rows."""
    columns = {k: v for k, v in kwargs.items() if isinstance(v, list) and len(v) == n}
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


# ---- reward callables -------------------------------------------------------------------------
class RuleReward:
    """The reward of a principle with a rule check."""

    def __init__(self, principle: Principle, recorder: "Any | None" = None):
        self.principle = principle
        self.check = resolve_check(principle)
        self.recorder = recorder
        self.__name__ = f"principle_{principle.id}"

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        rows = rows_from_kwargs(len(completions), kwargs)
        rewards = [self.check(text_of(c), row) for c, row in zip(completions, rows)]
        rewards = [None if r is None else float(r) for r in rewards]
        if self.recorder is not None:
            self.recorder.add(self.principle.id, "rule", prompts, completions, rewards,
                              [{"critique": "", "score": r, "anchor_score": None} for r in rewards], kwargs)
        return rewards


class JudgeReward:
    """The reward of a judged principle: the round judge's score of each completion.

    `judge_view` / `anchor_view` are context managers that make the shared model act as the round's
    judge (the frozen round-start adapter) or the anchor (adapters off). The anchor's score is only
    recorded, never rewarded: it is the signal the loop did not train on.
    """

    def __init__(self, principle: Principle, judge: Any, recorder: Any | None = None,
                 judge_view: Callable[[], ContextManager] = nullcontext,
                 anchor_view: Callable[[], ContextManager] | None = None):
        self.principle = principle
        self.judge = judge
        self.recorder = recorder
        self.judge_view = judge_view
        self.anchor_view = anchor_view
        # Views name frozen model states, so the judge may share likelihood passes between principles
        # within each; without views the judge may be the training policy itself, and nothing is shared.
        self.views = ("judge", "anchor") if judge_view is not nullcontext else (None, None)
        self.__name__ = f"principle_{principle.id}"

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        questions = [user_prompt(p) for p in prompts]
        answers = [text_of(c) for c in completions]
        with self.judge_view():
            critiques = self.judge.score(questions, answers, self.principle.id, view=self.views[0])
        anchors = [None] * len(answers)
        if self.anchor_view is not None:
            with self.anchor_view():
                anchors = [c.score for c in self.judge.score(questions, answers, self.principle.id,
                                                              view=self.views[1])]
        rewards = [c.score for c in critiques]
        if self.recorder is not None:
            self.recorder.add(self.principle.id, "judge", prompts, completions, rewards,
                              [{"critique": c.critique, "score": c.score, "anchor_score": a,
                                "distribution": c.distribution, "cuts": c.cuts}
                               for c, a in zip(critiques, anchors)], kwargs)
        return rewards


def build_rewards(constitution: Constitution, judge: Any, recorder: Any | None = None,
                  judge_view: Callable[[], ContextManager] = nullcontext,
                  anchor_view: Callable[[], ContextManager] | None = None) -> tuple[list, list[float]]:
    """(reward_funcs, reward_weights) for GRPOTrainer: one callable per principle, weighted by it."""
    funcs: list = []
    for p in constitution.principles:
        if p.is_rule:
            funcs.append(RuleReward(p, recorder))
        else:
            funcs.append(JudgeReward(p, judge, recorder, judge_view, anchor_view))
    return funcs, [p.weight for p in constitution.principles]


def weighted_total(rewards: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """TRL's aggregate: the weighted sum over the principles that could score; None if none could."""
    scored = [(weights[k], v) for k, v in rewards.items() if v is not None]
    return sum(w * v for w, v in scored) if scored else None
