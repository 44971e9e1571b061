"""From critiques.jsonl records to the completions people read, and the filters of `loop log`.

The ledger keeps one record per completion x principle (see loop/ledger/store.py CRITIQUE_KEYS); a reader
thinks in completions: one answer, what each principle's judge or rule said about it, and what
training made of it. So records are grouped by (round, step, group, sample) first, and every filter
works on those groups. The filters are plain data so that `--follow` applies the same ones to each
batch of new records.

The held-out answers (eval.jsonl, one record per answer with every principle's scores by both judges)
are split the same way, one record per answer x principle, so the same panels and filters read them:
that is where the round judge and the anchor judge both score (`loop log --heldout`, `--disagree`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from loop.errors import LoopError
from loop.stats import is_number, mean

Record = dict[str, Any]


@dataclass
class Completion:
    """One sampled completion and its records, one per principle, in the order they were written."""

    round: int
    step: int
    group: int
    sample: int
    prompt: str
    completion: str
    records: list[Record] = field(default_factory=list)
    heldout: bool = False  # a held-out answer (eval.jsonl): `group` is its held-out index; no reward

    @property
    def key(self) -> tuple[int, int, int, int]:
        return (self.round, self.step, self.group, self.sample)

    @property
    def total_reward(self) -> float | None:
        return next((r.get("total_reward") for r in self.records if is_number(r.get("total_reward"))), None)

    @property
    def advantage(self) -> float | None:
        return next((r.get("advantage") for r in self.records if is_number(r.get("advantage"))), None)

    @property
    def cut_tokens(self) -> int | None:
        """The token count the answer was cut at (it hit the length limit), else None (it ended itself)."""
        return next((r["cut_tokens"] for r in self.records if is_number(r.get("cut_tokens"))), None)

    @property
    def mean_score(self) -> float | None:
        return mean(r.get("score") for r in self.records)

    def only(self, principle: str) -> Completion | None:
        """The same completion with only one principle's record; None if it has none."""
        kept = [r for r in self.records if r.get("principle") == principle]
        return Completion(*self.key, self.prompt, self.completion, kept, self.heldout) if kept else None


def record_key(record: Record) -> tuple[int, int, int, int]:
    return (record.get("round", 0), record.get("step", 0), record.get("group", 0), record.get("sample", 0))


def group_records(records: Iterable[Record]) -> list[Completion]:
    """Completions in the order their first record was written."""
    by_key: dict[tuple, Completion] = {}
    for record in records:
        key = record_key(record)
        if key not in by_key:
            by_key[key] = Completion(*key, str(record.get("prompt", "")), str(record.get("completion", "")))
        by_key[key].records.append(record)
    return list(by_key.values())


def heldout_completions(evaluations: Iterable[Record]) -> list[Completion]:
    """Held-out answers (eval.jsonl records) as completions: one record per principle, with the round
    judge's score and critique, the anchor judge's, or the rule's result."""
    out = []
    for ev in evaluations:
        n, index = ev.get("round", 0), ev.get("index", 0)
        c = Completion(n, 0, index, 0, str(ev.get("prompt", "")), str(ev.get("completion", "")), heldout=True)
        scores, rules = ev.get("scores") or {}, ev.get("rules") or {}
        for pid in sorted({*scores, *rules}):
            rule = pid in rules
            c.records.append({
                "round": n, "index": index, "heldout": True, "prompt": c.prompt, "completion": c.completion,
                "principle": pid, "kind": "rule" if rule else "judge",
                "score": rules[pid] if rule else scores[pid],
                "anchor_score": None if rule else (ev.get("anchor_scores") or {}).get(pid),
                "critique": "" if rule else (ev.get("critiques") or {}).get(pid, ""),
                "anchor_critique": "" if rule else (ev.get("anchor_critiques") or {}).get(pid, ""),
                "cut_tokens": ev.get("cut_tokens")})
        out.append(c)
    return out


def group_ranks(completions: Iterable[Completion]) -> dict[tuple, dict[str, tuple[int, int, int]]]:
    """{completion key: {principle: (first, last, of)}}: where each score stands among its GRPO group's.

    A raw score is hard to read on its own (a judge's scale shifts by principle and by prompt);
    GRPO only uses how a score compares with the group's other answers to the same prompt, so
    that is what a reader is shown: 1 is the group's best; answers that tie span the ranks first to
    last (a score the whole group shares spans 1 to `of`, and says nothing); `of` counts the group's
    answers that could be scored."""
    groups: dict[tuple, list[Completion]] = {}
    for c in completions:
        groups.setdefault(c.key[:3], []).append(c)  # (round, step, group): one prompt's samples
    ranks: dict[tuple, dict[str, tuple[int, int, int]]] = {c.key: {} for members in groups.values() for c in members}
    for members in groups.values():
        scores: dict[str, list[tuple[tuple, float]]] = {}
        for c in members:
            for r in c.records:
                if is_number(r.get("score")):
                    scores.setdefault(str(r.get("principle")), []).append((c.key, r["score"]))
        for principle, keyed in scores.items():
            for key, score in keyed:
                first = 1 + sum(other > score for _, other in keyed)
                ranks[key][principle] = (first, first + sum(other == score for _, other in keyed) - 1, len(keyed))
    return ranks


