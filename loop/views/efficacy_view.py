"""The head-to-head report of `loop bench efficacy`: GRPO and DPO runs side by side, per method and seed.

Read from the finished (or unfinished) runs' ledgers only, so the table can be printed again at any time
without training anything. Per run, at its last complete round: each probe family's change in pass
rate from round 0 with its 95 % interval ("probe_changes" in metrics.json; charts.MISSING where a round has none),
the drift from the base model (the mean per-token KL of the policy's greedy held-out answers,
movement.drift_base), and the wall-clock time of all its rounds and of its self-rewarding rounds alone
(the shared start, round 0 and the warm start, costs both methods the same, and was run once).
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from loop.ledger import Ledger
from loop.stats import is_number
from loop.views.json_out import write_json
from loop.views.charts import MISSING, duration

SELF_REWARDING = ("grpo", "dpo")


def run_report(ledger: Ledger, method: str, seed: int) -> dict[str, Any]:
    """One run's row of the report, as plain values (the JSON of `loop bench efficacy --json`)."""
    row: dict[str, Any] = {"method": method, "seed": seed, "run": ledger.run, "rounds": 0, "last_round": None,
                           "probe_changes": {}, "probes": {}, "drift_base": None, "seconds": None,
                           "train_seconds": None, "copied": {}}
    if not ledger.exists():
        return row
    done = [r for r in ledger.index()["rounds"] if r.get("status") == "complete"]
    if not done:
        return row
    kinds = {r["round"]: r.get("kind") or (r.get("summary") or {}).get("kind") for r in done}
    last = max(r["round"] for r in done)
    metrics = ledger.metrics(last)
    seconds = {r["round"]: (r.get("summary") or {}).get("seconds") for r in done}
    # Training rounds, as --rounds counts them: the warm start and the self-rewarding rounds (not round 0).
    row.update(rounds=sum(n > 0 for n in kinds), last_round=last,
               probe_changes=metrics.get("probe_changes") or {}, probes=metrics.get("probes") or {},
               drift_base=(metrics.get("movement") or {}).get("drift_base"),
               seconds=_total(seconds.values()),
               train_seconds=_total(s for n, s in seconds.items() if kinds[n] in SELF_REWARDING))
    for n in (0, 1):
        if n in kinds:
            origin = ledger.round_info(n).get("copied_from")
            if origin:
                row["copied"][n] = origin["run"]
    return row


def _total(values) -> float | None:
    numbers = [v for v in values if is_number(v)]
    return round(sum(numbers), 1) if numbers else None


def change_cell(change: dict | None) -> Text:
    """"+0.12" over "[+0.03, +0.21]": green when the interval is above 0, red when below, else plain."""
    if not change or not is_number(change.get("delta")):
        return Text(MISSING, style="dim")
    low, high = change.get("low"), change.get("high")
    style = "green" if is_number(low) and low > 0 else "red" if is_number(high) and high < 0 else ""
    text = Text(f"{change['delta']:+.2f}", style=style)
    if is_number(low) and is_number(high):
        text.append(f"\n[{low:+.2f}, {high:+.2f}]", style="dim")
    return text


def report_table(rows: list[dict[str, Any]], rounds: int | None = None) -> Table:
    """One column per run (method and seed), one row per probe family, then KL to the base and time."""
    # Four runs and their labels fit 80 columns: a cell is "+0.10" over "[+0.02, +0.18]" (14 wide).
    table = Table(title="head to head: probe change from round 0 [95% interval], drift, time",
                  title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, padding=(0, 1),
                  pad_edge=False, show_edge=False, collapse_padding=True)
    table.add_column("", style="bold", overflow="fold")
    for row in rows:
        table.add_column(f"{row['method']} s{row['seed']}", justify="right", no_wrap=True)
    families = list(dict.fromkeys(f for row in rows for f in row["probe_changes"]))
    for family in families:
        n = next((row["probe_changes"][family].get("n") for row in rows if family in row["probe_changes"]), None)
        table.add_row(family + (f"\nn={n}" if is_number(n) else ""),
                      *[change_cell(row["probe_changes"].get(family)) for row in rows])
    if not families:
        table.add_row("probes", *[Text(MISSING, style="dim") for _ in rows])
    table.add_row("KL to base\nnats/token", *[Text(f"{row['drift_base']:.4f}" if is_number(row["drift_base"]) else MISSING)
                                  for row in rows])
    table.add_row("time, method", *[Text(duration(row["train_seconds"])) for row in rows])
    table.add_row("time, all", *[Text(duration(row["seconds"])) for row in rows])
    want = f"/{rounds}" if rounds is not None else ""
    table.add_row("training rounds", *[Text(f"{row['rounds']}{want}") for row in rows])
    return table


def notes(rows: list[dict[str, Any]]) -> list[str]:
    """Which runs share their start, and which have not started."""
    out = []
    for row in rows:
        if row["last_round"] is None:
            out.append(f"{row['run']}: not started")
        elif row["copied"]:
            shared = " and ".join(f"round {n}" for n in sorted(row["copied"]))
            out.append(f"{row['run']}: {shared} copied from {next(iter(row['copied'].values()))} (the same start)")
    return out


def show_efficacy(runs: list[tuple[Ledger, str, int]], console: Console, *, rounds: int | None = None,
                  as_json: bool = False) -> int:
    """The report of `loop bench efficacy`: `runs` are (ledger, method, seed), in column order."""
    rows = [run_report(ledger, method, seed) for ledger, method, seed in runs]
    if as_json:
        write_json({"target": "efficacy", "rounds": rounds, "runs": rows})
        return 0
    console.print(report_table(rows, rounds))
    for line in notes(rows):
        console.print(Text(line, style="dim"))
    if not any(row["probe_changes"] for row in rows):
        console.print(Text(f"no probe changes recorded in these runs' rounds yet ({MISSING})", style="yellow"))
    return 0
