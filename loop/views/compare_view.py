"""`loop compare --rounds A B`: the same held-out prompts answered by two rounds, side by side.

Scores are taken from the anchor judge by default, not from each round's own judge: round t is
judged by the start of round t, so two rounds' own scores come from two different judges and their
difference mixes the answers' change with the judge's drift. The anchor judge (the run's round-0
model) is the same for every round, so its deltas measure the answers alone. Rule principles use the
rule result, which no judge can drift. `--judge round` shows the rounds' own judges instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from loop.ledger import Ledger
from loop.ledger.queries import check_principle
from loop.stats import is_number, mean
from loop.views.charts import answer_text, delta, fmt, score_bar
from loop.views.json_out import write_json
from loop.views.paging import paged
from loop.views.reliability_view import anchor_line

TIE = 0.01  # score differences smaller than this count as ties (judge noise at 135M is larger)


@dataclass
class PromptPair:
    """One held-out prompt and both rounds' answers and per-principle scores."""

    index: int
    prompt: str
    completion_a: str
    completion_b: str
    scores_a: dict[str, float | None]
    scores_b: dict[str, float | None]
    cut_a: int | None = None  # the answer hit the length limit at this many tokens (eval.jsonl "cut_tokens")
    cut_b: int | None = None

    def deltas(self) -> dict[str, float | None]:
        return {p: (self.scores_b.get(p) - self.scores_a.get(p))
                if is_number(self.scores_a.get(p)) and is_number(self.scores_b.get(p)) else None
                for p in dict.fromkeys([*self.scores_a, *self.scores_b])}

    def to_json(self) -> dict:
        return {"index": self.index, "prompt": self.prompt, "completion_a": self.completion_a,
                "completion_b": self.completion_b, "scores_a": self.scores_a, "scores_b": self.scores_b,
                "deltas": self.deltas(), "cut_tokens_a": self.cut_a, "cut_tokens_b": self.cut_b}


def principle_scores(record: dict, judge: str) -> dict[str, float | None]:
    """{principle: score} of one eval.jsonl record: rule results for rule principles, else the judge's."""
    judged = record.get("anchor_scores" if judge == "anchor" else "scores") or {}
    rules = record.get("rules") or {}
    return {**{p: v for p, v in judged.items() if p not in rules}, **rules}


def pair_rounds(evals_a: list[dict], evals_b: list[dict], judge: str,
                principle: str | None = None) -> tuple[list[PromptPair], list[int], list[int]]:
    """Join two rounds' held-out records on their index; also the indices found in only one of them."""
    by_a = {e["index"]: e for e in evals_a}
    by_b = {e["index"]: e for e in evals_b}
    pairs = []
    for i in sorted(set(by_a) & set(by_b)):
        a, b = by_a[i], by_b[i]
        sa, sb = principle_scores(a, judge), principle_scores(b, judge)
        if principle:
            sa, sb = {principle: sa.get(principle)}, {principle: sb.get(principle)}
        pairs.append(PromptPair(i, str(a.get("prompt", "")), str(a.get("completion", "")),
                                str(b.get("completion", "")), sa, sb, a.get("cut_tokens"), b.get("cut_tokens")))
    return pairs, sorted(set(by_a) - set(by_b)), sorted(set(by_b) - set(by_a))


def _score_cell(score) -> Text:
    return score_bar(score, width=8) + Text(f" {fmt(score)}")


def pair_panel(pair: PromptPair, a: int, b: int) -> Panel:
    table = Table(box=None, padding=(0, 1), expand=True, header_style="bold")
    table.add_column("", no_wrap=True, style="bold")
    table.add_column(f"round {a}", ratio=1)
    table.add_column(f"round {b}", ratio=1)
    table.add_column("Δ", justify="right", no_wrap=True)
    table.add_row("answer", answer_text(pair.completion_a, pair.cut_a), answer_text(pair.completion_b, pair.cut_b), "")
    deltas = pair.deltas()
    for p in deltas:
        table.add_row(p, _score_cell(pair.scores_a.get(p)), _score_cell(pair.scores_b.get(p)),
                      delta(pair.scores_a.get(p), pair.scores_b.get(p), tie=TIE))
    return Panel(Group(Text(pair.prompt, style="bold"), table), title=f"held-out #{pair.index}", title_align="left")


