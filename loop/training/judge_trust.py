"""How far a round trusts its judge: the judge reads the constitution's labeled pairs at the round
start, and each judged principle's accuracy sets its effective weight (loop/judging/reliability.py).

At the round start the policy is still the round-start model M_t, the very model that judges the
round, so the pairs are read with the policy as it is, before the trainer exists. A round reads every
pair it has no valid reading of (the first round: all of them) and a rotating slice of
`[judge] reliability_sample` pairs a principle; the other pairs keep their latest reading. A reading
stays valid while the principle's file, the judge's templates and its [judge] settings are the same
(`fingerprint`); a reading by a judge with the same weights (`judge_state`) is as good as a new one.

The round records, in its folder:
    reliability.jsonl   the latest reading of every pair (key, principle, scores, correct, round read,
                        judge state): the next round starts from it
    round.json          "reliability": {id: {accuracy, low, high, n}}, "effective_weights": {id: w},
                        "consistency": {id: {tau, n, against_round}}, "judge_state", "pairs_read"
Round 0 (the starting model, no adapter) may call `assess` too: its figures are then the anchor's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loop.datafile import atomic_write, atomic_write_json
from loop.judging.judge_check import judge_scores, principle_pairs
from loop.judging.reliability import consistency, correct, effective_weight, figure, pairs_to_read, weight_note
from loop.ledger import read_jsonl

JUDGE_TEMPLATES = ("judge", "critique", "verdict", "lift")  # the templates a judge's score depends on


@dataclass
class Trust:
    """What a round measured of its judge, and the weights it trains with."""

    reliability: dict[str, dict] = field(default_factory=dict)  # judged principle -> {accuracy, low, high, n}
    weights: dict[str, float] = field(default_factory=dict)  # every principle -> its effective weight
    consistency: dict[str, dict] = field(default_factory=dict)  # judged principle -> {tau, n, against_round}
    judge_state: str = "base"
    pairs_read: int = 0

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["effective_weights"] = out.pop("weights")
        return out


def judge_state(model) -> str:
    """"base" for the model without a trained adapter (no LoRA, or LoRA B still all zero, as a fresh
    adapter starts), else a short hash of the active adapter's weights."""
    import torch

    lora = [(name, p) for name, p in model.named_parameters() if "lora_" in name]
    if not lora or all(torch.count_nonzero(p) == 0 for name, p in lora if "lora_B" in name):
        return "base"
    digest = hashlib.sha256()
    for name, p in sorted(lora, key=lambda item: item[0]):
        digest.update(name.encode() + p.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]


def fingerprint(plan, principle) -> str:
    """What a judge's reading of a principle's pairs depends on, besides the weights: the principle's
    file and pairs, the judge's templates, the [judge] settings that change a score."""
    settings = plan.config.judge
    parts = [plan.constitution.files.get(f"principles/{Path(principle.path).name}", principle.text),
             plan.constitution.files.get(f"pairs/{principle.id}.jsonl", ""),
             *(plan.templates.sources.get(name, "") for name in JUDGE_TEMPLATES),
             repr((settings.mode, settings.few_shot, settings.calibrate, settings.guard, settings.critique_tokens))]
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:12]


def latest_readings(ledger, before: int) -> tuple[dict[str, dict], dict[str, Any]]:
    """(readings by pair key, round.json) of the latest complete round before `before` that read pairs."""
    for n in sorted((n for n in ledger.complete_rounds() if n < before), reverse=True):
        path = ledger.complete_dir(n) / "reliability.jsonl"
        if path.exists():
            return {rec["key"]: rec for rec in read_jsonl(path)}, ledger.round_info(n)
    return {}, {}


def assess(plan, r: int, folder: Path, judge, model, progress) -> Trust:
    """Read the pairs this round must read, and record the round's reliability and weights."""
    constitution, settings = plan.constitution, plan.config.judge
    state = judge_state(model)
    earlier, earlier_info = latest_readings(plan.ledger, r)
    judged = [p for p in constitution.principles if not p.is_rule]
    plans = {}
    for p in judged:
        pairs = {pair.key: pair for pair in principle_pairs(constitution, p)}
        fp = fingerprint(plan, p)
        valid = {k for k in pairs if earlier.get(k, {}).get("fingerprint") == fp}
        same = {k for k in valid if earlier[k].get("judge_state") == state}
        todo = [k for k in pairs_to_read(list(pairs), valid, settings.reliability_sample, r, plan.config.run.seed)
                if k not in same]
        plans[p.id] = (pairs, fp, todo)
    total = sum(len(todo) for _, _, todo in plans.values())
    if total:
        progress.note(f"the judge reads {total} labeled pairs to measure how far to trust it")
    trust = Trust(judge_state=state, pairs_read=total)
    readings = []
    for p in judged:
        pairs, fp, todo = plans[p.id]
        scores = dict(zip(todo, judge_scores(judge, [pairs[k] for k in todo]))) if todo else {}
        before, after, against = [], [], set()
        for key in pairs:
            if key in scores:
                reading = {"key": key, "principle": p.id, "chosen": scores[key][0], "rejected": scores[key][1],
                           "correct": correct(*scores[key]), "round": r, "judge_state": state, "fingerprint": fp}
                old = earlier.get(key)
                if old and old.get("fingerprint") == fp and old.get("judge_state") != state:
                    before.append((old["chosen"], old["rejected"]))
                    after.append(scores[key])
                    against.add(old["round"])
            else:
                reading = earlier[key]
            readings.append(reading)
        trust.reliability[p.id] = figure(rec["correct"] for rec in readings if rec["principle"] == p.id)
        agreement = consistency(before, after)
        if agreement is not None:
            trust.consistency[p.id] = {**agreement, "against_round": sorted(against)}
    for p in constitution.principles:
        measured = trust.reliability.get(p.id)
        trust.weights[p.id] = effective_weight(p.weight, measured) if settings.reliability_weights and measured \
            else p.weight
    _record(folder, trust, readings)
    _tell(progress, constitution, trust, earlier_info.get("effective_weights", {}))
    return trust


def _record(folder: Path, trust: Trust, readings: list[dict]) -> None:
    atomic_write(folder / "reliability.jsonl", "".join(json.dumps(rec) + "\n" for rec in readings))
    info_path = folder / "round.json"
    info = json.loads(info_path.read_text("utf-8")) if info_path.exists() else {}
    atomic_write_json(info_path, {**info, **trust.record()})


def _tell(progress, constitution, trust: Trust, before: dict[str, float]) -> None:
    """One line per principle whose effective weight differs from the last round's (or, in the first
    measured round, from the weight the constitution gives it)."""
    for pid, measured in trust.reliability.items():
        weight = constitution.get(pid).weight
        if round(trust.weights[pid], 2) != round(before.get(pid, weight), 2):
            progress.note(weight_note(pid, measured, weight, trust.weights[pid]))
