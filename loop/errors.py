"""The one error type users see: a single line naming the file, the place and the fix.

Library code raises `LoopError`; the CLI prints its message and exits with code 2. Nothing else
reaches a user as a traceback for bad input.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path


class LoopError(Exception):
    """Bad input or state a person can fix. `str(err)` is the whole message, one line."""

    exit_code = 2

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None):
        where = ""
        if path is not None:
            where = f"{display_path(path)}:{line}: " if line else f"{display_path(path)}: "
        super().__init__(where + " ".join(str(message).split()))


def display_path(path: str | Path) -> str:
    """A path relative to the current directory when it is inside it: shorter, and what people typed."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(p)


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def line_of_key(text: str, key: str) -> int | None:
    """The first line where `key = ...` (or `[key]`) appears in TOML text; None when it cannot be found."""
    pattern = re.compile(rf"^\s*(\[+\s*)?[\"']?{re.escape(key)}[\"']?\s*(=|\]|\.)", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None
