"""Demonstrations for the warm start: prompts with the answers the policy should learn to give.

A JSONL file in the workspace (default `prompts/demonstrations.jsonl`, `[train] demonstrations`), one
object per line with a non-empty "prompt" and "response", and optionally a "category" (for reading
the file; the training ignores it). Unknown keys are errors, as everywhere: a typo must not silently
drop an answer. The warm start (loop/training/warm_start.py) adds the constitution's good examples.
"""

from __future__ import annotations

from pathlib import Path

from loop.datafile import iter_jsonl
from loop.errors import LoopError, did_you_mean

KEYS = {"prompt", "response", "category"}


def read_demonstrations(path: str | Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for number, row in iter_jsonl(path, "demonstrations file"):
        for key in row:
            if key not in KEYS:
                raise LoopError(f"unknown key '{key}'{did_you_mean(key, KEYS)}; allowed: {', '.join(sorted(KEYS))}",
                                path=path, line=number)
        for key in ("prompt", "response"):
            if not isinstance(row.get(key), str) or not row[key].strip():
                raise LoopError(f"each line needs a non-empty \"{key}\" string", path=path, line=number)
        if "category" in row and not isinstance(row["category"], str):
            raise LoopError("'category' must be a string", path=path, line=number)
        key = " ".join(row["prompt"].lower().split())
        if key in seen:
            raise LoopError(f"the prompt of line {seen[key]} again; give each demonstration its own prompt",
                            path=path, line=number)
        seen[key] = number
        rows.append({"prompt": row["prompt"], "response": row["response"], "category": row.get("category", "")})
    if not rows:
        raise LoopError("no demonstrations; write one JSON object per line with a \"prompt\" and a \"response\"",
                        path=path)
    return rows
