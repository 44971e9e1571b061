"""How far a round trusts its judge: the judge reads the constitution's labeled pairs at the round
start, and each judged principle's accuracy sets its effective weight (loop/judging/reliability.py).

At the round start the policy is still the round-start model M_t, the very model that judges the
round, so the pairs are read with the policy as it is, before the trainer exists. A round reads every
pair it has no valid reading of (the first round: all of them) and a rotating slice of
`[judge] reliability_sample` pairs a principle; the other pairs keep their latest reading. A reading
stays valid while the principle's file, the judge's templates and its [judge] settings are the same
(`fingerprint`). What this very judge read before (the same weights, adapter, settings, templates and
principle: `reading_key`, loop/judging/readings.py), in this run or another, it reads back from the
workspace's content cache (loop/cache.py) instead of scoring again; a judge whose adapter changed
misses and scores.
The slice is also a check that the carried readings still describe the judge: where the judge orders
the slice's pairs unlike their earlier readings (CREAM consistency below `DRIFT_TAU`, as after a
warm start), it reads every pair again.

The held-out evaluation still scores a principle at weight 0: six answers cost little, and its
held-out trend (the round judge's and the anchor's) stays readable while it is not trained on.

The round records, in its folder:
    reliability.jsonl   the latest reading of every pair (key, principle, scores, correct, round read,
                        judge state): the next round starts from it
    round.json          "reliability": {id: {accuracy, low, high, n}}, "effective_weights": {id: w},
                        "declared_weights": {id: w}, "consistency": {id: {tau, n, against_round}},
                        "confidence": {id: the factor consistency gave its weight},
                        "judge_state" ("base": the model without an adapter, i.e. the anchor), "pairs_read",
                        "cache": {"pair": {hits, misses}} (readings read back from the cache, and scored),
                        "judging_adapter": {trained_in, examples, epochs, data_sha256, lora, ..., sha256} or None
Round 0 (the starting model, no adapter) may call `assess` too: its figures are then the anchor's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loop.cache import Cache, workspace_cache
from loop.datafile import atomic_write, atomic_write_json
from loop.phases import timed
from loop.judging.judge_check import judge_scores, principle_pairs
from loop.judging.readings import count_unscored, judge_sources, reading_key, row_part
from loop.judging.reliability import (DRIFT_TAU, confidence, consistency, correct, effective_weight, figure,
                                      pairs_to_read, weight_note)
from loop.ledger import read_jsonl


@dataclass
class Trust:
    """What a round measured of its judge, and the weights it trains with."""

    reliability: dict[str, dict] = field(default_factory=dict)  # judged principle -> {accuracy, low, high, n}
    weights: dict[str, float] = field(default_factory=dict)  # every principle -> its effective weight
    declared: dict[str, float] = field(default_factory=dict)  # every principle -> the weight its file gives
    consistency: dict[str, dict] = field(default_factory=dict)  # judged principle -> {tau, n, against_round}
    confidence: dict[str, float] = field(default_factory=dict)  # judged principle -> the factor consistency gave
    judge_state: str = "base"
    pairs_read: int = 0  # pairs the round's judge read, scoring them or reading them back from the cache
    cache: dict[str, dict] = field(default_factory=dict)  # kind -> {hits, misses} (loop/cache.py)
    judging_adapter: dict | None = None  # what loop/training/judging_adapter.py records of the one it wears

    def record(self) -> dict[str, Any]:
        out = asdict(self)
        out["effective_weights"], out["declared_weights"] = out.pop("weights"), out.pop("declared")
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


def fingerprint(plan, principle, settings=None, history: str = "") -> str:
    """What a judge's reading of a principle's pairs depends on, besides the weights and the pair itself
    (a pair's key is its content, so an edited pair is a new pair): `judge_sources` and the judge's
    settings that change a score ([judge] unless given). `history`: the judging adapter's digest, so a
    new judging adapter starts a new history of readings (loop/training/judging_adapter.py)."""
    settings = settings or plan.config.judge
    parts = [*judge_sources(plan, principle),
             repr((settings.mode, settings.few_shot, settings.calibrate, settings.guard, settings.critique_tokens))]
    if history:
        parts.append(f"judging adapter {history}")
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:12]


def latest_readings(ledger, before: int) -> tuple[dict[str, dict], dict[str, Any]]:
    """(readings by pair key, round.json) of the latest complete round before `before` that read pairs."""
    for n in sorted((n for n in ledger.complete_rounds() if n < before), reverse=True):
        path = ledger.complete_dir(n) / "reliability.jsonl"
        if path.exists():
            return {rec["key"]: rec for rec in read_jsonl(path)}, ledger.round_info(n)
    return {}, {}


@timed("reliability")
def assess(plan, r: int, folder: Path, judge, model, progress, judging_adapter=None) -> Trust:
    """Read the pairs this round must read, and record the round's reliability and weights.
    `judging_adapter` (loop/training/judging_adapter.py): the one the judge wears, recorded with it."""
    constitution, settings = plan.constitution, plan.config.judge
    trust = Trust(judge_state=judge_state(model),
                  judging_adapter=judging_adapter.record if judging_adapter is not None else None)
    history = judging_adapter.sha256 if judging_adapter is not None else ""
    cache = workspace_cache(plan.workspace, plan.config, progress.note)
    scores = PairScores(plan, judge, model, cache)
    earlier, earlier_info = latest_readings(plan.ledger, r)
    judged = [p for p in constitution.principles if not p.is_rule]
    readers = [PrincipleReading(constitution, p, fingerprint(plan, p, getattr(judge, "settings", None), history),
                                earlier, trust.judge_state, r) for p in judged]
    first = {reader.principle.id: reader.to_read(settings.reliability_sample, plan.config.run.seed) for reader in readers}
    total = sum(len(keys) for keys in first.values())
    if total:
        progress.note(f"the judge reads {total} labeled pairs to measure how far to trust it")
    readings = []
    for reader in readers:
        reader.read(scores, first[reader.principle.id])
        agreement = reader.agreement()
        if agreement is not None and agreement["tau"] < DRIFT_TAU and reader.carried():
            # The judge orders the re-read pairs unlike the readings it would carry over (a warm start,
            # or a round that moved the judge far): those readings no longer describe it. Read them all.
            progress.note(f"{reader.principle.id}: the judge moved (consistency {agreement['tau']:+.2f} with "
                          f"earlier readings); it reads all {len(reader.pairs)} pairs again")
            reader.read(scores, reader.carried())
            agreement = reader.agreement()
        trust.pairs_read += reader.read_count
        trust.reliability[reader.principle.id] = figure(rec["correct"] for rec in reader.readings())
        if agreement is not None:
            trust.consistency[reader.principle.id] = agreement
        readings += reader.readings()
    for p in constitution.principles:
        measured = trust.reliability.get(p.id)
        trust.declared[p.id] = p.weight
        if measured is None or not settings.reliability_weights:
            trust.weights[p.id] = p.weight
            continue
        trust.confidence[p.id] = confidence(trust.consistency.get(p.id)) if settings.consistency_confidence else 1.0
        trust.weights[p.id] = effective_weight(p.weight, measured, trust.confidence[p.id])
    trust.cache = cache.counts
    _record(folder, trust, readings)
    _tell(progress, constitution, trust, earlier_info.get("effective_weights", {}))
    return trust


@dataclass
class PairScores:
    """The round judge's (chosen, rejected) scores of a principle's labeled pairs: read back from the
    workspace's content cache where this very judge read them before (`reading_key`), else scored."""

    plan: Any
    judge: Any
    model: Any
    cache: Cache

    def __call__(self, principle, pairs: list) -> list[tuple]:
        # A pair from the principle's own examples is judged with it left out of the few-shots.
        items = [{"pair": [p.prompt, p.chosen, p.rejected], "from_examples": p.from_examples,
                  **({"row": part} if (part := row_part(self.plan.templates, principle, p.row)) else {})}
                 for p in pairs]
        values = self.cache.reuse(
            "pair", lambda: reading_key(self.plan, self.judge, self.model, principle, self.cache), items,
            lambda idx: [list(s) for s in judge_scores(self.judge, [pairs[i] for i in idx])],
            on_hits=lambda hits: count_unscored(self.judge, [score for pair in hits for score in pair]))
        return [tuple(value) for value in values]


class PrincipleReading:
    """One judged principle's pairs in one round: which readings carry over, which are read now."""

    def __init__(self, constitution, principle, fp: str, earlier: dict[str, dict], state: str, r: int):
        self.principle, self.fp, self.state, self.round = principle, fp, state, r
        self.pairs = {pair.key: pair for pair in principle_pairs(constitution, principle)}
        self.earlier = earlier
        self.fresh: dict[str, dict] = {}
        self.read_count = 0

    def to_read(self, sample: int, seed: int) -> list[str]:
        """Every pair without a valid reading and the round's rotating slice (what this very judge read
        before, it reads back from the cache: PairScores)."""
        valid = {k for k in self.pairs if self.earlier.get(k, {}).get("fingerprint") == self.fp}
        return pairs_to_read(list(self.pairs), valid, sample, self.round, seed)

    def read(self, scores: PairScores, keys: list[str]) -> None:
        for key, (chosen, rejected) in zip(keys, scores(self.principle, [self.pairs[k] for k in keys]) if keys else []):
            self.fresh[key] = {"key": key, "principle": self.principle.id, "chosen": chosen, "rejected": rejected,
                               "correct": correct(chosen, rejected), "round": self.round,
                               "judge_state": self.state, "fingerprint": self.fp}
        self.read_count += len(keys)

    def _older(self, key: str) -> dict | None:
        """The valid earlier reading of a pair by another judge, if any."""
        old = self.earlier.get(key)
        return old if old and old.get("fingerprint") == self.fp and old.get("judge_state") != self.state else None

    def carried(self) -> list[str]:
        """Pairs whose reading carries over from another judge (not read this round)."""
        return [k for k in self.pairs if k not in self.fresh and self._older(k)]

    def agreement(self) -> dict | None:
        """CREAM consistency of this judge with the earlier judges on the pairs both read."""
        both = [k for k in self.fresh if self._older(k)]
        measured = consistency([(self._older(k)["chosen"], self._older(k)["rejected"]) for k in both],
                               [(self.fresh[k]["chosen"], self.fresh[k]["rejected"]) for k in both])
        return {**measured, "against_round": sorted({self._older(k)["round"] for k in both})} if measured else None

    def readings(self) -> list[dict]:
        return [self.fresh.get(k) or self.earlier[k] for k in self.pairs]


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
            progress.note(weight_note(pid, measured, weight, trust.weights[pid],
                                      trust.consistency.get(pid) if trust.confidence.get(pid, 1.0) < 1 else None))
