"""judge-check: how often the judge prefers the better of two responses, on labeled pairs.

A judge whose scores do not order a good and a bad answer to the same prompt is noise, and every
round would train on it. So the judge is measured the way reward models are (RewardBench): pairwise
accuracy, where a pair counts as correct only when `chosen` scores strictly higher than `rejected`
(a tie, or a score of None, is a miss), with a 95 % Wilson interval (loop/stats.py). Calibration
subtracts the same per-prompt baseline from both sides, so it never changes which side wins; the
margins it reports are on the calibrated scale.

Pairs come from a JSONL file (loop/pairs.py reads it), or from the constitution: each principle's
reliability split (constitution/pairs/<id>.jsonl) where it has one, else its own labeled examples.
When the examples double as few-shots, each is checked with itself left out of the prompt: a judge
shown the answer would look better than it is. A principle with a rule check is also read by its
rule, so a user sees which reads the pairs better (ties shown as ties: a rule often gives both 1).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from loop.constitution import CHECK_COLUMNS, Constitution, Principle
from loop.errors import LoopError
from loop.judging.reliability import correct, figure
from loop.pairs import pair_key, read_pairs
from loop.rules import resolve_check
from loop.stats import is_number, mean

Scores = list[tuple[float | None, float | None]]  # (chosen, rejected) per pair


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str
    principle: Principle
    line: int = 0  # line in the pairs file; 0 for the constitution's examples
    row: dict[str, Any] = field(default_factory=dict)  # pool columns a rule check or judge template reads
    from_examples: bool = False  # one of the principle's own examples: left out of its few-shots when checked

    @property
    def key(self) -> str:
        """The pair's stable name (loop/pairs.py): outcomes are recorded under it across rounds."""
        return pair_key(self.principle.id, self.prompt, self.chosen, self.rejected, self.row)


def adhoc_principle(text: str) -> Principle:
    """A principle given as text only (principle_text): an id derived from the text, no examples."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return Principle(id=f"adhoc_{digest}", title=" ".join(text.split()[:6]), text=text.strip())


def load_pairs(path: str | Path, constitution: Constitution) -> list[Pair]:
    """Read and validate a pairs file (loop/pairs.py); any problem is one LoopError naming the line."""
    adhoc: dict[str, Principle] = {}
    pairs = []
    for labeled in read_pairs(path, {p.id: p.is_rule for p in constitution.principles}):
        principle = (constitution.get(labeled.principle) if labeled.principle
                     else adhoc.setdefault(labeled.principle_text, adhoc_principle(labeled.principle_text)))
        pairs.append(Pair(labeled.prompt, labeled.chosen, labeled.rejected, principle, labeled.line, labeled.row))
    return pairs


def principle_pairs(constitution: Constitution, principle: Principle) -> list[Pair]:
    """A principle's reliability pairs: its pairs file where it has one, else its labeled examples."""
    shipped = constitution.pairs(principle.id)
    if shipped:
        return [Pair(p.prompt, p.chosen, p.rejected, principle, p.line, p.row) for p in shipped]
    return [Pair(ex.prompt, ex.good, ex.bad, principle, row=ex.row, from_examples=True) for ex in principle.examples]


def constitution_pairs(constitution: Constitution) -> list[Pair]:
    """Every principle's reliability pairs (see `principle_pairs`)."""
    pairs = [pair for p in constitution.principles for pair in principle_pairs(constitution, p)]
    if not pairs:
        raise LoopError("the constitution has no labeled pairs or examples; add constitution/pairs/<id>.jsonl, "
                        "[[examples]], or pass --pairs FILE")
    return pairs


