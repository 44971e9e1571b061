"""The one error type users see: a single line naming the file, the place and the fix.

Library code raises `LoopError`; the CLI prints its message and exits with code 2. Nothing else
reaches a user as a traceback for bad input.
"""

from __future__ import annotations

import difflib
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, TypeVar

T = TypeVar("T")


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


class LoopErrors(LoopError):
    """Several LoopErrors found in one pass (`loop check` prints each on its own line). Anywhere else it
    reads as one line: the first error and how many more there are."""

    def __init__(self, errors: list[LoopError]):
        self.errors = list(errors)
        more = len(self.errors) - 1
        super().__init__(f"{self.errors[0]} (and {more} more; `loop check` lists them all)" if more else
                         str(self.errors[0]))


class Problems:
    """The errors a validation pass has found so far, so one pass reports every one of them.

    A loader runs each independent piece in `with problems.gather():`; at its end, `settle` hands what
    it found to the caller's Problems (which then goes on checking), or raises them when the caller
    gave none (one LoopError as itself, several as LoopErrors)."""

    def __init__(self) -> None:
        self.errors: list[LoopError] = []

    def __bool__(self) -> bool:
        return bool(self.errors)

    def add(self, err: LoopError) -> None:
        self.errors.extend(err.errors if isinstance(err, LoopErrors) else [err])

    @contextmanager
    def gather(self) -> Iterator[None]:
        """Run a block; a LoopError it raises is kept (the block stops there, the pass goes on)."""
        try:
            yield
        except LoopError as err:
            self.add(err)

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise LoopErrors(self.errors)

    def settle(self, result: T, into: Problems | None) -> T:
        """`result`, with the errors handed to `into`; without `into`, raise them (if any) instead."""
        if into is None:
            self.raise_any()
        else:
            into.errors.extend(self.errors)
        return result
