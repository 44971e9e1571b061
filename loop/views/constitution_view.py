"""Rendering a constitution and diffs between two of them."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from loop.constitution import CHECK_COLUMNS, Constitution, diff_files
from loop.views.charts import MISSING
from loop.views.reliability_view import interval, weight_cell


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


# The rule kinds in a word or two, for the compact table (describe_reward says them in full).
RULE_SHORT = {"max_words": "words", "regex": "regex", "answer": "answer", "refusal": "refusal",
              "admits_unknown": "admits unknown", "format": "format"}


def short_reward(check: dict | None) -> str:
    """"judge", "rule: ≤ 40 words", "rule: format": how a principle is rewarded, in one short line."""
    if check is None:
        return "judge"
    if check["type"] == "max_words":
        return f"rule: ≤ {check['max']} words"
    return f"rule: {RULE_SHORT.get(check['type'], 'custom')}"


def rewarded_by(p, measured: tuple[int, dict] | None) -> Text:
    """The rule, or the judge and how well it read the principle's labeled pairs in the run's latest
    measured round (accuracy [95% interval], n, and the weight that earned)."""
    if p.check is not None:
        return Text(describe_reward(p.check))
    entry = measured[1].get("reliability", {}).get(p.id) if measured else None
    if not entry:
        return Text("judge\n") + Text("accuracy not measured", style="dim")
    effective = measured[1].get("effective_weights", {}).get(p.id)
    text = Text("judge, accuracy\n") + Text(interval(entry)) + Text(f"\nn {entry['n']}, round {measured[0]}",
                                                                      style="dim")
    if effective is not None:
        text += Text(f"\nweight {weight_cell(p.weight, effective)}", style="bold red" if effective == 0 else "")
    return text


def render_constitution(constitution: Constitution, console: Console, measured: tuple[int, dict] | None = None,
                        questions: dict[str, str] | None = None, *, full: bool = False, run: str | None = None) -> None:
    """The principles, one row each: id, weight, how each is rewarded and how well the judge read it
    (`measured` = (round, what it recorded of its judge) from run `run`'s ledger, loop/views/
    reliability_view.py `latest_reliability`), then a legend. `full` adds each one's text, rubric and
    the judge's question (`questions`: {id: question}) as the long table."""
    if full:
        console.print(full_table(constitution, measured, questions))
    else:
        console.print(compact_table(constitution, measured))
    for line in legend(constitution, measured, run, full):
        console.print(line)


def compact_table(constitution: Constitution, measured: tuple[int, dict] | None) -> Table:
    """One line per principle: what a reader asks first, at 80 columns."""
    reliability = measured[1].get("reliability", {}) if measured else {}
    effective = measured[1].get("effective_weights", {}) if measured else {}
    table = Table(title=f"{constitution.name} v{constitution.version} (sha256 {constitution.short_hash}): "
                        f"{len(constitution.principles)} principles", title_justify="left", header_style="bold")
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("weight", justify="right", no_wrap=True)
    table.add_column("rewarded by", no_wrap=True)
    table.add_column("judge accuracy", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    for p in constitution.principles:
        entry = None if p.is_rule else reliability.get(p.id)
        weight = weight_cell(p.weight, effective.get(p.id, p.weight))
        table.add_row(p.id, Text(weight, style="bold red" if effective.get(p.id) == 0 else ""), short_reward(p.check),
                      "" if p.is_rule else interval(entry), str(entry["n"]) if entry else "")
    return table


def full_table(constitution: Constitution, measured: tuple[int, dict] | None,
               questions: dict[str, str] | None) -> Table:
    """Each principle with its text, rubric, the judge's question and its rule in full."""
    table = Table(title=f"{constitution.name} v{constitution.version}  (sha256 {constitution.short_hash})",
                  caption=constitution.description or None, show_lines=True, expand=True)
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("weight", justify="right")
    table.add_column("rewarded by", max_width=20)
    table.add_column("principle", ratio=1, min_width=30)
    table.add_column("examples", justify="right")
    for p in constitution.principles:
        text = Text(p.title + "\n", style="bold") + Text(p.text)
        if p.rubric:
            text += Text(f"\nlow: {p.rubric['low']}\nhigh: {p.rubric['high']}", style="dim")
        if (questions or {}).get(p.id):
            text += Text("\nasks: ", style="bold") + Text(questions[p.id], style="italic")
        table.add_row(p.id, f"{p.weight:g}", rewarded_by(p, measured), text, str(len(p.examples)))
    return table


def legend(constitution: Constitution, measured: tuple[int, dict] | None, run: str | None, full: bool) -> list[Text]:
    """What the figures are, where they come from, and how to record them when nothing has."""
    judged = [p.id for p in constitution.principles if not p.is_rule]
    lines = []
    if judged and measured:
        unread = [pid for pid in judged if pid not in measured[1].get("reliability", {})]
        adapter = measured[1].get("judging_adapter") or {}
        wearing = f", wearing the judging adapter trained in round {adapter.get('trained_in')}," if adapter else ""
        lines.append(Text(f"judge accuracy: how often round {measured[0]}'s judge"
                          + (f" (run {run})" if run else "") + f"{wearing} scored the better answer of a labeled "
                          "pair higher, with its 95% interval; n: pairs. weight: what that accuracy earned in "
                          "training, of the declared weight.", style="dim"))
        if unread:
            lines.append(Text(f"{MISSING}: {', '.join(unread)} not read in round {measured[0]}; the next round "
                              "of `loop run` reads its pairs.", style="dim"))
    elif judged:
        lines.append(Text(f"{MISSING}: how well the judge reads each principle's labeled pairs is not measured"
                          + (f" in run {run}" if run else "") + " yet; `loop run --rounds 0` records it (round 0 "
                          "reads every pair), `loop judge-check` prints it without recording it.", style="dim"))
    if not full:
        lines.append(Text("each principle's text, rubric and the question its judge is asked: "
                          "loop constitution show --full", style="dim"))
    return lines


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
