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


def line_of_key(text: str, key: str, section: str | None = None, start: int = 0) -> int | None:
    """The first line where `key = ...` (or `[key]`) appears in TOML text; None when it cannot be found.

    With `section`, only the lines under its `[section]` header count (`name` is in [model] and [run]);
    `start` is a character offset to search from. Only spaces and tabs may precede a key, so a match
    never starts on an earlier, blank line."""
    end = len(text)
    if section is not None:
        header = re.compile(rf"^[ \t]*\[[ \t]*[\"']?{re.escape(section)}[\"']?[ \t]*\]", re.MULTILINE).search(text, start)
        if header is None:
            return None
        start = header.end()
        following = re.compile(r"^[ \t]*\[", re.MULTILINE).search(text, start)
        end = following.start() if following else len(text)
    pattern = re.compile(rf"^[ \t]*(\[+[ \t]*)?[\"']?{re.escape(key)}[\"']?[ \t]*(=|\]|\.)", re.MULTILINE)
    match = pattern.search(text, start, end)
    return text.count("\n", 0, match.start()) + 1 if match else None