def judge_scores(judge, pairs: list[Pair], view: str | None = None,
                 on_progress: Callable[[int], None] | None = None) -> Scores:
    """The judge's (chosen, rejected) scores of each pair. A pair from the principle's own examples is
    judged with that example taken out of the few-shots. `on_progress(n)` is called after each batch
    with the number of pairs it judged (a checker runs for tens of seconds)."""
    scores: Scores = [(None, None)] * len(pairs)
    # Principle holds dicts (rubric, check), so it is not hashable: group by id and few-shots.
    groups: dict[tuple, tuple[Principle, list[int]]] = {}
    for i, pair in enumerate(pairs):
        principle = pair.principle
        if pair.from_examples:
            principle = replace(principle, examples=tuple(
                ex for ex in principle.examples if (ex.prompt, ex.good, ex.bad) != (pair.prompt, pair.chosen, pair.rejected)))
        groups.setdefault((principle.id, principle.examples), (principle, []))[1].append(i)
    for principle, idx in groups.values():
        # chosen and rejected in one call: they share the prompt, hence the baseline and the prefix.
        prompts = [pairs[i].prompt for i in idx] * 2
        responses = [pairs[i].chosen for i in idx] + [pairs[i].rejected for i in idx]
        rows = [pairs[i].row for i in idx] * 2
        crits = judge.score(prompts, responses, principle=principle, view=view, rows=rows)
        for j, i in enumerate(idx):
            scores[i] = (crits[j].score, crits[j + len(idx)].score)
        if on_progress is not None:
            on_progress(len(idx))
    return scores


def rule_scores(pairs: list[Pair]) -> Scores:
    """A rule principle's own reading of its pairs: its check (loop/rules.py) on chosen and on rejected
    (None: it could not check, e.g. the pair lacks the column it compares with); (None, None) for judged
    ones."""
    checks = {p.principle.id: resolve_check(p.principle) for p in pairs if p.principle.is_rule}
    return [(checks[p.principle.id](p.chosen, p.row), checks[p.principle.id](p.rejected, p.row))
            if p.principle.id in checks else (None, None) for p in pairs]


def check(judge, pairs: list[Pair], on_progress: Callable[[int], None] | None = None) -> dict:
    """Pairwise accuracy overall and per principle; rule principles are also read by their rule.
    `on_progress`: as in `judge_scores`."""
    return summarize(pairs, judge_scores(judge, pairs, on_progress=on_progress), rule_scores(pairs))


def pair_stats(items: Scores) -> dict:
    """Accuracy (strictly above; ties and None are misses), its 95 % Wilson interval, and the counts."""
    outcomes = [correct(c, r) for c, r in items]
    return {**figure(outcomes), "correct": sum(outcomes),
            "ties": sum(is_number(c) and is_number(r) and c == r for c, r in items),
            "unscored": sum((not is_number(c)) + (not is_number(r)) for c, r in items),
            "mean_margin": mean(c - r for c, r in items if is_number(c) and is_number(r))}


def rule_stats(principle: Principle, items: Scores) -> dict:
    """A rule's reading of its pairs. Unlike the judge's, a None is not a miss: a rule that cannot check
    a pair ("could not score", e.g. the pair lacks the pool column the rule reads) says nothing about
    it, so the accuracy is over the pairs it scored on both sides (n), and `unscored` counts the rest's
    answers. `reads`: the pool column the rule needs, where it needs one (a pairs line carries it)."""
    scored = [(c, r) for c, r in items if is_number(c) and is_number(r)]
    out = {**pair_stats(scored), "unscored": sum((not is_number(c)) + (not is_number(r)) for c, r in items)}
    kind = (principle.check or {}).get("type")
    if kind in CHECK_COLUMNS:
        out["reads"] = principle.check.get("column", CHECK_COLUMNS[kind])
    return out


def summarize(pairs: list[Pair], scores: Scores, rules: Scores | None = None) -> dict:
    per: dict[str, list[int]] = {}
    for i, pair in enumerate(pairs):
        per.setdefault(pair.principle.id, []).append(i)
    out = pair_stats(scores)
    out["per_principle"] = {}
    for pid, idx in per.items():
        principle = pairs[idx[0]].principle
        # A rule principle is rewarded by its rule in training, never by the judge: its judge figure is
        # there to compare with the rule's, and its source says which one decides.
        entry = {"title": principle.title, "source": "rule" if principle.is_rule else "judge",
                 **pair_stats([scores[i] for i in idx])}
        if rules is not None and principle.is_rule:
            entry["rule"] = rule_stats(principle, [rules[i] for i in idx])
        out["per_principle"][pid] = entry
    out["pairs"] = [{"line": p.line, "principle": p.principle.id, "chosen": c, "rejected": r}
                    for p, (c, r) in zip(pairs, scores)]
    return out
