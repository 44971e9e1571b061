"""The parts of `loop rounds` that say whether a round earned its place, and whether its training saw
what the policy says.

  - the gate cell of the rounds table: each round's mean pass rate on the gate set, marked accepted or
    rejected when the gate compared it with the best accepted round before it (loop/measure/gate.py);
  - a line under the table per rejected round: the families that rejected it and where the next round
    started;
  - "samples vs greedy", per self-rewarding round and behaviour: the rule pass rate of the samples the
    round trained on next to its start policy's greedy probe pass rate, marked where the intervals do
    not overlap (GRPO cannot reward what its samples do not show).

Plain values in (the rows of loop/views/rounds_view.py round_rows), rich out. Ledgers written before
rounds had a gate or a sampling check have neither key: the column, lines and table are left out.
"""

from __future__ import annotations

from rich import box
from rich.table import Table
from rich.text import Text

from loop.stats import is_number
from loop.views.charts import MISSING, fmt

ACCEPTED, REJECTED = "✓", "✗"
MAX_SAMPLING_ROUNDS = 4  # rounds in the samples-vs-greedy table: the latest ones (--json has them all)
APART = "≠"  # the samples' interval and the greedy one do not overlap


def gate_of(row: dict) -> dict | None:
    """The round's gate verdict (summary["gate"]), or None for a round that answered no gate set."""
    gate = row.get("gate")
    return gate if isinstance(gate, dict) else None


def has_verdict(gate: dict) -> bool:
    """Whether the gate compared the round with an earlier one (round 0 and the warm start are only measured)."""
    return gate.get("against_round") is not None


def gate_cell(row: dict) -> Text:
    """"✓ 0.70" accepted, "✗ 0.85" rejected, "  0.50" measured without a verdict; MISSING without a gate."""
    gate = gate_of(row)
    if gate is None:
        return Text(MISSING, style="dim")
    if not has_verdict(gate):
        return Text(f"  {fmt(gate.get('rate'))}")
    if gate.get("accepted"):
        return Text(f"{ACCEPTED} {fmt(gate.get('rate'))}", style="green")
    return Text(f"{REJECTED} {fmt(gate.get('rate'))}", style="bold red")


def gate_legend() -> str:
    return (f"gate: mean pass rate on the gate set, 0–1; {ACCEPTED} accepted, {REJECTED} rejected against the best "
            "accepted round before it")


def _interval(change: dict) -> str:
    return f"{change['delta']:+.2f} [{change['low']:+.2f}, {change['high']:+.2f}]"


def rejection_lines(rows: list[dict]) -> list[Text]:
    """One line per round the gate rejected: the families that fell (the change and its paired 95 %
    interval, from the gate's own figures) and the round the next one starts from."""
    out = []
    numbers = [r["round"] for r in rows]
    for row in rows:
        gate = gate_of(row)
        if gate is None or gate.get("accepted", True) or not has_verdict(gate):
            continue
        best, margin = gate["against_round"], gate.get("margin")
        fell = [f"{family} {_interval(c)}" for family, c in (gate.get("families") or {}).items()
                if is_number(margin) and (c["delta"] < -margin or c["high"] < 0)]
        why = (f"worse than the best accepted round ({best}) on {', '.join(fell)}" if fell
               else gate.get("why") or f"worse than the best accepted round ({best})")
        later = [n for n in numbers if n > row["round"]]
        then = f"round {later[0]} started from round {best}" if later else f"the next round starts from round {best}"
        out.append(Text(f"round {row['round']} rejected: {why}; {then}", style="bold red"))
    return out


def _rate(entry: dict) -> str:
    if not is_number(entry.get("rate")):
        return MISSING
    return f"{entry['rate']:.2f} [{entry['low']:.2f}, {entry['high']:.2f}]"


def apart(samples: dict, greedy: dict) -> bool:
    """Whether the two 95 % intervals do not overlap (False when the greedy side was not measured)."""
    if not all(is_number(x.get(k)) for x in (samples, greedy) for k in ("low", "high")):
        return False
    return samples["high"] < greedy["low"] or samples["low"] > greedy["high"]


def sampling_table(rows: list[dict]) -> Table | None:
    """Per self-rewarding round (the latest MAX_SAMPLING_ROUNDS that measured it) and behaviour: the samples'
    rule pass rate and the start policy's greedy probe pass rate, each with its interval and n."""
    done = [r for r in rows if r["status"] == "complete" and r.get("sampling")][-MAX_SAMPLING_ROUNDS:]
    if not done:
        return None
    table = Table(title=f"samples vs greedy: the rule pass rate of each round's training samples per behaviour, "
                        f"next to its start policy's greedy probes of that behaviour (0–1, 95 % intervals; "
                        f"{APART}: they do not overlap, so training did not see what the policy says)",
                  title_justify="left", header_style="bold", padding=(0, 1), box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False, collapse_padding=True)
    for header in ("round", "behaviour", "samples", "n", "greedy", "probes", "n", ""):
        table.add_column(header, justify="left" if header in ("behaviour", "probes") else "right", no_wrap=True)
    for row in done:
        for i, (label, entry) in enumerate(row["sampling"].items()):
            samples, greedy = entry.get("samples") or {}, entry.get("greedy") or {}
            mark = Text(APART, style="bold red") if apart(samples, greedy) else Text("")
            table.add_row(str(row["round"]) if i == 0 else "", label, _rate(samples), fmt(samples.get("n")),
                          _rate(greedy), greedy.get("family") or MISSING, fmt(greedy.get("n")), mark)
    return table
