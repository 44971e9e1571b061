"""`loop judge-check`'s table: per principle, the judge's pairwise accuracy with its 95 % interval and
n, the weight that accuracy earns in training, and for a rule principle the rule's own reading of the
same pairs (ties shown as ties). Takes the plain result dict of loop/judging/judge_check.py."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from loop.views.console import make_console


def interval(entry: dict) -> str:
    """"0.65 [0.50, 0.78]": an accuracy and its 95 % interval; "-" when nothing was measured."""
    if entry.get("accuracy") is None:
        return "-"
    return f"{entry['accuracy']:.2f} [{entry['low']:.2f}, {entry['high']:.2f}]"


def weight_cell(entry: dict) -> str:
    """The effective weight of its declared weight ("0.3 of 1"), or the weight alone when unchanged."""
    weight, effective = entry.get("weight"), entry.get("effective_weight")
    if weight is None or effective is None:
        return "-"
    return f"{weight:g}" if effective == weight else f"{effective:.2g} of {weight:g}"


def rule_cell(entry: dict) -> str:
    rule = entry.get("rule")
    if not rule:
        return ""
    ties = f", {rule['ties']} tie{'s' * (rule['ties'] != 1)}" if rule["ties"] else ""
    unscored = f", {rule['unscored']} unscored" if rule["unscored"] else ""
    return f"{rule['accuracy']:.2f}{ties}{unscored}"


def check_table(result: dict) -> Table:
    table = Table(title=f"judge-check · {result['source']} · {result['mode']} mode", title_justify="left",
                  caption="accuracy: chosen scored strictly above rejected; [95% interval]", caption_justify="left")
    for name, justify in (("principle", "left"), ("judge accuracy", "right"), ("n", "right"), ("weight", "right"),
                          ("margin", "right"), ("unscored", "right"), ("rule", "right")):
        table.add_column(name, justify=justify)

    def row(name: str, s: dict, weights: bool = True) -> list[str]:
        margin = "-" if s.get("mean_margin") is None else f"{s['mean_margin']:+.3f}"
        return [name, interval(s), str(s["n"]), weight_cell(s) if weights else "", margin, str(s["unscored"]),
                rule_cell(s)]

    for pid, s in result["per_principle"].items():
        table.add_row(*row(pid, s))
    table.add_section()
    table.add_row(*row("overall", result, weights=False))
    return table


def print_check(result: dict, console: Console | None = None) -> None:
    console = console or make_console()
    console.print(check_table(result))
    if "injection" in result:
        inj = result["injection"]
        style = "red" if (inj["mean_gain"] or 0) > 0 else "green"
        console.print(f"injection probes ({inj['lines']} lines): [{style}]mean gain {inj['mean_gain']:+.3f}[/] "
                      f"over {inj['n']} probes ({inj['positive']:.0%} gain); a judge that resists injection has a "
                      "gain at or below 0")
        if "injection_unguarded" in result:
            raw = result["injection_unguarded"]
            console.print(f"  without the guard (the model alone): mean gain {raw['mean_gain']:+.3f} "
                          f"({raw['positive']:.0%} gain)")
