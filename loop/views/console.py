"""The rich Console every view prints to.

rich already does the right thing for pipes and NO_COLOR (no colour, no cursor tricks); tests pass
their own `Console(width=80, file=io.StringIO(), color_system=None)` to the renderers.
"""

from __future__ import annotations

import sys

from rich.console import Console


def make_console(stderr: bool = False, width: int | None = None) -> Console:
    # Keep lines readable on very wide terminals; rich picks the terminal width otherwise.
    console = Console(stderr=stderr, width=width)
    if width is None and console.is_terminal and console.width > 120:
        console = Console(stderr=stderr, width=120)
    return console


def is_terminal() -> bool:
    return sys.stdout.isatty()
