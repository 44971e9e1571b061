"""Answering the probes, and what the answers say: pass rates, changes from a baseline, fluency.

The probes (loop/probes.py) are answered greedily with the one generator (loop/generation.py), in the
conversation the policy answers in (the round passes its system template), and each answer passes or
fails by its family's criterion (loop/criteria.py). A record per probe, the same whoever writes it
(`loop probes`, or a round into round-NNN/probes.jsonl):

    {"family", "prompt", "expect", "answer", "pass", "cut"}     cut: the answer hit max_new_tokens

An answer whose inputs did not change (the model and its adapter, the conversation, the length
bound) is read back from the workspace's content cache (loop/cache.py), not generated again.

Rates come with Wilson intervals, and the change between two rounds is paired on the same prompts
(Newcombe's interval, loop/stats.py): with 20 to 60 probes a family, a change is only a change when
its interval leaves 0.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Callable, Iterable

from loop.cache import Cache, model_identity
from loop.criteria import passes, repeats
from loop.generation import Answer, greedy_answers
from loop.probes import Probe
from loop.stats import mean, paired_change, wilson

RECORD_KEYS = ("family", "prompt", "expect", "answer", "pass", "cut")
RECORDS_FILE = "probes.jsonl"  # a round's probe records, in its folder (round-NNN/probes.jsonl)


def answer_probes(model, tokenizer, probes: list[Probe], conversation: Callable[[str], list[dict[str, str]]],
                  max_new_tokens: int, batch_size: int = 16, on_batch: Callable[[int], None] | None = None,
                  cache: Cache | None = None, kind: str = "probe") -> list[dict]:
    """One record per probe, in the order given: the greedy answer, whether it passes, whether it was cut.

    `conversation(prompt)` gives the chat messages the model answers (e.g. the policy's system message
    then the prompt); `on_batch(n)` hears of each batch answered; `cache` keeps answers (none: off),
    counted under `kind`."""
    answers = reused_answers(model, tokenizer, [conversation(p.prompt) for p in probes], max_new_tokens,
                             cache or Cache(None), kind, batch_size=batch_size, on_batch=on_batch)
    return [{"family": p.family, "prompt": p.prompt, "expect": p.expect, "answer": a.text,
             "pass": bool(passes(p.criterion, a.text, p.expect)), "cut": a.cut} for p, a in zip(probes, answers)]


def reused_answers(model, tokenizer, conversations: list[list[dict[str, str]]], max_new_tokens: int, cache: Cache,
                   kind: str, batch_size: int = 8, on_batch: Callable[[int], None] | None = None) -> list[Answer]:
    """greedy_answers (loop/generation.py), read back from `cache` (under `kind`) where the model as it
    stands gave them before; the answers read back count as one batch for `on_batch`."""
    items = [{"messages": messages, "max_new_tokens": max_new_tokens, "batch_size": batch_size}
             for messages in conversations]

    def fresh(indices: list[int]) -> list[list]:
        answers = greedy_answers(model, tokenizer, [conversations[i] for i in indices], max_new_tokens,
                                 batch_size=batch_size, on_batch=on_batch)
        return [[a.text, a.cut] for a in answers]

    values = cache.reuse(kind, lambda: {"model": model_identity(model, tokenizer, cache)}, items, fresh,
                         on_hits=lambda hits: on_batch(len(hits)) if on_batch else None)
    return [Answer(text, bool(cut)) for text, cut in values]


def _by_family(records: Iterable[dict]) -> dict[str, list[dict]]:
    families: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        families[record["family"]].append(record)
    return dict(families)


def probe_stats(records: Iterable[dict]) -> dict[str, dict]:
    """{family: {"rate", "low", "high", "n"}}: the pass rate and its 95 % Wilson interval."""
    out = {}
    for family, rows in _by_family(records).items():
        k, n = sum(bool(r["pass"]) for r in rows), len(rows)
        low, high = wilson(k, n)
        out[family] = {"rate": k / n, "low": low, "high": high, "n": n}
    return out


def probe_changes(records: Iterable[dict], baseline_records: Iterable[dict]) -> dict[str, dict]:
    """{family: {"delta", "low", "high", "n"}}: the change in pass rate from the baseline (e.g. round 0)
    on the probes both answered, paired on (family, prompt), with Newcombe's 95 % interval. A family
    with no probe in common is left out: there is nothing to compare."""
    before = {(r["family"], r["prompt"]): bool(r["pass"]) for r in baseline_records}
    out = {}
    for family, rows in _by_family(records).items():
        pairs = [(before[(family, r["prompt"])], bool(r["pass"])) for r in rows if (family, r["prompt"]) in before]
        if pairs:
            delta, low, high, n = paired_change([b for b, _ in pairs], [a for _, a in pairs])
            out[family] = {"delta": delta, "low": low, "high": high, "n": n}
    return out


def probe_fluency(records: Iterable[dict]) -> dict[str, dict]:
    """{family: {"repeats", "cut", "words", "n"}}: the share of answers that loop (loop/criteria.py
    repeats), the share cut by the length limit, and the mean answer length in words (split on spaces,
    as the held-out evaluation counts them). A policy that
    learns to pass by looping one phrase, or that stops finishing its answers, shows here."""
    out = {}
    for family, rows in _by_family(records).items():
        out[family] = {"repeats": mean(float(repeats(r["answer"])) for r in rows),
                       "cut": mean(float(bool(r["cut"])) for r in rows),
                       "words": mean(len(r["answer"].split()) for r in rows), "n": len(rows)}
    return out
