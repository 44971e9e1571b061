"""`loop log`: reading what the model said about its own answers, one panel per completion.

A panel shows the prompt, the completion, then one row per principle: its score as a coloured bar
(rules and judges alike), the anchor judge's score next to it where the anchor scored it (highlighted
when the two are far apart: the sign of a round judge drifting), and the critique. The panel's
subtitle carries what training made of the completion: its total reward and its advantage within its
group.

The anchor judge scores the held-out answers (eval.jsonl); it scores training completions too only
when the round ran with `[judge] anchor_on_training = true`. So `--heldout` shows the held-out answers,
one panel each, and `--disagree` reads them unless the round's training completions carry anchor scores.

With --follow the running round's critiques.jsonl is polled and new completions are printed as they
are appended; the command ends when the round's .partial folder is renamed (the round completed).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from loop.errors import LoopError
from loop.ledger import Ledger
from loop.ledger.queries import (anchor_on_training, check_principle, is_running, judge_is_anchor, latest_round,
                                 principle_ids, round_status)
from loop.stats import is_number
from loop.views.charts import MISSING, answer_text, fmt, score_bar
from loop.views.critique_records import (Completion, LogFilter, Record, disagreement, group_ranks, group_records,
                                         heldout_completions, rank_text)
from loop.views.json_out import write_json_lines
from loop.views.paging import paged
from loop.views.reliability_view import reward_ceiling

DEFAULT_DISAGREE = 0.3  # |judge - anchor| from which the anchor score is highlighted


def completion_panel(c: Completion, highlight_gap: float = DEFAULT_DISAGREE,
                     ranks: dict[str, tuple[int, int, int]] | None = None, reliability: dict | None = None,
                     reward_max: float | None = None) -> Panel:
    """One completion: prompt, answer, each principle's score bar, its rank in the GRPO group (`ranks`,
    from group_ranks), anchor score and critique; a principle's name carries its judge's measured
    accuracy when the round has one (`reliability`: metrics.json "reliability"). The subtitle: the total
    reward, of `reward_max` (reliability_view.reward_ceiling) where known, and the GRPO advantage."""
    head = Table.grid(padding=(0, 1))
    head.add_column(style="bold", no_wrap=True)
    head.add_column(ratio=1)
    head.add_row("prompt", Text(c.prompt))
    head.add_row("answer", answer_text(c.completion, c.cut_tokens))
    rows = score_rows(c, highlight_gap, ranks or {}, reliability or {})
    if c.heldout:
        return Panel(Group(head, Text(""), rows), title=f"round {c.round} · held-out {c.group}", title_align="left",
                     subtitle=Text("greedy answer, never trained on; round judge and anchor judge", style="dim"),
                     subtitle_align="right")
    title = " · ".join(f"{name} {'?' if value is None else value}" for name, value in
                       (("round", c.round), ("step", c.step), ("prompt", c.group), ("sample", c.sample)))
    ceiling = f" of {fmt(reward_max)}" if is_number(reward_max) else ""
    subtitle = Text(f"total reward {fmt(c.total_reward)}{ceiling} · advantage ")
    adv = c.advantage
    subtitle.append(f"{adv:+.2f}" if is_number(adv) else MISSING,
                    style="green" if is_number(adv) and adv > 0 else "red" if is_number(adv) and adv < 0 else "dim")
    subtitle.append(" (group-normalized)", style="dim")
    return Panel(Group(head, Text(""), rows), title=title, title_align="left", subtitle=subtitle,
                 subtitle_align="right")


def score_rows(c: Completion, highlight_gap: float, ranks: dict[str, tuple[int, int, int]], reliability: dict) -> Table:
    """One row per principle: name (and its judge's accuracy), score bar, rank in group, anchor, critique."""
    # The per-principle reward is shown only where it differs from the score (e.g. a calibrated judge):
    # otherwise it repeats the score column. The anchor column only where the anchor judged this answer;
    # the rank only for training completions (a held-out answer has no GRPO group).
    show_reward = not c.heldout and any(r.get("reward") != r.get("score") for r in c.records)
    show_anchor = c.heldout or any(is_number(r.get("anchor_score")) for r in c.records)
    rows = Table(box=None, padding=(0, 1), collapse_padding=True, show_edge=False, expand=True, header_style="dim")
    rows.add_column("principle", no_wrap=True, style="bold")
    rows.add_column("score (0–1)", no_wrap=True)
    if not c.heldout:
        rows.add_column("group rank", justify="right", no_wrap=True)
    if show_anchor:
        rows.add_column("anchor", justify="right", no_wrap=True)
    if show_reward:
        rows.add_column("reward", justify="right", no_wrap=True)
    rows.add_column("critique", ratio=1)
    for r in c.records:
        principle, score = str(r.get("principle", "?")), r.get("score")
        gap = disagreement(r)
        anchor = [Text(fmt(r.get("anchor_score")), style="bold magenta" if gap is not None and gap >= highlight_gap
                       else "" if is_number(r.get("anchor_score")) else "dim")] if show_anchor else []
        critique = Text("rule check" if r.get("kind") == "rule" else "", style="dim")
        if not is_number(score) and r.get("kind") != "unjudged":  # unjudged: its critique says why
            critique.append((": " if critique else "") + "could not score", style="dim")
        if r.get("kind") != "rule" and r.get("critique"):
            critique.append((" " if critique else "") + str(r["critique"]), style="italic")
        if r.get("anchor_critique"):  # held-out answers: the anchor judge's own critique (critique mode)
            critique.append(("\n" if critique else "") + "anchor: ", style="dim")
            critique.append(str(r["anchor_critique"]), style="italic dim")
        for cut in r.get("cuts") or []:  # sentences the judge never saw (loop/judging/guard.py)
            critique.append(("\n" if critique else "") + f"guard cut ({cut.get('reason', '?')}): ", style="bold yellow")
            critique.append(str(cut.get("text", "")), style="yellow")
        reward = [fmt(r.get("reward"))] if show_reward else []
        rank = [] if c.heldout else [rank_text(ranks[principle]) if principle in ranks else MISSING]
        rows.add_row(Text(principle) + reliability_marker(reliability.get(principle)),
                     score_bar(score) + Text(f" {fmt(score):>4}"), *rank, *anchor, *reward, critique)
    return rows


def reliability_marker(measured: dict | None) -> Text:
    """" 69%": how often the principle's judge picked the better answer of held-out labeled pairs;
    red when its interval reaches down to chance (0.5), so the score may be noise."""
    if not measured or not is_number(measured.get("accuracy")):
        return Text("")
    chance = not is_number(measured.get("low")) or measured["low"] <= 0.5
    return Text(f" {measured['accuracy']:.0%}", style="red" if chance else "dim")


RELIABILITY_LEGEND = ("a % after a principle: how often its judge picked the better answer of held-out labeled "
                      "pairs (red: not clearly better than chance)")


def render_log(completions: list[Completion], console: Console, *, heading: str, log_filter: LogFilter,
               written: int = -1, why_empty: str | None = None, ranks: dict | None = None,
               reliability: dict | None = None, reward_max: float | None = None) -> None:
    """The heading, then a panel per completion; when nothing matches, says so (and `why_empty`).
    `ranks`: group_ranks of the round's completions; `reliability`: metrics.json "reliability";
    `reward_max`: the most total reward an answer could earn in the round."""
    console.print(Text(heading, style="bold"))
    if reliability:
        console.print(Text(RELIABILITY_LEGEND, style="dim"))
    if written == 0:
        console.print("[yellow]no held-out answers yet[/]: they are judged when the round ends" if log_filter.heldout
                      else "[yellow]no critiques written yet[/] (follow the round with [bold]loop log --follow[/])")
        return
    if not completions:
        filters = log_filter.describe()
        noun = "held-out answers" if log_filter.heldout else "completions"
        console.print(f"[yellow]no {noun} match[/]" + (f" ({filters})" if filters else ""))
        if why_empty:
            console.print(why_empty)
        return
    gap = log_filter.disagree if log_filter.disagree is not None else DEFAULT_DISAGREE
    for c in completions:
        console.print(completion_panel(c, gap, (ranks or {}).get(c.key), reliability, reward_max))


def write_json(completions: list[Completion]) -> None:
    """JSON Lines on stdout: the ledger's own records of the completions shown (jq-friendly, streamable)."""
    write_json_lines(record for c in completions for record in c.records)


def heading_for(ledger: Ledger, n: int, shown: int, total: int, log_filter: LogFilter) -> str:
    state = round_status(ledger, n)
    filters = log_filter.describe()
    noun = "held-out answers" if log_filter.heldout else "completions"
    return f"run {ledger.run} · round {n} ({state}) · {shown} of {total} {noun}" + (f" · {filters}" if filters else "")


def show_log(ledger: Ledger, console: Console, *, round_number: int | None, log_filter: LogFilter,
             follow: bool = False, as_json: bool = False, pager: bool = True) -> int:
    """The `loop log` command: pick the round (default: the latest), filter, then print panels, JSON, or follow."""
    n = round_number if round_number is not None else latest_round(ledger)
    ledger.require_round(n)
    log_filter.validate()
    log_filter = choose_records(ledger, n, log_filter, follow)
    completions = (heldout_completions(ledger.evaluations(n)) if log_filter.heldout
                   else group_records(ledger.critiques(n)))
    known = sorted(set(principle_ids(ledger, n)) | {str(r.get("principle")) for c in completions for r in c.records})
    check_principle(log_filter.principle, known, f"round {n}")

    if follow:
        if log_filter.ranks:
            raise LoopError("--worst/--best rank a whole round; they cannot be combined with --follow")
        return follow_round(ledger, n, log_filter, console, as_json=as_json)

    shown = log_filter.select(completions)
    if as_json:
        write_json(shown)
        return 0
    with paged(console, enabled=pager):
        render_log(shown, console, heading=heading_for(ledger, n, len(shown), len(completions), log_filter),
                   log_filter=log_filter, written=len(completions), why_empty=why_no_disagreement(ledger, n, log_filter),
                   ranks=None if log_filter.heldout else group_ranks(completions),
                   reliability=ledger.metrics(n).get("reliability"), reward_max=reward_ceiling(ledger.round_info(n)))
    return 0


# Round kinds that train without a judge (or not at all): no critiques.jsonl, only held-out answers.
NO_TRAINING_RECORDS = ("baseline", "warm-start")


def choose_records(ledger: Ledger, n: int, log_filter: LogFilter, follow: bool) -> LogFilter:
    """The filter with `heldout` set where the held-out answers are read: with --heldout; on a round
    with no training completions (round 0, the warm start); and with --disagree where round n's anchor
    judge scored only the held-out answers (the default)."""
    kind = ledger.round_info(n).get("kind")
    if kind in NO_TRAINING_RECORDS:
        why = f"round {n} ({kind}) has no training completions, only held-out answers; it"
    elif log_filter.heldout:
        why = "--heldout"
    elif log_filter.disagree is not None and not anchor_on_training(ledger, n):
        why = (f"--disagree (round {n}'s anchor judge scored its held-out answers only; [judge] anchor_on_training = "
               "true scores training completions too)")
    else:
        return log_filter
    if follow:
        raise LoopError(f"{why} reads the held-out answers, judged when the round ends; it cannot be combined with "
                        "--follow")
    if log_filter.ranks:
        raise LoopError(f"{why} reads the held-out answers, which have no reward; --worst/--best rank training "
                        "completions")
    return dataclasses.replace(log_filter, heldout=True)


def why_no_disagreement(ledger: Ledger, n: int, log_filter: LogFilter) -> str | None:
    """For --disagree on a round whose judge is the anchor: why nothing can show (whichever records
    --disagree reads, the two judges there are one model)."""
    if log_filter.disagree is None or not judge_is_anchor(ledger, n):
        return None
    return (f"round {n}'s judge is the anchor judge (it starts from the base model), so they cannot disagree; "
            "try a later round")


# ---- --follow ----------------------------------------------------------------------------------

class JsonlTail:
    """Reads the whole lines appended to a JSONL file since the last read; a line still being written
    (no newline yet) is left for the next read."""

    def __init__(self) -> None:
        self.offset = 0

    def read(self, path: Path) -> list[Record]:
        try:
            with open(path, "rb") as fh:
                fh.seek(0, 2)
                if fh.tell() < self.offset:  # the file was replaced (the round restarted): read it anew
                    self.offset = 0
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:  # not created yet, or its folder is being renamed right now
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        records = []
        for line in data[:end].splitlines():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return records


def follow_round(ledger: Ledger, n: int, log_filter: LogFilter, console: Console, *, as_json: bool = False,
                 poll_seconds: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> int:
    """Print round n's completions as they are appended, until the round completes or Ctrl-C.

    Records of one completion are appended together, but a poll may land in the middle of a batch,
    so the last completion read is held back until a later record or a quiet poll shows it whole.
    """
    read: list[Record] = []  # every record so far: a group's ranks need its samples printed earlier too
    reward_max = reward_ceiling(ledger.round_info(n))

    def emit(completions: list[Completion]) -> None:
        shown = log_filter.select(completions)
        if as_json:
            write_json(shown)
            return
        ranks = group_ranks(group_records(read)) if shown else {}
        for c in shown:
            console.print(completion_panel(c, log_filter.disagree or DEFAULT_DISAGREE, ranks.get(c.key),
                                           reward_max=reward_max))

    if not as_json:
        filters = log_filter.describe()
        console.print(Text(f"run {ledger.run} · following round {n}" + (f" · {filters}" if filters else "")
                           + " · Ctrl-C to stop", style="bold"))
    tail, pending = JsonlTail(), []
    try:
        while True:
            # Looked at before reading: once the folder is complete every record is in the file, so the
            # read that follows is the last one needed.
            running = is_running(ledger, n)
            new = tail.read(ledger.round_dir(n) / "critiques.jsonl")
            pending.extend(new)
            read.extend(new)
            completions = group_records(pending)
            if new and running and completions:
                completions, held = completions[:-1], completions[-1]
                pending = list(held.records)
            else:
                pending = []
            emit(completions)
            if not running:
                break
            sleep(poll_seconds)
    except KeyboardInterrupt:  # the ordinary way to stop following; show the completion held back
        emit(group_records(pending))
        return 0
    if not as_json:
        gone = not ledger.complete_dir(n).exists()
        console.print(Text(f"round {n} is gone (interrupted and restarted?)" if gone else f"round {n} complete",
                           style="yellow" if gone else "green"))
    return 0
