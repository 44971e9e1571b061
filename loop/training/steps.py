"""The steps every kind of round shares: a clean folder with a record of what the round uses, the
judges and the views of the one shared model they judge with, and the publish that makes it complete.

The round recipes (loop/training/baseline.py, warm_start.py, grpo_round.py, dpo_round.py) read top to
bottom and call these, so a round of any kind leaves the same ledger layout (loop/ledger/store.py).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from loop.datafile import atomic_write, atomic_write_json
from loop.dist import barrier, gather_object, is_main, on_main
from loop.ledger import now, write_snapshot
from loop.training.progress import RoundProgress, Silent


@dataclass
class RoundContext:
    """What a round recipe is handed by the run (loop/training/round.py run_rounds)."""

    plan: Any  # loop.training.round.RunPlan
    split: dict[str, Any]  # run.json: the held-out prompts and the training order
    base_model: Any  # the one copy of the base weights, adapters off
    tokenizer: Any
    model_id: str
    number: int
    progress: RoundProgress = field(default_factory=Silent)
    make_judge: Callable | None = None  # builds the judge from the Judge's arguments (benchmarks, tests)

    @property
    def config(self):
        return self.plan.config

    @property
    def constitution(self):
        return self.plan.constitution

    @property
    def ledger(self):
        return self.plan.ledger

    @property
    def toml(self) -> Path:
        return self.plan.workspace.root / "loop.toml"


# -------------------------------------------------------------------------------------------------
def begin_round(ctx: RoundContext, kind: str, starts_from: str, **info: Any) -> Path:
    """A clean folder for the round and a record of exactly what it uses: the constitution, templates
    and probes as snapshots, the resolved config, and round.json (its kind, versions and hashes)."""
    if not is_main():  # rank 0 alone writes the ledger; the others wait until the folder is there
        barrier()
        return ctx.ledger.partial_dir(ctx.number)
    plan, config, constitution = ctx.plan, ctx.config, ctx.constitution
    folder = ctx.ledger.begin_round(ctx.number, kind=kind)
    write_snapshot(folder / "constitution", constitution.files)
    write_snapshot(folder / "prompts", plan.templates.files)
    write_snapshot(folder / "probes", plan.probes.files)
    atomic_write_json(folder / "config.json", config.to_dict())
    atomic_write_json(folder / "round.json", {
        "round": ctx.number, "kind": kind, "status": "running", "started": now(), "run": ctx.ledger.run,
        "model": ctx.model_id,
        "constitution": {"name": constitution.name, "version": constitution.version, "sha256": constitution.sha256},
        "templates": {name: plan.templates.sha256(name) for name in plan.templates.sources},
        "probes": {"dir": config.probes.dir, "sha256": plan.probes.sha256, "per_round": config.probes.per_round},
        "judge_mode": config.judge.mode, "seed": config.run.seed + ctx.number, "starts_from": starts_from, **info,
    })
    barrier()
    return folder


# -------------------------------------------------------------------------------------------------
class Judging:
    """The round's judge and the two views of the shared model it judges with: the round judge (the
    frozen round-start adapter, named once it exists) and the anchor (adapters off). In a round that
    starts from the base model (round 0, the warm start) the round judge IS the anchor: `adapter` stays
    None and both views are the base, so the held-out answers are judged once, not twice."""

    def __init__(self, judge, model):
        self.judge, self.model = judge, model
        self.adapter: str | None = None  # the frozen round-start adapter, once it exists

    @property
    def judge_is_anchor(self) -> bool:
        return self.adapter is None

    def judge_view(self):
        return adapter_view(self.model, self.adapter)

    def anchor_view(self):
        return adapter_view(self.model, None)


def adapter_view(model, adapter: str | None):
    """The shared model acting as one of its adapters (None: the base, adapters off). A model without
    adapters (round 0 measures the plain base model) is the base as it is."""
    from contextlib import nullcontext

    from trl.trainer.utils import use_adapter

    return use_adapter(model, adapter) if hasattr(model, "peft_config") else nullcontext()


def make_judging(ctx: RoundContext, model) -> Judging:
    from loop.judging.judge import Judge

    judge = (ctx.make_judge or Judge)(model, ctx.tokenizer, ctx.constitution, ctx.plan.templates, ctx.config.judge,
                                      model_id=ctx.model_id)
    return Judging(judge, model)


def self_rewards(ctx: RoundContext, folder: Path, judging: Judging, model, trust=None) -> tuple[Any, list, list[float], Any]:
    """(recorder, reward functions, weights, trust) of a self-rewarding round: one reward function per
    principle with TRL's signature (loop/training/rewards.py), reporting to the round's critiques.jsonl.
    First the judge reads labeled pairs while the policy is still M_t (loop/training/judge_trust.py):
    each judged principle's measured accuracy sets its weight, and one read at chance is not judged at
    all (`trust` given: those weights, read no pairs). One place for GRPO and DPO rounds, so both
    methods are rewarded alike. The anchor judge scores the
    held-out answers (loop/training/measure.py); training completions too only with [judge]
    anchor_on_training: that doubles the judge's work per step for a score training never reads."""
    from loop.ledger.recorder import CritiqueRecorder
    from loop.training import judge_trust
    from loop.training.rewards import build_rewards

    if trust is None:
        # Rank 0 alone reads the pairs and records them; every process trains with its weights.
        trust = on_main(judge_trust.assess, ctx.plan, ctx.number, folder, judging.judge, model, ctx.progress)
    recorder = CritiqueRecorder(folder / "critiques.jsonl", ctx.number, trust.weights,
                                on_judged=lambda: ctx.progress.advance("judge"))
    anchor_view = judging.anchor_view if ctx.config.judge.anchor_on_training else None
    funcs, weights = build_rewards(ctx.constitution, judging.judge, recorder, judging.judge_view, anchor_view,
                                   weights=trust.weights)
    return recorder, funcs, weights, trust


