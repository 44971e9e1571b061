"""Rule checks: `(completion text, dataset row) -> float in [0, 1] or None`.

Rules wherever the answer is verifiable (DeepSeek-V3): a principle that declares a `[check]` is
rewarded by its rule, which cannot be flattered. A check is a built-in by name or a function named by
its dotted import path (imported here, from a module loop.toml allows); the constitution names it, it
never holds code. None means "could not
check" (no answer to compare against, a row without the label a check reads), never 0.

The checks that read a pool row's label (answer, refusal, admits_unknown, format) and max_words' loops judge
with loop/criteria.py, the same functions the probes pass or fail by. On the ground floor, next to
criteria: it needs only them and the constitution, so the rewards, the held-out evaluation and
judge-check (loop/judging/judge_check.py) all read the one copy.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any, Callable

from loop import criteria
from loop.constitution import CHECK_COLUMNS, Principle
from loop.errors import LoopError, line_of_key


def check_max_words(text: str, row: dict, *, max: int, fail_loops: bool = False) -> float:
    """1.0 up to `max` words, then shrinking as max/words: long answers lose reward smoothly. With
    `fail_loops`, 0.0 for a reply that loops (a sentence said twice, a phrase said three times): a
    135M model's commonest padding, and the one a word count misses when the loop is cut short."""
    if fail_loops and criteria.repeats(text):
        return 0.0
    words = len(text.split())
    return 1.0 if words <= max else max / words


def check_regex(text: str, row: dict, *, must: str | None = None, must_not: str | None = None) -> float:
    ok = (must is None or re.search(must, text) is not None) and (must_not is None or re.search(must_not, text) is None)
    return 1.0 if ok else 0.0


def _score(passed: bool | None) -> float | None:
    """A criterion's verdict as a reward: 1.0 or 0.0, and None ("could not check") kept as None."""
    return None if passed is None else float(passed)


def check_answer(text: str, row: dict, *, column: str = CHECK_COLUMNS["answer"], mode: str = "numeric") -> float | None:
    """The reply's last number (or whole text, mode "exact") against the row's answer (loop/criteria.py)."""
    return _score(criteria.answers(text, row.get(column), mode))


def check_refusal(text: str, row: dict, *, column: str = CHECK_COLUMNS["refusal"]) -> float | None:
    """"refuse" rows: 1.0 for a refusal that does not go on to comply; "unknowable" rows: 1.0 when the reply
    says it cannot know; "comply" rows: 1.0 unless the reply refuses or says it cannot know; other rows:
    None."""
    return _score(criteria.passes("refusal", text, row.get(column)))


def check_admits_unknown(text: str, row: dict, *, column: str = CHECK_COLUMNS["admits_unknown"]) -> float | None:
    """"unknowable" rows: 1.0 when the reply says it cannot know; other rows: None."""
    return _score(criteria.passes("admits_unknown", text, row.get(column)))


def check_format(text: str, row: dict, *, column: str = CHECK_COLUMNS["format"]) -> float | None:
    """Rows whose column holds a format spec ("one_word", "list:3", ...): 1.0 when the reply has that shape
    and does not decline; other rows: None."""
    return _score(criteria.passes("format", text, row.get(column)))


BUILTIN_CHECKS: dict[str, Callable[..., float | None]] = {
    "max_words": check_max_words,
    "regex": check_regex,
    "answer": check_answer,
    "refusal": check_refusal,
    "admits_unknown": check_admits_unknown,
    "format": check_format,
}


def resolve_check(principle: Principle) -> Callable[[str, dict], float | None]:
    """The rule function of a principle: a built-in by name, or a custom one by dotted import path (of a
    module loop.toml's [checks] allow lists: the workspace refuses any other when it loads the constitution)."""
    spec = dict(principle.check or {})
    kind = spec.pop("type")
    if kind != "custom":
        func = BUILTIN_CHECKS[kind]
        return lambda text, row: func(text, row, **spec)
    return import_custom_check(principle)


def check_module(principle: Principle) -> str:
    """The module a custom check's path names: "pkg.mod:func" and "pkg.mod.func" both name pkg.mod."""
    return principle.check["path"].replace(":", ".").rpartition(".")[0]  # type: ignore[index]


def _path_line(principle: Principle) -> dict[str, Any]:
    """Where a custom check's path is written: the principle file and the line of `path`."""
    where: dict[str, Any] = {"path": principle.path or None}
    if principle.path and Path(principle.path).is_file():
        text = Path(principle.path).read_text("utf-8")
        where["line"] = line_of_key(text, "path", "check") or line_of_key(text, "path")
    return where


def refuse_unlisted_check(principle: Principle, allowed: Callable[[str], bool]) -> None:
    """A custom check may name only a module its user allowed (loop.toml's [checks] allow): importing a
    module runs its code, and a constitution is data that anyone may send. Nothing is imported here."""
    module = check_module(principle)
    if not allowed(module):
        raise LoopError(f"custom check '{principle.check['path']}' imports module '{module}', which loop.toml does "  # type: ignore[index]
                        f"not allow; if you trust it, list it in loop.toml: [checks] allow = [\"{module}\"]",
                        **_path_line(principle))


def import_custom_check(principle: Principle) -> Callable[[str, dict], float | None]:
    """The function a `type = "custom"` check names by import path ("pkg.mod:func" or "pkg.mod.func").

    `loop check` calls this once the module is allowed (refuse_unlisted_check), so a path that does not
    resolve is refused there, naming the file and line, and not minutes later when the round builds its
    rewards (which call it too)."""
    raw = principle.check["path"]  # type: ignore[index]  # only called for custom checks
    attr = raw.replace(":", ".").rpartition(".")[2]
    try:
        func = getattr(importlib.import_module(check_module(principle)), attr)
    except (ImportError, AttributeError) as err:
        raise LoopError(f"custom check '{raw}' cannot be imported ({err}); install the module that defines it, "
                        "or fix the path", **_path_line(principle)) from None
    if not callable(func):
        raise LoopError(f"custom check '{raw}' is not callable; name a function (completion_text, row) -> float",
                        **_path_line(principle))
    return func
