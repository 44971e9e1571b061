"""`loop log --preferences`: what a DPO round was taught to prefer, one panel per pair.

A pair is one prompt's best and worst sampled answer (loop/training/dpo_round.py). The panel shows the
prompt, each principle's reward for the chosen and the rejected answer side by side with the
difference, the weighted totals, the margin the pair was kept by, and then both answers in full: a
reader checks at a glance whether the preferred answer is the better one, and which principle made it so.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from loop.errors import LoopError
from loop.ledger import Ledger
from loop.ledger.queries import rounds_on_disk
from loop.stats import is_number
from loop.views.charts import MISSING, answer_text, delta, fmt, score_bar
from loop.views.json_out import write_json_lines
from loop.views.paging import paged

Pair = dict


def pair_panel(pair: Pair) -> Panel:
    """One pair: the prompt, a row per principle (chosen, rejected, difference), the totals, both answers."""
    scores = Table(box=None, padding=(0, 1), show_edge=False, header_style="dim")
    scores.add_column("principle", style="bold", no_wrap=True)
    scores.add_column("chosen (0–1)", no_wrap=True)
    scores.add_column("rejected (0–1)", no_wrap=True)
    scores.add_column("Δ", justify="right", no_wrap=True)
    chosen, rejected = pair.get("chosen_scores") or {}, pair.get("rejected_scores") or {}
    for principle in dict.fromkeys([*chosen, *rejected]):
        a, b = chosen.get(principle), rejected.get(principle)
        scores.add_row(principle, score_bar(a) + Text(f" {fmt(a):>4}"), score_bar(b) + Text(f" {fmt(b):>4}"),
                       delta(b, a))
    scores.add_row("total reward", Text(fmt(pair.get("chosen_total"))), Text(fmt(pair.get("rejected_total"))),
                   delta(pair.get("rejected_total"), pair.get("chosen_total")), style="bold")
    answers = Table.grid(padding=(0, 1))
    answers.add_column(style="bold", no_wrap=True)
    answers.add_column(ratio=1)
    answers.add_row("prompt", Text(str(pair.get("prompt", ""))))
    answers.add_row(Text("chosen", style="bold green"),
                    answer_text(str(pair.get("chosen", "")), pair.get("chosen_cut_tokens")))
    answers.add_row(Text("rejected", style="bold red"),
                    answer_text(str(pair.get("rejected", "")), pair.get("rejected_cut_tokens")))
    title = " · ".join(f"{name} {'?' if value is None else value}" for name, value in
                       (("round", pair.get("round")), ("prompt", pair.get("group")),
                        ("samples", f"{pair.get('chosen_sample')} over {pair.get('rejected_sample')}")))
    margin = pair.get("margin")
    subtitle = Text((f"margin {margin:+.2f}" if is_number(margin) else f"margin {MISSING}")
                    + " (chosen − rejected, in the value pairs are ranked by)")
    return Panel(Group(answers, Text(""), scores), title=title, title_align="left", subtitle=subtitle,
                 subtitle_align="right")


def counts_line(counts: dict | None) -> str:
    """How the round's prompts fared: pairs kept, ties skipped, groups without two scored answers."""
    if not counts:
        return ""
    ranked = counts.get("ranked_by", "sum_then_normalize")
    unit = "weighted reward" if ranked == "sum_then_normalize" else f"{ranked} units"
    return (f"{counts['pairs']} pair(s) from {counts['prompts']} prompts; skipped: {counts['ties']} tie(s) within "
            f"the margin {counts['margin']:g} ({unit}), {counts['too_few_scored']} with fewer than two scored "
            f"answers; {counts['unscored_answers']} answer(s) nothing could score")


def preference_round(ledger: Ledger, round_number: int | None) -> int:
    """The round to show: the one asked for (which must have pairs), else the latest that has them."""
    with_pairs = [n for n in rounds_on_disk(ledger) if (ledger.round_dir(n) / "preferences.jsonl").exists()]
    if round_number is None:
        if not with_pairs:
            raise LoopError(f"run '{ledger.run}' has no DPO round with preference pairs yet; DPO rounds run with "
                            "[train] method = \"dpo\" or `loop run --method dpo`", path=ledger.path)
        return with_pairs[-1]
    ledger.require_round(round_number)
    if round_number not in with_pairs:
        kind = ledger.round_info(round_number).get("kind")
        have = f"; rounds with pairs: {', '.join(map(str, with_pairs))}" if with_pairs else ""
        raise LoopError(f"round {round_number} has no preference pairs{f' (a {kind} round)' if kind else ''}: "
                        f"only DPO rounds have them{have}", path=ledger.path)
    return round_number


def show_preferences(ledger: Ledger, console: Console, *, round_number: int | None, contains: str | None = None,
                     as_json: bool = False, pager: bool = True) -> int:
    """The `loop log --preferences` command: a DPO round's pairs, as panels or JSON Lines."""
    n = preference_round(ledger, round_number)
    pairs = ledger.preferences(n)
    if contains:
        needle = contains.casefold()
        pairs = [p for p in pairs
                 if any(needle in str(p.get(key, "")).casefold() for key in ("prompt", "chosen", "rejected"))]
    if as_json:
        write_json_lines(pairs)
        return 0
    with paged(console, enabled=pager):
        console.print(Text(f"run {ledger.run} · round {n} preference pairs · {len(pairs)} shown"
                           + (f" · containing {contains!r}" if contains else ""), style="bold"))
        line = counts_line(ledger.metrics(n).get("preferences"))
        if line:
            console.print(Text(line, style="dim"))
        if not pairs:
            console.print("[yellow]no pairs to show[/]")
        for pair in pairs:
            console.print(pair_panel(pair))
    return 0
