"""A scripted judge for testing reward and round logic without a model (like simonw/llm's MockModel).

It follows the Judge contract (`score(prompts, responses, principle_id) -> list[Critique]`), records
every call, and scores from a queue of canned scores or, when the queue is empty, from a plain rule:
longer answers score higher, an empty answer cannot be scored (None).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class ScriptedCritique:
    principle: str
    critique: str
    score: float | None
    distribution: dict | None = None
    template_sha256: str = "scripted"
    constitution_version: str = ""
    constitution_sha256: str = ""
    model: str = "scripted"
    cuts: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class ScriptedJudge:
    queue: list = field(default_factory=list)
    calls: list = field(default_factory=list)
    unscored: int = 0

    def __init__(self, *args, **kwargs):  # accepts the real Judge's arguments and ignores them
        self.queue, self.calls, self.views, self.unscored = [], [], [], 0

    def enqueue(self, *scores) -> None:
        self.queue.extend(scores)

    def score(self, prompts, responses, principle_id=None, *, principle=None, view=None, rows=None):
        principle_id = principle_id or principle.id  # an id, or an ad-hoc Principle as the real Judge takes
        self.calls.append((list(prompts), list(responses), principle_id))
        self.views.append(view)
        out = []
        for response in responses:
            score = self.queue.pop(0) if self.queue else (None if not response.strip() else min(1.0, len(response) / 80))
            self.unscored += score is None
            out.append(ScriptedCritique(principle_id, f"scripted critique of {len(response)} chars", score,
                                        {"yes": score, "no": None if score is None else 1 - score}))
        return out
