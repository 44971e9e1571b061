"""Rule checks: `(completion text, dataset row) -> float in [0, 1] or None`.

Rules wherever the answer is verifiable (DeepSeek-V3): a principle that declares a `[check]` is
rewarded by its rule, which cannot be flattered. A check is a built-in by name or a function named by
its dotted import path; the constitution names it, it never holds code. None means "could not
check" (no answer to compare against), never 0.
"""

from __future__ import annotations

import re
from typing import Callable

from loop.constitution import Principle, import_custom_check

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


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
    return import_custom_check(principle)
