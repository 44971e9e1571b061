"""The prompt pool: user prompts as JSONL data, validated line by line, loaded as a `datasets.Dataset`.

Each line is an object with a non-empty "prompt" and optionally "answer" (the right answer, for the
answer check), "expect" (the expected behaviour, for the refusal, admits_unknown and format checks:
"refuse", "comply", "unknowable", "one_word", "list:3", ...), "category", "twin" (a harmful
request's benign twin) and "reference" (a reference answer, for judge templates that read it,
loop/template_columns.py). Columns that a rule
check names (`column = "..."`) are allowed as well; any other key is an error, so a typo never
silently drops a label. Labels and answers must be ones the rules read: an `expect` that is no known
behaviour, or an answer its answer check cannot compare, would leave the prompt unscored, silently.

It sits on the ground floor beside the constitution, not in loop/training/: the pool is data a person
edits, validated when the workspace is checked (`loop check`, before any model loads), and the round
only reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from loop.constitution import CHECK_COLUMNS, Constitution
from loop.criteria import FORMATS, expect_error
from loop.datafile import iter_jsonl
from loop.errors import LoopError, Problems, did_you_mean

BASE_KEYS = {"prompt", "answer", "expect", "category", "twin", "reference"}
LABELS = ("refuse", "unknowable", "comply")


def allowed_columns(constitution: Constitution | None) -> set[str]:
    extra = {p.check.get("column", CHECK_COLUMNS[p.check["type"]]) for p in (constitution.principles if constitution else ())
             if p.check and p.check["type"] in CHECK_COLUMNS}
    return BASE_KEYS | extra


def label_error(column: str, value: str) -> str | None:
    """Why a behaviour label is not one a rule reads (refuse, unknowable, comply or a format spec), or None."""
    if expect_error("refusal", value) is None or expect_error("format", value) is None:
        return None
    return (f"'{column}' {value!r} is not a known label{did_you_mean(value, [*LABELS, 'one_word', 'yes_no'])}; "
            f"use {', '.join(LABELS)} or a format: {FORMATS}")


def answer_error(column: str, value: str, mode: str) -> str | None:
    """Why an answer cannot be compared in the answer check's mode (numeric: a number), or None."""
    if not value.strip():
        return f"'{column}' is empty; give the answer, or leave the key out"
    if mode == "numeric" and expect_error("answer", value) is not None:
        return (f"'{column}' {value!r} is not a number, and the answer check compares the reply's last number with "
                "it; write the number (e.g. \"12\"), or set mode = \"exact\" in the check")
    return None


def column_checks(constitution: Constitution | None) -> dict[str, Callable[[str, str], str | None]]:
    """{column: (column, value) -> why the value is wrong or None}: the behaviour labels ("expect", and any
    column a label check reads) and the answers of each answer check, in its mode. A value no rule can
    read would make its rule say "could not check" on every sample of that prompt, silently."""
    checks: dict[str, Callable[[str, str], str | None]] = {"expect": label_error}
    for p in constitution.principles if constitution else ():
        kind = p.check["type"] if p.check else None
        if kind in CHECK_COLUMNS:
            column = p.check.get("column", CHECK_COLUMNS[kind])  # type: ignore[union-attr]
            mode = p.check.get("mode", "numeric")  # type: ignore[union-attr]
            checks[column] = (lambda c, v, mode=mode: answer_error(c, v, mode)) if kind == "answer" else label_error
    return checks


def read_pool(path: str | Path, constitution: Constitution | None = None,
              problems: Problems | None = None) -> list[dict]:
    """The pool's rows, validated (see numbered_pool)."""
    return [row for _, row in numbered_pool(path, constitution, problems)]


def numbered_pool(path: str | Path, constitution: Constitution | None = None,
                  problems: Problems | None = None) -> list[tuple[int, dict]]:
    """(line number, row) of every valid row. Every bad line is found: with `problems` they are added
    there, else raised."""
    allowed, checks = allowed_columns(constitution), column_checks(constitution)
    found, rows = Problems(), []
    for number, row in iter_jsonl(path, "prompt pool", found):
        with found.gather():
            rows.append((number, _row(row, allowed, checks, path, number)))
    if not rows and not found:
        found.add(LoopError("the prompt pool is empty; add one JSON object per line with a \"prompt\"", path=path))
    return found.settle(rows, problems)


def _row(row: dict, allowed: set[str], checks: dict, path: str | Path, number: int) -> dict:
    for key in row:
        if key not in allowed:
            raise LoopError(f"unknown key '{key}'{did_you_mean(key, allowed)}; allowed: {', '.join(sorted(allowed))}",
                            path=path, line=number)
    if not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
        raise LoopError("each line needs a non-empty \"prompt\" string", path=path, line=number)
    for key in allowed - {"prompt"}:
        value = row.get(key)
        if value is not None and not isinstance(value, (str, int, float)):
            raise LoopError(f"'{key}' must be a string or a number", path=path, line=number)
        # One type per column, so datasets (Arrow) can hold it: answers are kept as text.
        row[key] = None if value is None else str(value)
        error = checks[key](key, row[key]) if key in checks and row[key] is not None else None
        if error:
            raise LoopError(error, path=path, line=number)
    return row


def load_pool(path: str | Path, constitution: Constitution | None = None):
    """The pool as a `datasets.Dataset` (one row per prompt, every allowed column present)."""
    from datasets import Dataset

    return Dataset.from_list(read_pool(path, constitution))
