"""The parts of `loop rounds` that say whether the model changed, from outside the loop: the probes
per family across rounds, how far each round moved the policy, and the rounds' warning lines.

Plain values in (the rows of loop/views/rounds_view.py round_rows), rich out; every table fits 80
columns: the probes table shows round 0 and the latest rounds, the movement table one row a round.
"""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from loop.stats import is_number
from loop.views.charts import MISSING, fmt

MAX_PROBE_ROUNDS = 5  # round columns in the probes table besides round 0: the latest ones


def _compact(title: str) -> Table:
    return Table(title=title, title_justify="left", header_style="bold", padding=(0, 1), box=box.SIMPLE_HEAD,
                 pad_edge=False, show_edge=False, collapse_padding=True)


def change_text(change: dict | None) -> Text:
    """A paired change with its 95 % interval: green when the interval is above 0, red when below."""
    if not change or not is_number(change.get("delta")):
        return Text(MISSING, style="dim")
    style = "green" if change["low"] > 0 else "red" if change["high"] < 0 else ""
    return Text(f"{change['delta']:+.2f} [{change['low']:+.2f}, {change['high']:+.2f}]", style=style)


def probes_table(rows: list[dict]) -> Table | None:
    """Per family: the pass rate in round 0 and the latest rounds, and the last round's change from
    round 0 (paired on the same prompts) with its 95 % interval."""
    done = [r for r in rows if r["status"] == "complete" and r.get("probes")]
    if not done:
        return None
    shown = ([done[0]] if done[0]["round"] == 0 else []) + [r for r in done if r["round"] != 0][-MAX_PROBE_ROUNDS:]
    last = shown[-1]
    families = list(dict.fromkeys(f for r in shown for f in r["probes"]))
    table = _compact(f"probes: pass rate per family, 0–1 (round {last['round']} vs round 0: the change on the "
                     "same prompts, 95 % interval; n: probes in the family)")
    table.add_column("family", style="bold")
    for r in shown:
        table.add_column(f"r{r['round']}", justify="right")
    table.add_column("Δ from r0", justify="right", no_wrap=True)
    table.add_column("n", justify="right")
    for family in families:
        rates = [fmt((r["probes"].get(family) or {}).get("rate")) for r in shown]
        n = (last["probes"].get(family) or {}).get("n")
        table.add_row(family, *rates, change_text((last.get("probe_changes") or {}).get(family)), fmt(n))
    return table


def movement_table(rows: list[dict]) -> Table | None:
    """Per round: how far it moved the policy and what training saw (see loop/measure/diagnostics.py)."""
    done = [r for r in rows if r["status"] == "complete" and r.get("movement")]
    if not done:
        return None
    table = _compact("movement: share of answers changed since the round before; KL of the greedy answers to "
                     "the base and to the round start, in nats per token; shares of groups without reward spread, "
                     "of answers cut by the length limit and of answers the guard cut")
    for header in ("round", "changed", "KL base", "KL start", "0-spread", "cut", "guard"):
        table.add_column(header, justify="right")
    for r in done:
        m = r["movement"]
        changed = (m.get("changed") or {}).get("share")
        table.add_row(str(r["round"]), _share(changed), fmt(m.get("drift_base"), 3), fmt(m.get("drift_start"), 3),
                      _share(r.get("frac_zero_std")), _share(m.get("clipped")), _share(m.get("guard_cut")))
    return table


def _share(value) -> str:
    return f"{value:.0%}" if is_number(value) else MISSING


def warning_lines(rows: list[dict]) -> list[Text]:
    """Every complete round's warnings (summary["warnings"]), each named by its round."""
    return [Text(f"warning, round {r['round']}: {line}", style="bold yellow")
            for r in rows if r["status"] == "complete" for line in r.get("warnings") or []]
