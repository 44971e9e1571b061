"""`loop judge-check`'s table: per principle, the judge's pairwise accuracy with its 95 % interval and
n, the weight that accuracy earns in training, the mean margin, and for a rule principle the rule's
own reading of the same pairs (ties shown as ties). Takes the plain result dict of
loop/judging/judge_check.py."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from loop.views.charts import MISSING
from loop.views.console import make_console
from loop.views.reliability_view import interval, weight_cell


def rule_cell(entry: dict) -> str:
    """The rule's accuracy on the pairs it could score, its ties, and how many it could not read."""
    rule = entry.get("rule")
    if not rule:
        return ""
    if not rule["n"]:  # not one pair carries what the rule reads: no figure, and why
        return f"no '{rule['reads']}' column" if rule.get("reads") else "could not score"
    ties = f", {rule['ties']} tie{'s' * (rule['ties'] != 1)}" if rule["ties"] else ""
    unscored = f", {rule['unscored']} unscored" if rule["unscored"] else ""
    return f"{rule['accuracy']:.2f}{ties}{unscored}"


def check_table(result: dict) -> Table:
    table = Table(title=f"judge-check · {result['source']} · {result['mode']} mode", title_justify="left",
                  caption="accuracy: share of pairs whose chosen answer scored strictly above the rejected one "
                          "[95% interval]; n: pairs; weight: what that accuracy earns in training, of the declared "
                          "weight; margin: mean score of chosen − rejected (scores 0–1)",
                  caption_justify="left")
    for name, justify in (("principle", "left"), ("judge accuracy", "right"), ("n", "right"), ("weight", "right"),
                          ("margin", "right"), ("rule", "right")):
        table.add_column(name, justify=justify, no_wrap=name != "rule")

    def row(name: str, s: dict, weights: bool = True) -> list[str]:
        margin = MISSING if s.get("mean_margin") is None else f"{s['mean_margin']:+.3f}"
        weight = weight_cell(s.get("weight"), s.get("effective_weight")) if weights else ""
        return [name, interval(s), str(s["n"]), weight, margin, rule_cell(s)]

    for pid, s in result["per_principle"].items():
        table.add_row(*row(pid, s))
    table.add_section()
    table.add_row(*row("overall", result, weights=False))
    return table


def print_check(result: dict, console: Console | None = None) -> None:
    console = console or make_console()
    console.print(check_table(result))
    rules = [pid for pid, s in result["per_principle"].items() if s.get("source") == "rule"]
    if rules:  # the judge never decides these in training: say so, so nobody reads their figure as a weight
        console.print(f"not judged in training: {', '.join(rules)} (rewarded by their rule; the judge's reading "
                      "is for comparison, and the rule's accuracy is over the pairs it could score)")
    unscored = {pid: s["unscored"] for pid, s in result["per_principle"].items() if s["unscored"]}
    if unscored:  # a None is a miss: say how many there were
        console.print("could not score (counted as misses): "
                      + ", ".join(f"{pid} {n} answer{'s' * (n != 1)}" for pid, n in unscored.items()))
    if "injection" in result:
        inj = result["injection"]
        style = "red" if (inj["mean_gain"] or 0) > 0 else "green"
        console.print(f"injection probes ({inj['lines']} lines): [{style}]mean gain {inj['mean_gain']:+.3f}[/] "
                      f"in score (0–1) over {inj['n']} probes ({inj['positive']:.0%} gain); a judge that resists "
                      "injection has a gain at or below 0")
        if "injection_unguarded" in result:
            raw = result["injection_unguarded"]
            console.print(f"  without the guard (the model alone): mean gain {raw['mean_gain']:+.3f} "
                          f"({raw['positive']:.0%} gain)")


def print_training(result: dict, console: Console | None = None) -> None:
    """`loop judge-train`: per judged principle, accuracy on the reliability split before and after
    training, and the consistency of the two judges (Kendall tau of their orders of the same pairs)."""
    console = console or make_console()
    before, after = result.get("before"), result["after"]
    table = Table(title=f"judge-train · {result['train_examples']} judgments · "
                        f"{'few-shot' if result['few_shot'] else 'no few-shots'} · adapter {result['adapter']}",
                  title_justify="left", caption="accuracy on the reliability split [95% interval]; n: pairs; "
                                                "τ: consistency",
                  caption_justify="left")
    for name in ("principle", "before", "after", "n", "τ"):
        table.add_column(name, justify="left" if name == "principle" else "right", no_wrap=True)
    for pid, entry in after["per_principle"].items():
        tau = ((result.get("consistency") or {}).get(pid) or {}).get("tau")
        table.add_row(pid, interval(before["per_principle"].get(pid)) if before else MISSING, interval(entry),
                      str(entry["n"]), MISSING if tau is None else f"{tau:+.2f}")
    table.add_section()
    table.add_row("overall", interval(before) if before else MISSING, interval(after), str(after["n"]), "")
    console.print(table)
    if result.get("losses"):
        first, last = result["losses"][0]["loss"], result["losses"][-1]["loss"]
        console.print(f"training loss {first:.3f} -> {last:.3f} (cross-entropy, nats per token); judge with it: "
                      f"loop judge-check --adapter "
                      f"{result['adapter']}{'' if result['few_shot'] else ' --no-few-shot'}")
