"""`loop log --preferences`: what a DPO round was taught to prefer, one panel per pair.

A pair is one prompt's best and worst sampled answer (loop/training/dpo_round.py). The panel shows the
prompt, each principle's reward for the chosen and the rejected answer side by side with the
difference, the weighted totals, the margin the pair was kept by, and then both answers in full: a
reader checks at a glance whether the preferred answer is the better one, and which principle made it so.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from loop.ledger import Ledger
from loop.ledger.queries import round_with
from loop.stats import is_number
from loop.views.charts import MISSING, answer_text, delta, fmt, labeled_grid, score_pair_row, score_pair_table
from loop.views.critique_records import containing, records_title
from loop.views.json_out import write_json_lines
from loop.views.paging import paged

Pair = dict


def pair_panel(pair: Pair) -> Panel:
    """One pair: the prompt, a row per principle (chosen, rejected, difference), the totals, both answers."""
    scores = score_pair_table("chosen", "rejected")
    chosen, rejected = pair.get("chosen_scores") or {}, pair.get("rejected_scores") or {}
    for principle in dict.fromkeys([*chosen, *rejected]):
        a, b = chosen.get(principle), rejected.get(principle)
        score_pair_row(scores, principle, a, b, delta(b, a))
    scores.add_row("total reward", Text(fmt(pair.get("chosen_total"))), Text(fmt(pair.get("rejected_total"))),
                   delta(pair.get("rejected_total"), pair.get("chosen_total")), style="bold")
    answers = labeled_grid([
        ("prompt", Text(str(pair.get("prompt", "")))),
        (Text("chosen", style="bold green"), answer_text(str(pair.get("chosen", "")), pair.get("chosen_cut_tokens"))),
        (Text("rejected", style="bold red"),
         answer_text(str(pair.get("rejected", "")), pair.get("rejected_cut_tokens")))])
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
            f"answers; {counts['unscored_answers']} answer(s) nothing could score"
            + (f"; and {counts['revision_pairs']} revision(s) over the answer revised" if counts.get("revision_pairs") else ""))


def preference_round(ledger: Ledger, round_number: int | None) -> int:
    """The round to show: the one asked for (which must have pairs), else the latest that has them."""
    return round_with(ledger, round_number, "preferences.jsonl", "preference pairs",
                      "no DPO round with preference pairs yet; DPO rounds run with [train] method = \"dpo\" or "
                      "`loop run --method dpo`", only="only DPO rounds have them")


def show_preferences(ledger: Ledger, console: Console, *, round_number: int | None, contains: str | None = None,
                     as_json: bool = False, pager: bool = True) -> int:
    """The `loop log --preferences` command: a DPO round's pairs, as panels or JSON Lines."""
    n = preference_round(ledger, round_number)
    pairs = containing(ledger.preferences(n), contains, ("prompt", "chosen", "rejected"))
    if as_json:
        write_json_lines(pairs)
        return 0
    with paged(console, enabled=pager):
        console.print(Text(records_title(ledger.run, n, "preference pairs", len(pairs), contains), style="bold"))
        line = counts_line(ledger.metrics(n).get("preferences"))
        if line:
            console.print(Text(line, style="dim"))
        if not pairs:
            console.print("[yellow]no pairs to show[/]")
        for pair in pairs:
            console.print(pair_panel(pair))
    return 0
