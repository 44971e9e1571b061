"""`loop prompts render`: the string a template renders to, as the model sees it.

In a panel for a person; with --raw the string alone, byte for byte (a panel wraps long lines and
draws a border, so it cannot be diffed or fed to a tokenizer); with --json the chat messages and the
string they render to.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from loop.views.console import make_console
from loop.views.json_out import write_json


def show_rendered(template: str, principle: str, messages: list[dict], text: str, n_tokens: int, *,
                  raw: bool = False, as_json: bool = False, console: Console | None = None) -> None:
    """The rendered `text` in a panel titled with its template and token count, or raw, or as JSON."""
    if raw:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    if as_json:
        write_json({"template": template, "principle": principle, "messages": messages, "text": text,
                    "tokens": n_tokens})
        return
    (console or make_console()).print(Panel(Text(text), title=f"{template} · {n_tokens} tokens", title_align="left"))
