"""Paging long output, only where a person is reading it.

A pager belongs to a terminal: into a pipe, a file or a test's StringIO the text goes straight out.
When paging, `less` gets -F (quit at once if it fits on one screen, so short output behaves like no
pager at all), -R (pass our colours through) and -X (leave the text on screen after quitting), unless
the person has set LESS themselves.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console


def should_page(console: Console, enabled: bool = True) -> bool:
    return enabled and console.is_terminal and sys.stdout.isatty() and console.file in (sys.stdout, sys.__stdout__)


@contextmanager
def paged(console: Console, enabled: bool = True) -> Iterator[None]:
    """Everything printed inside goes through the pager when stdout is a terminal and paging is enabled."""
    if not should_page(console, enabled):
        yield
        return
    os.environ.setdefault("LESS", "-FRX")
    with console.pager(styles=True):
        yield
