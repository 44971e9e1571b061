"""judge-check: how often the judge prefers the better of two responses, on labeled pairs.

A judge whose scores do not order a good and a bad answer to the same prompt is noise, and every
round would train on it. So the judge is measured the way reward models are (RewardBench): pairwise
accuracy, where a pair counts as correct only when `chosen` scores strictly higher than `rejected`
(a tie, or a score of None, is a miss). Calibration subtracts the same per-prompt baseline from both
sides, so it never changes which side wins; the margins it reports are on the calibrated scale.

Pairs come from a JSONL file (one object per line: prompt, chosen, rejected, and either `principle`,
an id in the workspace constitution, or `principle_text`, an ad-hoc principle rendered through the
same templates; other keys are ignored), or from the constitution's own labeled examples. When the
examples double as few-shots, each is checked with itself left out of the prompt: a judge shown the
answer would look better than it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from loop.constitution import Constitution, Principle
from loop.datafile import iter_jsonl
from loop.errors import LoopError
from loop.stats import mean


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str
    principle: Principle
    line: int = 0  # line in the pairs file; 0 for the constitution's examples


def adhoc_principle(text: str) -> Principle:
    """A principle given as text only (principle_text): an id derived from the text, no examples."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]
    return Principle(id=f"adhoc_{digest}", title=" ".join(text.split()[:6]), text=text.strip())


def load_pairs(path: str | Path, constitution: Constitution) -> list[Pair]:
    """Read and validate a pairs file; any problem is one LoopError naming the line."""
    pairs = []
    adhoc: dict[str, Principle] = {}
    for line, obj in iter_jsonl(path, "pairs file"):
        for key in ("prompt", "chosen", "rejected"):
            if key not in obj:
                raise LoopError(f"missing key '{key}'; each line needs prompt, chosen, rejected and principle "
                                "(or principle_text)", path=path, line=line)
            if not isinstance(obj[key], str):
                raise LoopError(f"'{key}' must be a string", path=path, line=line)
        has_id, has_text = "principle" in obj, "principle_text" in obj
        if has_id == has_text:
            raise LoopError("give exactly one of 'principle' (an id in the constitution) or 'principle_text'"
                            if has_id else "missing key 'principle' (an id in the constitution) or 'principle_text'",
                            path=path, line=line)
        if has_id:
            if not isinstance(obj["principle"], str):
                raise LoopError("'principle' must be a string id", path=path, line=line)
            try:
                principle = constitution.get(obj["principle"])
            except LoopError as err:
                raise LoopError(str(err), path=path, line=line) from None
        else:
            text = obj["principle_text"]
            if not isinstance(text, str) or not text.strip():
                raise LoopError("'principle_text' must be a non-empty string", path=path, line=line)
            principle = adhoc.setdefault(text, adhoc_principle(text))
        pairs.append(Pair(obj["prompt"], obj["chosen"], obj["rejected"], principle, line))
    if not pairs:
        raise LoopError("no pairs in the file; write one JSON object per line", path=path)
    return pairs


def constitution_pairs(constitution: Constitution) -> list[Pair]:
    """Every labeled example of every principle, as a (good, bad) pair."""
    pairs = [Pair(ex.prompt, ex.good, ex.bad, p) for p in constitution.principles for ex in p.examples]
    if not pairs:
        raise LoopError("the constitution has no labeled examples; add [[examples]] or pass --pairs FILE")
    return pairs


def check(judge, pairs: list[Pair], leave_one_out: bool = False,
          on_progress: Callable[[int], None] | None = None) -> dict:
    """Pairwise accuracy overall and per principle. leave_one_out: the pair's own example is taken
    out of the few-shots (for the constitution's examples). `on_progress(n)` is called after each
    batch with the number of pairs it judged (a checker runs for tens of seconds)."""
    scores: list[tuple[float | None, float | None]] = [(None, None)] * len(pairs)
    # Principle holds dicts (rubric, check), so it is not hashable: group by id and few-shots.
    groups: dict[tuple, tuple[Principle, list[int]]] = {}
    for i, pair in enumerate(pairs):
        principle = pair.principle
        if leave_one_out:
            principle = replace(principle, examples=tuple(
                ex for ex in principle.examples if (ex.prompt, ex.good, ex.bad) != (pair.prompt, pair.chosen, pair.rejected)))
        groups.setdefault((principle.id, principle.examples), (principle, []))[1].append(i)
    for principle, idx in groups.values():
        # chosen and rejected in one call: they share the prompt, hence the baseline and the prefix.
        prompts = [pairs[i].prompt for i in idx] * 2
        responses = [pairs[i].chosen for i in idx] + [pairs[i].rejected for i in idx]
        crits = judge.score(prompts, responses, principle=principle)
        for j, i in enumerate(idx):
            scores[i] = (crits[j].score, crits[j + len(idx)].score)
        if on_progress is not None:
            on_progress(len(idx))
    return summarize(pairs, scores)


def summarize(pairs: list[Pair], scores) -> dict:
    def stats(items) -> dict:
        correct = sum(c is not None and r is not None and c > r for c, r in items)
        margins = [c - r for c, r in items if c is not None and r is not None]
        return {"accuracy": correct / len(items), "n": len(items), "correct": correct,
                "unscored": sum((c is None) + (r is None) for c, r in items),
                "mean_margin": mean(margins)}

    per: dict[str, list] = {}
    titles: dict[str, str] = {}
    for pair, s in zip(pairs, scores):
        per.setdefault(pair.principle.id, []).append(s)
        titles[pair.principle.id] = pair.principle.title
    out = stats(scores)
    out["per_principle"] = {pid: {"title": titles[pid], **stats(items)} for pid, items in per.items()}
    out["pairs"] = [{"line": p.line, "principle": p.principle.id, "chosen": c, "rejected": r}
                    for p, (c, r) in zip(pairs, scores)]
    return out
