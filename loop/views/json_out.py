"""JSON on stdout for `--json`: for jq and scripts, so never through rich (no wrapping, no markup).

A reader that stops early (`loop log --json | head`) closes the pipe; that is not a failure. stdout
is pointed at /dev/null so the interpreter's last flush cannot fail again, and the BrokenPipeError
goes up to the CLI, which ends with exit code 0.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Iterable


def silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout without a file descriptor (a test's StringIO)
        pass


def write_json(value: Any) -> None:
    """One JSON document."""
    _write([json.dumps(value, ensure_ascii=False, indent=1)])


def write_json_lines(records: Iterable[dict]) -> None:
    """One JSON object per line, flushed, so a follower sees each batch at once."""
    _write(json.dumps(r, ensure_ascii=False) for r in records)


def _write(lines: Iterable[str]) -> None:
    try:
        for line in lines:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
        raise
