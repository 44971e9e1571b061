"""Rendering a constitution and diffs between two of them."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from loop.constitution import CHECK_COLUMNS, Constitution, diff_files


def describe_reward(check: dict | None) -> str:
    if check is None:
        return "judge"
    kind = check["type"]
    if kind == "max_words":
        return f"rule: at most {check['max']} words" + (", no loops" if check.get("fail_loops") else "")
    if kind == "regex":
        parts = [f"must match /{check['must']}/" if check.get("must") else "",
                 f"must not match /{check['must_not']}/" if check.get("must_not") else ""]
        return "rule: " + ", ".join(p for p in parts if p)
    column = check.get("column", CHECK_COLUMNS.get(kind))
    if kind == "answer":
        return f"rule: {check.get('mode', 'numeric')} answer vs column '{column}'"
    if kind == "refusal":
        return f"rule: refuses, admits not knowing or answers as column '{column}' says"
    if kind == "admits_unknown":
        return f"rule: says it cannot know where column '{column}' says unknowable"
    if kind == "format":
        return f"rule: follows the format in column '{column}' (one_word, yes_no, list:N, max_words:N)"
    return f"rule: {check['path']}"


def render_constitution(constitution: Constitution, console: Console, questions: dict[str, str] | None = None) -> None:
    """The principles as a table; `questions` ({id: the judge's question}) adds each one's question."""
    table = Table(title=f"{constitution.name} v{constitution.version}  (sha256 {constitution.short_hash})",
                  caption=constitution.description or None, show_lines=True, expand=True)
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("weight", justify="right")
    table.add_column("rewarded by", max_width=20)
    table.add_column("principle", ratio=1, min_width=30)
    table.add_column("ex.", justify="right")
    for p in constitution.principles:
        text = Text(p.title + "\n", style="bold") + Text(p.text)
        if p.rubric:
            text += Text(f"\nlow: {p.rubric['low']}\nhigh: {p.rubric['high']}", style="dim")
        if (questions or {}).get(p.id):
            text += Text("\nasks: ", style="bold") + Text(questions[p.id], style="italic")
        table.add_row(p.id, f"{p.weight:g}", describe_reward(p.check), text, str(len(p.examples)))
    console.print(table)


def render_diff(files_a: dict[str, str], files_b: dict[str, str], console: Console, *, label_a: str = "a",
                label_b: str = "b", version_a: str = "", version_b: str = "",
                headers: tuple[str, str] | None = None) -> int:
    """Print a unified diff per changed file; returns the number of changed files. `headers`: see
    loop.constitution.diff_files."""
    if version_a or version_b:
        style = "bold yellow" if version_a != version_b else "dim"
        note = "" if version_a != version_b else "  (same version: bump it when principles change)"
        console.print(Text(f"version: {version_a or '?'} -> {version_b or '?'}{note}", style=style))
    diffs = diff_files(files_a, files_b, label_a, label_b, headers=headers)
    if not diffs:
        console.print("[green]no differences[/]")
        return 0
    for name, lines in diffs.items():
        body = Text()
        for line in lines:
            style = "green" if line.startswith("+") and not line.startswith("+++") else \
                "red" if line.startswith("-") and not line.startswith("---") else \
                "cyan" if line.startswith("@@") else "dim"
            body.append(line + "\n", style=style)
        status = "added" if name not in files_a else "removed" if name not in files_b else "changed"
        console.print(Panel(Group(body), title=f"{name} ({status})", title_align="left"))
    return len(diffs)
