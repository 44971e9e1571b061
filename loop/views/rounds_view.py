"""`loop rounds`: the run at a glance, and whether it is getting better or gaming itself.

Tables from the ledger's index.json and each round's metrics.json, each fitting 80 columns:
  1. one row per round: its kind (baseline, warm-start, grpo), status, the gate's verdict where rounds
     answered a gate set, and the flat summary metrics, the best round marked (by the gate, else by
     probes); under it, why each rejected round was rejected (loop/views/rounds_gate.py);
  2. the probes, one row per family: the pass rate in each round and the paired change of the last
     round from round 0 with its interval: what no judge decides;
  3. movement, one row per round: answers changed since the round before, KL to the base and to the
     round start, cut answers, sentences the guard cut; then samples vs greedy, per self-rewarding
     round and behaviour: whether training saw what the policy says (loop/views/rounds_gate.py);
  4. one row per metric: a sparkline across rounds, first and last value, and the change, coloured
     by which way is good (a growing anchor gap is bad: the round judge likes the answers more than
     the fixed round-0 judge does, i.e. the loop is rewarding itself);
  5. one row per principle: round judge and anchor judge scores across rounds, on one 0..1 scale so
     the two sparklines can be read against each other, with the last gap;
  6. one row per judged principle: how well the anchor and the last round's judge read its labeled
     pairs, and the weight that earned (loop/views/reliability_view.py);
then each round's warning lines.
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from loop.ledger import Ledger
from loop.stats import is_number
from loop.views.charts import MISSING, delta, duration, fmt, sparkline
from loop.views.json_out import write_json
from loop.views.paging import paged
from loop.views.rounds_gate import gate_cell, gate_legend, gate_of, rejection_lines, sampling_table
from loop.views.reliability_view import reliability_table, reward_ceiling, trust_of

# Summary metrics in index.json: (key, column header, +1 higher is better / -1 lower / 0 neither).
# The rounds table shows them in this order, with the round, its kind and status first.
METRICS = [
    ("reward", "reward", +1),
    ("reward_std", "±std", 0),
    ("judge_score", "judge", +1),
    ("anchor_score", "anchor", +1),
    ("anchor_gap", "gap", -1),
    ("rule_pass", "rules", +1),
    ("probe_pass", "probes", +1),
    ("completion_words", "words", 0),
    ("seconds", "time", 0),
]
# What each metric is measured in: the trends table's unit column (the rounds table's legend says it in words).
UNITS = {"reward": "Σ weight × score", "reward_std": "reward", "judge_score": "score, 0–1", "anchor_score": "score, 0–1",
         "anchor_gap": "judge − anchor", "rule_pass": "pass rate, 0–1", "probe_pass": "pass rate, 0–1",
         "completion_words": "words/answer", "seconds": "wall clock"}
# Where the rounds table is too narrow for every column, these go first (`loop rounds --json` keeps them all);
# the round, its kind and status, and the probes never go.
DROP_FIRST = ["completion_words", "seconds", "rule_pass", "anchor_score", "judge_score", "anchor_gap", "reward"]
# The smallest range a trend's sparkline stands for (charts.sparkline's min_span). Scores, rates, the
# gap and the reward (a weighted sum of scores) move on a 0-1 scale, where judge noise at 135M is
# several hundredths: 0.1 is the least change worth a full-height spark. Words and seconds count
# units; a word or a few seconds is noise there.
MIN_SPAN = {"completion_words": 10.0, "seconds": 60.0}
DEFAULT_MIN_SPAN = 0.1
STATUS_STYLE = {"complete": "green", "running": "yellow", "interrupted": "red"}
MAX_SPARK = 40  # rounds shown in a sparkline; the latest ones when there are more


def duration_unit(values: list[float]) -> str:
    """The one unit for a set of durations: that of the longest."""
    longest = max(abs(v) for v in values)
    return "s" if longest < 59.5 else "m" if longest < 3599.5 else "h"


def round_rows(ledger: Ledger) -> list[dict]:
    """One flat dict per round of the index: round, kind, status, started, finished, summary metrics, and
    for a complete round its metrics.json parts: eval, probes, probe_changes, probe_fluency, movement,
    sampling."""
    rows = []
    for entry in ledger.index().get("rounds", []):
        row = {"round": entry["round"], "kind": entry.get("kind"), "status": entry.get("status", "?"),
               "started": entry.get("started"), "finished": entry.get("finished"), **(entry.get("summary") or {})}
        if row["status"] == "complete" and ledger.round_dir(entry["round"]).exists():
            metrics = ledger.metrics(entry["round"])
            row.update({key: metrics.get(key, {}) for key in ("eval", "probes", "probe_changes", "probe_fluency",
                                                               "movement", "sampling")})
            row["trust"] = trust_of(ledger, entry["round"])
        rows.append(row)
    return rows


def rounds_table(rows: list[dict], run: str, best: int | None = None, width: int = 80) -> Table:
    """One row per round: its number, kind and status as index.json words them, its gate verdict (where any
    round answered a gate set), then the summary metrics that fit `width` (DROP_FIRST says which give way;
    the round and gate columns never do)."""
    keys = [key for key, _, _ in METRICS if key != "reward_std"]  # the spread is in the trends table
    table = _rounds_table(rows, run, best, keys)
    for key in DROP_FIRST:
        if natural_width(table) <= width:
            break
        keys.remove(key)
        table = _rounds_table(rows, run, best, keys)
    return table


def _rounds_table(rows: list[dict], run: str, best: int | None, keys: list[str]) -> Table:
    # No vertical rules and no padding (the box's blank divider is the one space between columns): at 80
    # columns every column fits, with the kind and status spelled as in index.json.
    gated = any(gate_of(row) for row in rows)
    by = "accepted by the gate" if any(r["round"] == best and gate_of(r) for r in rows) else "by probes"
    table = Table(title=f"run {run}: {len(rows)} round{'s' * (len(rows) != 1)}"
                        + ("" if best is None else f" · ★ best {by}: round {best}"), title_justify="left",
                  header_style="bold", padding=0, box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("round", justify="right", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("status", no_wrap=True)
    if gated:
        table.add_column("gate", justify="right", no_wrap=True)
    headers = {key: header for key, header, _ in METRICS}
    for key in keys:
        table.add_column(headers[key], justify="right", no_wrap=True)
    for row in rows:
        cells = [duration(row.get(key)) if key == "seconds"
                 else fmt(row.get(key), 1 if key == "completion_words" else 2) for key in keys]
        table.add_row(f"{'★' if row['round'] == best else ''}{row['round']}", row.get("kind") or MISSING,
                      Text(row["status"], style=STATUS_STYLE.get(row["status"], "")),
                      *([gate_cell(row)] if gated else []), *cells)
    return table


def natural_width(renderable) -> int:
    """The cells a renderable takes when nothing squeezes it."""
    return Console(width=10_000, file=io.StringIO()).measure(renderable).maximum


def rounds_legend(rows: list[dict], table: Table) -> Text:
    """What each column of the rounds table counts, and the columns left out at this width."""
    shown = {str(column.header) for column in table.columns}
    ceiling = next(((r["round"], reward_ceiling(r["trust"])) for r in reversed(rows)
                    if reward_ceiling(r.get("trust") or {}) is not None), None)
    parts = {"gate": gate_legend(),
             "reward": "reward: the training reward, a weighted sum of principle scores (at most the sum of the "
                       "weights" + (f", {fmt(ceiling[1])} in round {ceiling[0]})" if ceiling else ")"),
             "judge": "judge: mean held-out score by the round's judge, 0–1",
             "anchor": "anchor: the same by the round-0 anchor judge", "gap": "gap: judge − anchor",
             "rules": "rules: rule pass rate, 0–1", "probes": "probes: probe pass rate, 0–1",
             "words": "words: per held-out answer", "time": "time: wall clock"}
    legend = " · ".join(text for header, text in parts.items() if header in shown)
    left_out = [header for key, header, _ in METRICS if key != "reward_std" and header not in shown]
    if left_out:
        legend += f" · left out at this width: {', '.join(left_out)} (loop rounds --json has them)"
    return Text(legend, style="dim")


def trends_table(rows: list[dict]) -> Table:
    """Per metric across the complete rounds: sparkline, first, last, change."""
    done = [r for r in rows if r["status"] == "complete"][-MAX_SPARK:]
    table = Table(title="trends across complete rounds", title_justify="left", header_style="bold", padding=(0, 1))
    table.add_column("metric", style="bold", no_wrap=True)
    table.add_column("unit", style="dim")
    table.add_column(f"rounds {done[0]['round']}–{done[-1]['round']}" if done else "rounds", no_wrap=True)
    table.add_column("first", justify="right")
    table.add_column("last", justify="right")
    table.add_column("Δ", justify="right")
    for key, header, direction in METRICS:
        values = [r.get(key) for r in done]
        numbers = [v for v in values if is_number(v)]
        if not numbers:
            continue
        change = delta(numbers[0], numbers[-1], higher_is_better=direction >= 0)
        show = fmt
        if key == "seconds":  # first, last and change in one unit: "0m45s  2m05s  +1m20s"
            unit = duration_unit([numbers[0], numbers[-1], numbers[-1] - numbers[0]])
            change = Text(("+" if numbers[-1] >= numbers[0] else "") + duration(numbers[-1] - numbers[0], unit))
            show = lambda v: duration(v, unit)  # noqa: E731
        if direction == 0:
            change.style = "dim"
        spark = sparkline(values, min_span=MIN_SPAN.get(key, DEFAULT_MIN_SPAN))
        table.add_row(key, UNITS[key], spark, show(numbers[0]), show(numbers[-1]), change)
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
        gap_text = Text(f"{gap:+.2f}" if is_number(gap) else MISSING,
                        style="red" if is_number(gap) and gap >= 0.1 else "")
        table.add_row(p, sparkline(judge, 0, 1), sparkline(anchor, 0, 1), fmt(judge[-1]), fmt(anchor[-1]), gap_text)
    for p in ruled:
        rates = [r["eval"].get("rule_pass_rates", {}).get(p) for r in done]
        table.add_row(p, sparkline(rates, 0, 1), Text("rule", style="dim"), fmt(rates[-1]), "", "")
    return table


def render_rounds(ledger: Ledger, console: Console) -> None:
    from loop.views.rounds_probes import movement_table, probes_table, warning_lines

    rows = round_rows(ledger)
    if not rows:
        console.print(f"run '{ledger.run}' has no rounds yet; start one with [bold]loop run[/]")
        return
    table = rounds_table(rows, ledger.run, ledger.best_round(), console.width)
    console.print(table)
    console.print(rounds_legend(rows, table))
    for line in rejection_lines(rows):
        console.print(line)
    if any(r["status"] == "complete" for r in rows):
        # the reliability table: the anchor's reading of the labeled pairs next to the last round judge's
        for table in (probes_table(rows), movement_table(rows), sampling_table(rows), trends_table(rows),
                      principles_table(rows), reliability_table(ledger)):
            if table is not None:
                console.print(table)
        for line in warning_lines(rows):
            console.print(line)


def show_rounds(ledger: Ledger, console: Console, *, as_json: bool = False, pager: bool = True) -> int:
    """The `loop rounds` command."""
    if as_json:
        write_json(round_rows(ledger))
        return 0
    with paged(console, enabled=pager):
        render_rounds(ledger, console)
    return 0
