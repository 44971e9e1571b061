"""Rewards: one plain callable per principle, with TRL's signature
`(prompts, completions, **kwargs) -> list[float | None]`, named `principle_<id>` so TRL logs
`rewards/principle_<id>/mean`.

Rules wherever the answer is verifiable, judgment elsewhere (DeepSeek-V3): a principle that declares a
rule check is rewarded by the rule, which cannot be flattered; every other principle is rewarded by
the judge. `None` means "could not score" (a rule with no answer to compare against, a judge that
could not read a verdict): TRL leaves it out of the group statistics. It is never turned into 0.

The rule checks themselves are in rules.py. Each reward tells the round's recorder
(loop/training/recorder.py) what it saw and said, as plain text: the user's question and the answer.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable, ContextManager

from loop.constitution import Constitution, Principle
from loop.rules import resolve_check


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
        answers = [text_of(c) for c in completions]
        rewards = [self.check(text, row) for text, row in zip(answers, rows)]
        rewards = [None if r is None else float(r) for r in rewards]
        if self.recorder is not None:
            self.recorder.add(self.principle.id, "rule", [user_prompt(p) for p in prompts], answers, rewards,
                              [{"critique": "", "score": r, "anchor_score": None} for r in rewards], kwargs)
        return rewards


class JudgeReward:
    """The reward of a judged principle: the round judge's score of each completion.

    `judge_view` / `anchor_view` are context managers that make the shared model act as the round's
    judge (the frozen round-start adapter) or the anchor (adapters off). With an `anchor_view` (the
    opt-in [judge] anchor_on_training) each completion is scored by the anchor too, and that score is
    only recorded, never rewarded; without one the anchor judges the held-out answers only.
    """

    def __init__(self, principle: Principle, judge: Any, recorder: Any | None = None,
                 judge_view: Callable[[], ContextManager] = nullcontext,
                 anchor_view: Callable[[], ContextManager] | None = None, anchor_judge: Any | None = None):
        self.principle = principle
        self.judge = judge
        self.anchor_judge = anchor_judge if anchor_judge is not None else judge
        self.recorder = recorder
        self.judge_view = judge_view
        self.anchor_view = anchor_view
        # Views name frozen model states, so the judge may share likelihood passes between principles
        # within each; without views the judge may be the training policy itself, and nothing is shared.
        self.views = ("judge", "anchor") if judge_view is not nullcontext else (None, None)
        self.__name__ = f"principle_{principle.id}"

    # What a record of an answer left unjudged says (loop/training/rules_first.py decides which).
    NOT_NEEDED = "not judged: its rules decide it"

    @classmethod
    def entry(cls, critique: Any | None, anchor: float | None) -> dict[str, Any]:
        """What the recorder keeps of one answer's critique; None: an answer left unjudged."""
        if critique is None:
            return {"critique": cls.NOT_NEEDED, "score": None, "anchor_score": None, "kind": "unjudged"}
        return {"critique": critique.critique, "score": critique.score, "anchor_score": anchor,
                "distribution": critique.distribution, "cuts": critique.cuts}

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        return self.judge_some(prompts, completions, None, **kwargs)

    def judge_some(self, prompts: list, completions: list, needed: list[bool] | None, **kwargs: Any
                   ) -> list[float | None]:
        """The rewards of the completions where `needed` is true (all of them for None); None elsewhere,
        with no judge work, recorded as not judged."""
        questions = [user_prompt(p) for p in prompts]
        answers = [text_of(c) for c in completions]
        rows = rows_from_kwargs(len(answers), kwargs)  # the pool's columns, for templates that read them
        chosen = [i for i in range(len(answers)) if needed is None or needed[i]]
        pick = lambda items: [items[i] for i in chosen]  # noqa: E731
        critiques: dict[int, Any] = {}
        anchors: dict[int, float | None] = {}
        if chosen:
            with self.judge_view():
                scored = self.judge.score(pick(questions), pick(answers), self.principle.id, view=self.views[0],
                                          rows=pick(rows))
            critiques = dict(zip(chosen, scored))
            if self.anchor_view is not None:
                with self.anchor_view():
                    anchors = {i: c.score for i, c in zip(chosen, self.anchor_judge.score(
                        pick(questions), pick(answers), self.principle.id, view=self.views[1], rows=pick(rows)))}
        rewards = [critiques[i].score if i in critiques else None for i in range(len(answers))]
        if self.recorder is not None:
            entries = [self.entry(critiques.get(i), anchors.get(i)) for i in range(len(answers))]
            self.recorder.add(self.principle.id, "judge", questions, answers, rewards, entries, kwargs)
        return rewards


class UnjudgedReward:
    """The reward of a judged principle whose effective weight is 0 (its judge reads it at chance,
    loop/judging/reliability.py): None for every completion, and no judge work at all. None, not 0:
    TRL leaves it out of the sums, so the advantages are exactly those without the principle."""

    NOTE = "not judged: weight 0"

    def __init__(self, principle: Principle, recorder: Any | None = None):
        self.principle, self.recorder = principle, recorder
        self.__name__ = f"principle_{principle.id}"

    def __call__(self, prompts: list, completions: list, **kwargs: Any) -> list[float | None]:
        rewards: list[float | None] = [None] * len(completions)
        if self.recorder is not None:
            self.recorder.add(self.principle.id, "unjudged", [user_prompt(p) for p in prompts],
                              [text_of(c) for c in completions], rewards,
                              [{"critique": self.NOTE, "score": None, "anchor_score": None} for _ in completions],
                              kwargs)
        return rewards


def build_rewards(constitution: Constitution, judge: Any, recorder: Any | None = None,
                  judge_view: Callable[[], ContextManager] = nullcontext,
                  anchor_view: Callable[[], ContextManager] | None = None,
                  weights: dict[str, float] | None = None, anchor_judge: Any | None = None) -> tuple[list, list[float]]:
    """(reward_funcs, reward_weights) for GRPOTrainer: one callable per principle, weighted by it.
    `anchor_judge`: the judge that reads in `anchor_view`, where it differs from `judge`.
    `weights`: the round's effective weights (loop/training/judge_trust.py); the constitution's without."""
    weights = weights if weights is not None else {p.id: p.weight for p in constitution.principles}
    funcs: list = []
    for p in constitution.principles:
        if p.is_rule:
            funcs.append(RuleReward(p, recorder))
        elif weights[p.id] == 0:
            funcs.append(UnjudgedReward(p, recorder))
        else:
            funcs.append(JudgeReward(p, judge, recorder, judge_view, anchor_view, anchor_judge))
    return funcs, [weights[p.id] for p in constitution.principles]

