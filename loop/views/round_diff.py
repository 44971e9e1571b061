"""`loop constitution diff --rounds A B`: what the rules of the game were in two rounds.

Each round keeps a snapshot of the constitution and templates exactly as it used them, plus their
version and hashes in round.json. The diff is read from those snapshots, never from the workspace
(which may have changed since), one unified diff per principle file and per template. A constitution
whose text changed while its version did not is called out: results are traced by version.
"""

from __future__ import annotations

from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from loop.ledger import Ledger, round_name
from loop.views.constitution_view import render_diff
from loop.views.paging import paged


def _version(info: dict) -> tuple[str, str, str]:
    c = info.get("constitution") or {}
    return str(c.get("name", "")), str(c.get("version", "")), str(c.get("sha256", ""))


def diff_rounds(ledger: Ledger, a: int, b: int, console: Console, *, pager: bool = True) -> int:
    """The `loop constitution diff --rounds A B` command."""
    constitution_a, templates_a = ledger.snapshot(a)  # require_round: one line for a missing round
    constitution_b, templates_b = ledger.snapshot(b)
    name_a, version_a, sha_a = _version(ledger.round_info(a))
    name_b, version_b, sha_b = _version(ledger.round_info(b))
    label_a, label_b = round_name(a), round_name(b)

    with paged(console, enabled=pager):
        console.print(Text(f"run {ledger.run} · round {a} → round {b}", style="bold"))
        console.print(Rule(Text(f"constitution {name_a or '?'}" + (f" → {name_b}" if name_b != name_a else "")),
                           align="left"))
        same = constitution_a == constitution_b
        if sha_a and sha_b:
            console.print(Text(f"sha256 {sha_a[:12]} → {sha_b[:12]}", style="dim"))
        if same:  # render_diff's "bump the version" hint is for changed text only
            console.print(Text(f"version {version_a or '?'}, identical text", style="dim"))
            version_a = version_b = ""
        render_diff(constitution_a, constitution_b, console, label_a=f"{label_a}/constitution",
                    label_b=f"{label_b}/constitution", version_a=version_a, version_b=version_b)
        console.print(Rule(Text("templates"), align="left"))
        changed = render_diff(templates_a, templates_b, console, label_a=f"{label_a}/prompts",
                              label_b=f"{label_b}/prompts")
        if changed:
            console.print(Text(f"{changed} template{'s' * (changed != 1)} changed", style="yellow"))
    return 0
