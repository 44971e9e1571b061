"""The rich Console every view prints to.

rich already does the right thing for pipes and NO_COLOR (no colour, no cursor tricks); tests pass
their own `Console(width=80, file=io.StringIO(), color_system=None)` to the renderers.
"""

from __future__ import annotations

import sys

from rich.console import Console


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """`loop log | head`: the reader stopped reading, which is no failure. rich's default exits 1;
        silence stdout as rich does, and let the CLI's BrokenPipeError handler end with 0."""
        from loop.views.json_out import silence_stdout

        self.quiet = True
        silence_stdout()
        raise BrokenPipeError


def make_console(stderr: bool = False, width: int | None = None) -> Console:
    # Keep lines readable on very wide terminals; rich picks the terminal width otherwise.
    console = _Console(stderr=stderr, width=width)
    if width is None and console.is_terminal and console.width > 120:
        console = _Console(stderr=stderr, width=120)
    return console


def is_terminal() -> bool:
    return sys.stdout.isatty()
