"""The prompt pool: user prompts as JSONL data, validated line by line, loaded as a `datasets.Dataset`.

Each line is an object with a non-empty "prompt" and optionally "answer" (the right answer, for the
answer check), "expect" (the expected behaviour, for the refusal, admits_unknown and format checks:
"refuse", "comply", "unknowable", "one_word", "list:3", ...) and "category". Columns that a rule
check names (`column = "..."`) are allowed as well; any other key is an error, so a typo never
silently drops a label.

It sits on the ground floor beside the constitution, not in loop/training/: the pool is data a person
edits, validated when the workspace is checked (`loop check`, before any model loads), and the round
only reads it.
"""

from __future__ import annotations

from pathlib import Path

from loop.constitution import CHECK_COLUMNS, Constitution
from loop.datafile import iter_jsonl
from loop.errors import LoopError, did_you_mean

BASE_KEYS = {"prompt", "answer", "expect", "category", "twin"}


def allowed_columns(constitution: Constitution | None) -> set[str]:
    extra = {p.check.get("column", CHECK_COLUMNS[p.check["type"]]) for p in (constitution.principles if constitution else ())
             if p.check and p.check["type"] in CHECK_COLUMNS}
    return BASE_KEYS | extra


def read_pool(path: str | Path, constitution: Constitution | None = None) -> list[dict]:
    allowed = allowed_columns(constitution)
    rows = []
    for number, row in iter_jsonl(path, "prompt pool"):
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
        rows.append(row)
    if not rows:
        raise LoopError("the prompt pool is empty; add one JSON object per line with a \"prompt\"", path=path)
    return rows


def load_pool(path: str | Path, constitution: Constitution | None = None):
    """The pool as a `datasets.Dataset` (one row per prompt, every allowed column present)."""
    from datasets import Dataset

    return Dataset.from_list(read_pool(path, constitution))