def rank_text(rank: tuple[int, int, int]) -> str:
    """A group_ranks entry as shown: "2/4", or "tie 1-4/4" for a score other answers in the group share
    (a 0 the whole group shares is not the group's best)."""
    first, last, of = rank
    return f"{first}/{of}" if first == last else f"tie {first}-{last}/{of}"


def disagreement(record: Record) -> float | None:
    """|round judge - anchor judge| for a judged record; None when either could not score."""
    score, anchor = record.get("score"), record.get("anchor_score")
    return abs(score - anchor) if is_number(score) and is_number(anchor) else None


@dataclass
class LogFilter:
    """What `loop log` shows. Every field None/False means: everything."""

    principle: str | None = None
    contains: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    disagree: float | None = None  # threshold on |score - anchor_score|
    worst: int | None = None
    best: int | None = None
    heldout: bool = False  # the round's held-out answers instead of its training completions

    def keeps(self, c: Completion) -> bool:
        """Per-completion filters. Score bounds apply to the principle's score with --principle,
        otherwise to the completion's mean score; a completion that could not be scored never
        passes a score bound (unknown is neither high nor low)."""
        if self.contains:
            needle = self.contains.casefold()
            texts = [c.prompt, c.completion, *(str(r.get(k) or "") for r in c.records
                                               for k in ("critique", "anchor_critique"))]
            if not any(needle in t.casefold() for t in texts):
                return False
        if self.min_score is not None or self.max_score is not None:
            score = c.records[0].get("score") if self.principle else c.mean_score
            if not is_number(score):
                return False
            if self.min_score is not None and score < self.min_score:
                return False
            if self.max_score is not None and score > self.max_score:
                return False
        if self.disagree is not None:
            gaps = [d for d in map(disagreement, c.records) if d is not None]
            if not gaps or max(gaps) < self.disagree - 1e-9:
                return False
        return True

    def select(self, completions: Iterable[Completion]) -> list[Completion]:
        """Apply the principle restriction and filters, then --worst/--best by total reward."""
        out = []
        for c in completions:
            if self.principle:
                c = c.only(self.principle)
                if c is None:
                    continue
            if self.keeps(c):
                out.append(c)
        if self.worst or self.best:
            scored = [c for c in out if is_number(c.total_reward)]
            scored.sort(key=lambda c: c.total_reward, reverse=bool(self.best))
            out = scored[: self.worst or self.best]
        return out

    def validate(self) -> None:
        """Bounds that cannot select anything are one-line errors naming the flag, not an empty screen."""
        for name in ("worst", "best"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise LoopError(f"--{name} must be at least 1, got {value}")
        if self.disagree is not None and not 0 <= self.disagree <= 1:
            raise LoopError(f"--disagree is a score difference between 0 and 1, got {self.disagree:g}")
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            raise LoopError(f"--min-score {self.min_score:g} is above --max-score {self.max_score:g}; swap them")

    @property
    def ranks(self) -> bool:
        """Whether the selection needs every record first (it cannot be streamed)."""
        return bool(self.worst or self.best)

    def describe(self) -> str:
        """The active filters in words, for the header line."""
        parts = []
        if self.principle:
            parts.append(f"principle {self.principle}")
        if self.contains:
            parts.append(f"containing {self.contains!r}")
        if self.min_score is not None:
            parts.append(f"score >= {self.min_score:g}")
        if self.max_score is not None:
            parts.append(f"score <= {self.max_score:g}")
        if self.disagree is not None:
            parts.append(f"judge vs anchor >= {self.disagree:g}")
        if self.worst:
            parts.append(f"worst {self.worst} by total reward")
        if self.best:
            parts.append(f"best {self.best} by total reward")
        return ", ".join(parts)


def containing(records: list[dict], text: str | None, keys: tuple[str, ...]) -> list[dict]:
    """The records with `text` (any case) in one of their `keys`; all of them when `text` is None."""
    if not text:
        return records
    needle = text.casefold()
    return [r for r in records if any(needle in str(r.get(key, "")).casefold() for key in keys)]


def records_title(run: str, n: int, what: str, shown: int, contains: str | None) -> str:
    """The first line of a whole-records view (`loop log --preferences`, `--revisions`)."""
    return f"run {run} · round {n} {what} · {shown} shown" + (f" · containing {contains!r}" if contains else "")

