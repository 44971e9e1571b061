"""How far each round's judge was trusted, read from the ledger (round.json, written by
loop/training/judge_trust.py): per judged principle, accuracy on its labeled pairs with the 95 %
interval and n, and the weight that earned.

The anchor judge is the model without an adapter (judge state "base"): round 0's figures when the
run has a round 0, else those of a round whose judge was still the base model. They are shown next
to what the anchor decides (the anchor columns of `loop rounds`, `loop compare`'s header)."""

from __future__ import annotations

from rich.table import Table

from loop.ledger import Ledger
from loop.views.charts import MISSING

TRUST_KEYS = ("reliability", "effective_weights", "declared_weights", "judge_state", "consistency", "confidence",
              "judging_adapter")


def interval(entry: dict | None) -> str:
    """"0.65 [0.50, 0.78]": an accuracy and its 95 % interval; MISSING when nothing was measured."""
    if not entry or entry.get("accuracy") is None:
        return MISSING
    return f"{entry['accuracy']:.2f} [{entry['low']:.2f}, {entry['high']:.2f}]"


def weight_cell(weight, effective) -> str:
    """The effective weight of the declared one ("0.3 of 1"), or the weight alone when unchanged."""
    if weight is None or effective is None:
        return MISSING
    return f"{weight:g}" if effective == weight else f"{effective:.2g} of {weight:g}"


def tau_cell(agreement: dict | None) -> str:
    """"+0.70": the round judge's consistency with the judges before it; MISSING where it read no pair again."""
    return MISSING if not agreement or agreement.get("tau") is None else f"{agreement['tau']:+.2f}"


def reward_ceiling(trust: dict) -> float | None:
    """The most total reward an answer can earn in a round: every principle's score 1 at its effective
    weight (round.json "effective_weights"); None where the round recorded no weights."""
    weights = trust.get("effective_weights") or {}
    return round(sum(weights.values()), 4) if weights else None


def trust_of(ledger: Ledger, n: int) -> dict:
    """What round n recorded of its judge ({} for a round that measured nothing): round.json's figures,
    else the reliability a round keeps in metrics.json too."""
    info = ledger.round_info(n)
    trust = {key: info[key] for key in TRUST_KEYS if key in info}
    if not trust.get("reliability") and ledger.complete_dir(n).exists():
        reliability = ledger.metrics(n).get("reliability")
        if reliability:
            trust["reliability"] = reliability
    return trust


def measured_rounds(ledger: Ledger) -> list[tuple[int, dict]]:
    """(round, trust) of the complete rounds that measured their judge, oldest first."""
    out = []
    for n in ledger.complete_rounds():
        trust = trust_of(ledger, n)
        if trust.get("reliability"):
            out.append((n, trust))
    return out


def anchor_trust(measured: list[tuple[int, dict]]) -> tuple[int, dict] | None:
    """(round, trust) of the anchor judge: round 0 if it was measured, else the first round whose judge
    was the base model; None when no round measured the anchor."""
    base = [(n, t) for n, t in measured if t.get("judge_state") == "base"]
    return base[0] if base else None


def reliability_table(ledger: Ledger) -> Table | None:
    """Per judged principle: the anchor's reading of the labeled pairs, the last round judge's, its
    consistency with the judges before it (τ), and the weight it trained with."""
    measured = measured_rounds(ledger)
    if not measured:
        return None
    last_round, last = measured[-1]
    anchor = anchor_trust(measured)
    caption = "n: labeled pairs read · τ: consistency with the judges before it (CREAM)" + judging_note(last_round, last)
    table = Table(title="judge reliability: accuracy on labeled pairs [95% interval]", title_justify="left",
                  header_style="bold", padding=(0, 1), caption=caption, caption_justify="left")
    table.add_column("principle", style="bold", no_wrap=True)
    table.add_column(f"anchor (round {anchor[0]})" if anchor else "anchor", no_wrap=True)
    table.add_column(f"judge (round {last_round})", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    table.add_column("τ", justify="right", no_wrap=True)
    table.add_column("weight", justify="right", no_wrap=True)
    for pid, entry in last["reliability"].items():
        weights, declared = last.get("effective_weights", {}), last.get("declared_weights", {})
        table.add_row(pid, interval(anchor[1]["reliability"].get(pid)) if anchor else "not measured",
                      interval(entry), str(entry.get("n", MISSING)), tau_cell(last.get("consistency", {}).get(pid)),
                      weight_cell(declared.get(pid), weights.get(pid)))
    return table


def judging_note(round_number: int, trust: dict) -> str:
    """" · round N's judge wore the judging adapter trained in round k" (loop/training/judging_adapter.py),
    or "" where it wore none."""
    adapter = trust.get("judging_adapter") or {}
    if not adapter:
        return ""
    return (f" · round {round_number}'s judge wore the judging adapter trained in round "
            f"{adapter.get('trained_in', MISSING)} ({adapter.get('examples', MISSING)} judgments)")


def anchor_line(ledger: Ledger) -> str:
    """One line on how well the anchor judge reads each principle, for views the anchor decides."""
    anchor = anchor_trust(measured_rounds(ledger))
    if anchor is None:
        return "anchor judge reliability: not measured (round 0 or a base-model round records it)"
    n, trust = anchor
    parts = [f"{pid} {interval(entry)}" for pid, entry in trust["reliability"].items()]
    return f"anchor judge accuracy on labeled pairs (round {n}): " + ", ".join(parts)


def latest_reliability(ledger: Ledger) -> tuple[int, dict] | None:
    """(round, trust) of the newest complete round that measured its judge."""
    measured = measured_rounds(ledger) if ledger.exists() else []
    return measured[-1] if measured else None