# -------------------------------------------------------------------------------------------------
def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    atomic_write(path, "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records))


def conclude_round(ctx: RoundContext, folder: Path, kind: str, measured, train_log: list[dict[str, Any]],
                   started: float, judge, adapter_model=None, reliability: dict[str, dict] | None = None, *,
                   extra: RoundExtra | None = None, **movement: Any) -> dict[str, Any]:
    """Write what the round measured (loop/training/measure.py: eval.jsonl, probes.jsonl), its summary
    and warnings (loop/training/diagnostics.py), then publish it. `movement` adds what only training
    saw (reward spread, guard cuts, cut completions) to the outside view's movement; `extra` what only
    this kind of round has (a DPO round's pair counts). `reliability`: how well the round's judge read
    each principle's labeled pairs (loop/training/judge_trust.py), kept in metrics.json too, where
    `loop log` and the exported model card read it."""
    import time

    from loop.training import diagnostics, evaluate
    from loop.training.probes import RECORDS_FILE

    # Every process judged its own share of the samples: their unscored answers are summed. Then rank 0
    # alone writes (`measured` is None on the others); run_rounds hands its summary to every process.
    unscored = sum(gather_object([judge.unscored]))
    if not is_main():
        return {}
    extra = extra or RoundExtra()
    measured.movement.update(movement)
    write_jsonl(folder / "eval.jsonl", measured.eval_records)
    write_jsonl(folder / RECORDS_FILE, measured.probe_records)
    summary = evaluate.summarize(kind, train_log, measured, time.time() - started)
    summary.update(extra.summary)
    summary["unscored"] = unscored  # answers the judge could not score, this round
    summary["warnings"] = diagnostics.warnings(ctx.number, measured.movement, ctx.constitution,
                                               ctx.config.grpo.get("max_completion_length"),
                                               measured.probe_metrics.get("probe_changes")) + extra.warnings
    more = {**extra.metrics, **({"reliability": reliability} if reliability else {})}
    return publish_round(ctx, folder, measured.metrics(train_log, **more), summary, adapter_model)


@dataclass
class RoundExtra:
    """What one kind of round adds to what every round concludes with: summary fields (they win over
    the common ones), metrics.json entries, and warning lines."""

    summary: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def publish_round(ctx: RoundContext, folder: Path, metrics: dict[str, Any], summary: dict[str, Any],
                  adapter_model=None) -> dict[str, Any]:
    """Every file in the partial folder, then one rename makes the round complete (the ledger's rule:
    a crash at any moment loses at most the round in progress)."""
    from loop.ledger.summary import summary_text

    atomic_write_json(folder / "metrics.json", {**metrics, "summary": summary})
    atomic_write(folder / "summary.txt", summary_text(ctx.number, summary, metrics))
    if adapter_model is not None:
        adapter_model.save_pretrained(str(folder / "adapter"), selected_adapters=["default"])
    shutil.rmtree(folder / "trainer", ignore_errors=True)  # TRL's output_dir: no checkpoints are kept
    ctx.ledger.complete_round(ctx.number, summary)
    ctx.progress.round_done(summary, metrics)
    return {"round": ctx.number, "status": "complete", **summary}
