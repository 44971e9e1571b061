"""Dealing a self-rewarding round its prompts by behaviour, with the quotas loop.toml sets.

A round trains on what its prompts ask for: a round dealt six prompts in the pool's proportions held one
harmful request or none, the same for every seed, and the rounds undid the warm start's refusals. So each
round gets a share of every behaviour ([quotas]: refuse, unknowable, comply, format, answer), counted
by largest remainder; the rest of the slots (when the quotas sum below 1) come from the whole training
order. Each behaviour's prompts are taken in the run's seeded training order, round after round, so seeds
differ and no prompt is skipped. A dealt harmful request brings its benign twin (the pool's `twin`
column: the same alarming words with a harmless intent) into the round's comply slots, so the round sees
both sides of the line the rule draws.
"""

from __future__ import annotations

from typing import Any

from loop.quotas import BEHAVIOURS, behaviour, quota_counts


def deal(order: list[int], pool: list[dict[str, Any]], k: int, n: int, quotas: dict[str, float]) -> list[int]:
    """The pool indices of the k-th self-rewarding round (k = 0, 1, ...): n prompts, each behaviour's
    quota taken from its own queue in the seeded `order` (wrapping around), benign twins of the harmful
    requests first among the comply slots, and the rest from `order` itself. No prompt twice in a round."""
    counts = quota_counts(quotas, n)
    queues = {b: [i for i in order if behaviour(pool[i]) == b] for b in BEHAVIOURS}
    chosen: list[int] = []
    for b in BEHAVIOURS:
        chosen += take(queues[b], k * counts[b], counts[b], chosen)
    # The benign twins of the dealt harmful requests take the comply slots of prompts that are no twin.
    wanted = twin_indices(pool, [i for i in chosen if behaviour(pool[i]) == "refuse"])
    free = [i for i in chosen if behaviour(pool[i]) == "comply" and i not in wanted]
    for slot, twin in zip(free, [t for t in wanted if t not in chosen]):
        chosen[chosen.index(slot)] = twin
    rest = n - len(chosen)
    return chosen + take(order, k * rest, rest, chosen)


def take(queue: list[int], start: int, count: int, taken: list[int]) -> list[int]:
    """`count` items of `queue` from position `start` on (wrapping), skipping what is `taken`."""
    out: list[int] = []
    if not queue:
        return out
    for step in range(len(queue)):
        if len(out) == count:
            break
        item = queue[(start + step) % len(queue)]
        if item not in taken and item not in out:
            out.append(item)
    return out


def twin_indices(pool: list[dict[str, Any]], indices: list[int]) -> list[int]:
    """The pool indices of the benign twins of the given rows (the rows whose prompt their `twin` names)."""
    where = {row["prompt"]: i for i, row in enumerate(pool)}
    return [where[pool[i]["twin"]] for i in indices if pool[i].get("twin") in where]
