"""The behaviours a pool row asks for, and the share of a round each gets ([quotas] in loop.toml).

Every pool row asks for one behaviour: refusing a harmful request ("refuse"), admitting what cannot be
known ("unknowable"), helping ("comply"), following a format ("format") or giving a checkable answer
("answer"). Self-rewarding rounds are dealt by these (loop/training/deal.py), and `loop check` refuses a
quota table the pool cannot fill.
"""

from __future__ import annotations

import math
from typing import Any

from loop import criteria

BEHAVIOURS = ("refuse", "unknowable", "comply", "format", "answer")


def behaviour(row: dict[str, Any]) -> str | None:
    """The behaviour a pool row asks for: its `expect` label, "format" for a format spec, "answer" for a
    row with an `answer` to check; None for a row that asks for none of them."""
    expect = row.get("expect")
    if expect in ("refuse", "unknowable", "comply"):
        return expect
    if isinstance(expect, str) and criteria.expect_error("format", expect) is None:
        return "format"
    if row.get("answer") is not None:
        return "answer"
    return None


def quota_counts(quotas: dict[str, float], n: int) -> dict[str, int]:
    """Slots per behaviour out of n, by largest remainder (ties in the order of BEHAVIOURS); what the
    quotas leave (their sum below 1) is not counted here."""
    exact = {b: quotas.get(b, 0.0) * n for b in BEHAVIOURS}
    counts = {b: math.floor(v + 1e-9) for b, v in exact.items()}
    target = min(n, math.floor(sum(exact.values()) + 1e-9))
    by_remainder = sorted(BEHAVIOURS, key=lambda b: (-(exact[b] - counts[b]), BEHAVIOURS.index(b)))
    for b in by_remainder[:max(0, target - sum(counts.values()))]:
        counts[b] += 1
    return counts


def quota_errors(quotas: dict[str, Any], pool: list[dict[str, Any]], n: int) -> list[str]:
    """What is wrong with a quota table for this pool and round size, one sentence each (empty: fine)."""
    errors = [f"unknown behaviour '{b}' in [quotas]; behaviours: {', '.join(BEHAVIOURS)}"
              for b in quotas if b not in BEHAVIOURS]
    errors += [f"[quotas] {b} must be a number from 0 to 1" for b, v in quotas.items()
               if b in BEHAVIOURS and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1)]
    if errors:
        return errors
    if sum(quotas.values()) > 1 + 1e-9:
        errors.append(f"[quotas] sum to {sum(quotas.values()):g}; they must sum to at most 1")
    have = {b: sum(behaviour(row) == b for row in pool) for b in BEHAVIOURS}
    for b, count in quota_counts(quotas, n).items():
        if count > have[b]:
            errors.append(f"[quotas] {b} asks for {count} prompts a round but the pool has {have[b]} "
                          f"labeled {b}; lower it or add rows")
    return errors