@dataclass
class Tally:
    wins: int = 0
    losses: int = 0
    ties: int = 0

    def add(self, d: float | None) -> None:
        if d is None:
            return
        if d >= TIE:
            self.wins += 1
        elif d <= -TIE:
            self.losses += 1
        else:
            self.ties += 1


def summary_table(pairs: list[PromptPair], a: int, b: int, judge: str) -> Table:
    """Per principle: mean score in each round, the change, and on how many prompts B beat A."""
    principles = list(dict.fromkeys(p for pair in pairs for p in pair.deltas()))
    table = Table(title=f"round {b} vs round {a} ({judge} judge; rules by rule)", title_justify="left",
                  header_style="bold", expand=False,
                  caption=f"round {a}, round {b}: mean score over the held-out prompts, 0–1; wins, losses, ties: "
                          f"prompts where round {b} scored higher, lower, within {TIE:g}", caption_justify="left")
    table.add_column("principle", style="bold")
    for name in (f"round {a}", f"round {b}", "Δ", "wins", "losses", "ties"):
        table.add_column(name, justify="right")
    for p in principles:
        tally = Tally()
        for pair in pairs:
            tally.add(pair.deltas()[p])
        ma, mb = mean(pair.scores_a.get(p) for pair in pairs), mean(pair.scores_b.get(p) for pair in pairs)
        table.add_row(p, fmt(ma), fmt(mb), delta(ma, mb, tie=TIE), Text(str(tally.wins), style="green"),
                      Text(str(tally.losses), style="red"), str(tally.ties))
    return table


def overall_tally(pairs: list[PromptPair]) -> Tally:
    """Per prompt: did B's mean score over principles beat A's?"""
    tally = Tally()
    for pair in pairs:
        ma, mb = mean(pair.scores_a.values()), mean(pair.scores_b.values())
        tally.add(mb - ma if is_number(ma) and is_number(mb) else None)
    return tally


def render_compare(pairs: list[PromptPair], a: int, b: int, console: Console, *, judge: str,
                   only_a: list[int], only_b: list[int]) -> None:
    for pair in pairs:
        console.print(pair_panel(pair, a, b))
    if not pairs:
        console.print(f"[yellow]rounds {a} and {b} have no held-out prompts in common[/]")
    else:
        console.print(summary_table(pairs, a, b, judge))
        t = overall_tally(pairs)
        console.print(Text.assemble(f"by mean score, round {b} is ", (f"better on {t.wins}", "green"), ", ",
                                    (f"worse on {t.losses}", "red"), f", the same on {t.ties} of {len(pairs)} prompts"))
    for only, n in ((only_a, a), (only_b, b)):
        if only:
            console.print(f"[dim]only round {n} has held-out prompts {', '.join(map(str, only))}[/]")


def compare_rounds(ledger: Ledger, a: int, b: int, console: Console, *, judge: str = "anchor",
                   principle: str | None = None, as_json: bool = False, pager: bool = True) -> int:
    """The `loop compare` command: rounds a and b of the run, scored by `judge` ("anchor" or "round")."""
    evals_a, evals_b = ledger.evaluations(a), ledger.evaluations(b)  # require_round: one line if missing
    if principle:
        known = sorted({p for e in evals_a + evals_b for p in principle_scores(e, "anchor")}
                       | {p for e in evals_a + evals_b for p in principle_scores(e, "round")})
        check_principle(principle, known, f"the held-out scores of rounds {a} and {b}")
    pairs, only_a, only_b = pair_rounds(evals_a, evals_b, judge, principle)
    if as_json:
        write_json([p.to_json() for p in pairs])
        return 0
    with paged(console, enabled=pager):
        heading = f"run {ledger.run} · round {a} → round {b} · {len(pairs)} held-out prompts"
        console.print(Text(heading, style="bold"))
        if judge == "anchor":  # the anchor decides these scores: how well does it read each principle?
            console.print(Text(anchor_line(ledger), style="dim"))
        render_compare(pairs, a, b, console, judge=judge, only_a=only_a, only_b=only_b)
    return 0
