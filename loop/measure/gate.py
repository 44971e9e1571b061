"""The gate: a round must earn its place. After training, the round's policy answers a gate set of probes
kept apart from the reported probes ([probes] gate_dir; `loop check` keeps the two, the pool and the
demonstrations disjoint). Round 0 and the warm start answer it too, so every self-rewarding round has a
best accepted round to be compared with.

A self-rewarding round is rejected when, on any family, its pass rate is below the best accepted
round's on the same gate prompts by more than [probes] gate_margin, or significantly below it (the paired
95 % interval of the change lies under 0). A rejected round stays in the ledger, with why; the next round
starts from the best accepted round's adapter, and `loop export --best` never picks a rejected round.
Best: the highest mean gate pass rate over the families (the later round on a tie; Ledger.best_accepted).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loop.datafile import atomic_write
from loop.phases import timed
from loop.stats import paired_change

GATE_FILE = "gate.jsonl"  # a round's gate answers, in its folder


def answer_gate(ctx, model, cache) -> list[dict[str, Any]]:
    """The policy's greedy answers to every gate probe, one probe record each (loop/measure/probes.py),
    read back from the workspace's cache where the same model gave them before (round 0 of a new run)."""
    from loop.templates import policy_messages
    from loop.measure.probes import answer_probes

    plan = ctx.plan
    conversation = lambda prompt: policy_messages(plan.templates, plan.constitution, prompt)  # noqa: E731
    probes = plan.gate.subset(0, ctx.config.run.seed)
    return answer_probes(model, ctx.tokenizer, probes, conversation, ctx.config.probes.max_new_tokens,
                         batch_size=ctx.config.probes.batch_size, cache=cache, kind="gate")


def mean_rate(records: list[dict[str, Any]]) -> float:
    """The mean over families of each family's gate pass rate."""
    families: dict[str, list[bool]] = {}
    for rec in records:
        families.setdefault(rec["family"], []).append(bool(rec["pass"]))
    return sum(sum(v) / len(v) for v in families.values()) / len(families) if families else 0.0


def start_round(ctx) -> int:
    """The round a self-rewarding round starts from: the best accepted round since the warm start (round 0
    without one), where rounds answered the gate; else the round before it."""
    since = 1 if ctx.config.train.warm_start else 0
    best = ctx.ledger.best_accepted(before=ctx.number, since=since) if ctx.plan.gate is not None else None
    return best if best is not None else ctx.number - 1


def read_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def decide(records: list[dict[str, Any]], best: list[dict[str, Any]], margin: float) -> dict[str, Any]:
    """Accept or reject a round's gate answers against the best accepted round's, per family, paired on
    the prompts both answered."""
    before = {(r["family"], r["prompt"]): bool(r["pass"]) for r in best}
    families, why = {}, []
    for family in dict.fromkeys(r["family"] for r in records):
        pairs = [(before[(family, r["prompt"])], bool(r["pass"])) for r in records
                 if r["family"] == family and (family, r["prompt"]) in before]
        if not pairs:
            continue
        delta, low, high, n = paired_change([b for b, _ in pairs], [a for _, a in pairs])
        families[family] = {"delta": delta, "low": low, "high": high, "n": n}
        if delta < -margin or high < 0:
            why.append(f"{family} {delta:+.2f} [{low:+.2f}, {high:+.2f}]")
    return {"accepted": not why, "families": families, "margin": margin,
            "why": ("worse than the best accepted round on " + ", ".join(why)) if why else ""}


@timed("gate")
def gate_round(ctx, folder: Path, model, judged: bool) -> dict[str, Any] | None:
    """Answer the gate, keep the answers in the round's folder, and (for a self-rewarding round, `judged`)
    decide against the best accepted round. None when the workspace has no gate set. Under "cache": what
    the cache read back (hits) and what was answered (misses), for the round's metrics."""
    from loop.cache import workspace_cache

    if ctx.plan.gate is None:
        return None
    cache = workspace_cache(ctx.plan.workspace, ctx.config, ctx.progress.note)
    records = answer_gate(ctx, model, cache)
    atomic_write(folder / GATE_FILE, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    rate = mean_rate(records)
    best = start_round(ctx) if judged else None
    best = best if best is not None and (ctx.ledger.complete_dir(best) / GATE_FILE).exists() else None
    if best is None:
        return {"accepted": True, "rate": rate, "against_round": None, "families": {}, "why": "",
                "cache": cache.counts}
    decision = decide(records, read_records(ctx.ledger.complete_dir(best) / GATE_FILE), ctx.config.probes.gate_margin)
    return {**decision, "rate": rate, "against_round": best, "cache": cache.counts}


def comparison_warnings(ctx, probe_records: list[dict[str, Any]], gate: dict[str, Any] | None) -> list[str]:
    """Warnings that compare a round with the round before it and with the best accepted round (round 0
    has its own, loop/measure/diagnostics.py): a probe family significantly below either, and a round the
    gate rejected, with why and where the next round starts."""
    from loop.measure.probes import RECORDS_FILE, probe_changes

    out = []
    if gate is not None and not gate.get("accepted", True):
        out.append(f"round {ctx.number} rejected by the gate: {gate['why']}; the next round starts from round "
                   f"{gate['against_round']}")
    done = set(ctx.ledger.complete_rounds())
    best = ctx.ledger.best_accepted(before=ctx.number, since=1 if ctx.config.train.warm_start else 0)
    for other, name in {ctx.number - 1: "the round before", best: "the best accepted round"}.items():
        path = ctx.ledger.complete_dir(other) / RECORDS_FILE if other in done and other else None
        if path is None or not path.exists():
            continue
        for family, change in probe_changes(probe_records, read_records(path)).items():
            if change["high"] < 0:
                out.append(f"probes {family}: pass rate fell {change['delta']:+.2f} [{change['low']:+.2f}, "
                           f"{change['high']:+.2f}] since round {other} ({name}), more than its interval")
    return out
