"""`loop rounds`: the run at a glance, and whether it is getting better or gaming itself.

Three tables, all from the ledger's index.json and each round's metrics.json "eval":
  1. one row per round: status and the flat summary metrics;
  2. one row per metric: a sparkline across rounds, first and last value, and the change, coloured
     by which way is good (a growing anchor gap is bad: the round judge likes the answers more than
     the fixed round-0 judge does, i.e. the loop is rewarding itself);
  3. one row per principle: round judge and anchor judge scores across rounds, on one 0..1 scale so
     the two sparklines can be read against each other, with the last gap;
  4. one row per judged principle: how well the anchor and the last round's judge read its labeled
     pairs, and the weight that earned (loop/views/reliability_view.py).
"""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from loop.ledger import Ledger
from loop.stats import is_number
from loop.views.charts import delta, fmt, sparkline
from loop.views.json_out import write_json
from loop.views.paging import paged
from loop.views.reliability_view import reliability_table, trust_of

# Summary metrics in index.json: (key, column header, +1 higher is better / -1 lower / 0 neither).
METRICS = [
    ("reward", "reward", +1),
    ("reward_std", "±std", 0),
    ("frac_zero_std", "0-std", -1),
    ("judge_score", "judge", +1),
    ("anchor_score", "anchor", +1),
    ("anchor_gap", "gap", -1),
    ("rule_pass", "rules", +1),
    ("completion_words", "words", 0),
    ("seconds", "time", 0),
]
STATUS_STYLE = {"complete": "green", "running": "yellow", "interrupted": "red"}
MAX_SPARK = 40  # rounds shown in a sparkline; the latest ones when there are more


def duration(seconds) -> str:
    if not is_number(seconds):
        return "–"
    s = int(round(seconds))
    return f"{s}s" if s < 60 else f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}m"


def round_rows(ledger: Ledger) -> list[dict]:
    """One flat dict per round of the index: round, status, started, finished, summary metrics, eval."""
    rows = []
    for entry in ledger.index().get("rounds", []):
        row = {"round": entry["round"], "status": entry.get("status", "?"), "started": entry.get("started"),
               "finished": entry.get("finished"), **(entry.get("summary") or {})}
        if row["status"] == "complete" and ledger.round_dir(entry["round"]).exists():
            row["eval"] = ledger.metrics(entry["round"]).get("eval", {})
            row["trust"] = trust_of(ledger, entry["round"])
        rows.append(row)
    return rows


def rounds_table(rows: list[dict], run: str) -> Table:
    # Eleven columns must fit 80 cells: no vertical rules, no outer padding.
    table = Table(title=f"run {run}: {len(rows)} round{'s' * (len(rows) != 1)}", title_justify="left",
                  header_style="bold", padding=(0, 1), box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False,
                  collapse_padding=True)
    table.add_column("round", justify="right")
    table.add_column("status")
    for _, header, _ in METRICS:
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        cells = [duration(row.get(key)) if key == "seconds"
                 else fmt(row.get(key), 1 if key == "completion_words" else 2) for key, _, _ in METRICS]
        table.add_row(str(row["round"]), Text(row["status"], style=STATUS_STYLE.get(row["status"], "")), *cells)
    return table


def trends_table(rows: list[dict]) -> Table:
    """Per metric across the complete rounds: sparkline, first, last, change."""
    done = [r for r in rows if r["status"] == "complete"][-MAX_SPARK:]
    table = Table(title="trends across complete rounds", title_justify="left", header_style="bold", padding=(0, 1))
    table.add_column("metric", style="bold")
    table.add_column(f"rounds {done[0]['round']}–{done[-1]['round']}" if done else "rounds", no_wrap=True)
    table.add_column("first", justify="right")
    table.add_column("last", justify="right")
    table.add_column("Δ", justify="right")
    for key, header, direction in METRICS:
        values = [r.get(key) for r in done]
        numbers = [v for v in values if is_number(v)]
        if not numbers:
            continue
        change = delta(numbers[0], numbers[-1], higher_is_better=direction >= 0, digits=0 if key == "seconds" else 2)
        if key == "seconds" and is_number(numbers[0]):
            change = Text(f"{numbers[-1] - numbers[0]:+.0f}s")
        if direction == 0:
            change.style = "dim"
        show = duration if key == "seconds" else fmt
        table.add_row(key, sparkline(values), show(numbers[0]), show(numbers[-1]), change)
    return table


def principles_table(rows: list[dict]) -> Table | None:
    """Per principle: round judge vs anchor judge across complete rounds (rules: pass rate)."""
    done = [r for r in rows if r["status"] == "complete" and r.get("eval")][-MAX_SPARK:]
    if not done:
        return None
    judged = list(dict.fromkeys(p for r in done for p in r["eval"].get("judge_scores", {})))
    ruled = list(dict.fromkeys(p for r in done for p in r["eval"].get("rule_pass_rates", {})))
    table = Table(title="held-out scores per principle (sparklines on a 0–1 scale)", title_justify="left",
                  header_style="bold", padding=(0, 1))
    table.add_column("principle", style="bold")
    table.add_column("judge", no_wrap=True)
    table.add_column("anchor", no_wrap=True)
    table.add_column("last judge", justify="right")
    table.add_column("last anchor", justify="right")
    table.add_column("gap", justify="right")
    for p in judged:
        judge = [r["eval"].get("judge_scores", {}).get(p) for r in done]
        anchor = [r["eval"].get("anchor_scores", {}).get(p) for r in done]
        gap = done[-1]["eval"].get("anchor_gap", {}).get(p)
        if not is_number(gap) and is_number(judge[-1]) and is_number(anchor[-1]):
            gap = judge[-1] - anchor[-1]
        gap_text = Text(f"{gap:+.2f}" if is_number(gap) else "–",
                        style="red" if is_number(gap) and gap >= 0.1 else "")
        table.add_row(p, sparkline(judge, 0, 1), sparkline(anchor, 0, 1), fmt(judge[-1]), fmt(anchor[-1]), gap_text)
    for p in ruled:
        rates = [r["eval"].get("rule_pass_rates", {}).get(p) for r in done]
        table.add_row(p, sparkline(rates, 0, 1), Text("rule", style="dim"), fmt(rates[-1]), "", "")
    return table


def render_rounds(ledger: Ledger, console: Console) -> None:
    rows = round_rows(ledger)
    if not rows:
        console.print(f"run '{ledger.run}' has no rounds yet; start one with [bold]loop run[/]")
        return
    console.print(rounds_table(rows, ledger.run))
    if any(r["status"] == "complete" for r in rows):
        console.print(trends_table(rows))
        table = principles_table(rows)
        if table is not None:
            console.print(table)
        table = reliability_table(ledger)  # the anchor's reading next to the last round judge's
        if table is not None:
            console.print(table)


def show_rounds(ledger: Ledger, console: Console, *, as_json: bool = False, pager: bool = True) -> int:
    """The `loop rounds` command."""
    if as_json:
        write_json(round_rows(ledger))
        return 0
    with paged(console, enabled=pager):
        render_rounds(ledger, console)
    return 0
