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

from loop import phases
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
def begin_round(ctx: RoundContext, kind: str, starts_from: str, judge_is_anchor: bool, **info: Any) -> Path:
    """A clean folder for the round and a record of exactly what it uses: the constitution, templates
    and probes as snapshots, the resolved config, and round.json (its kind, versions and hashes, and
    whether its judge is the anchor: a round that starts from the base model judges with it)."""
    phases.take()  # the round's phase clock starts here
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
        "judge_mode": config.judge.mode, "seed": config.run.seed + ctx.number, "starts_from": starts_from,
        "judge_is_anchor": judge_is_anchor, **info,
    })
    barrier()
    return folder


# -------------------------------------------------------------------------------------------------
class Judging:
    """The round's judge and the two views of the shared model it judges with: the round judge (the
    frozen round-start adapter `adapter`, loop/training/parts.py) and the anchor (adapters off). In a
    round that starts from the base model (round 0, the warm start) the round judge IS the anchor:
    `adapter` is None and both views are the base, so the held-out answers are judged once, not twice."""

    def __init__(self, judge, model, adapter: str | None = None, judging_adapter=None, anchor_judge=None):
        self.judge, self.model, self.adapter = judge, model, adapter
        # loop/training/judging_adapter.py: a judging adapter stacked on `adapter`, or None
        self.judging_adapter = judging_adapter
        # The anchor reads as round 0's judge did ([judge] settings), even where the round's judge does not.
        self.anchor_judge = anchor_judge if anchor_judge is not None else judge

    @property
    def judge_is_anchor(self) -> bool:
        return self.adapter is None

    def judge_view(self):
        if self.judging_adapter is not None:
            from loop.training.judging_adapter import stacked_view

            return stacked_view(self.model, (self.adapter, self.judging_adapter.name))
        return adapter_view(self.model, self.adapter)

    def start_view(self):
        """The round-start model M_t alone, without a judging adapter: what the policy's drift is measured from."""
        return adapter_view(self.model, self.adapter)

    def anchor_view(self):
        return adapter_view(self.model, None)


def adapter_view(model, adapter: str | None):
    """The shared model acting as one of its adapters (None: the base, adapters off). A model without
    adapters (round 0 measures the plain base model) is the base as it is."""
    from contextlib import nullcontext

    from trl.trainer.utils import use_adapter

    return use_adapter(model, adapter) if hasattr(model, "peft_config") else nullcontext()


def anchor_judging(ctx: RoundContext, model) -> Judging:
    """The judging of a round that starts from the base model: its judge is the anchor."""
    from loop.judging.judge import Judge

    judge = (ctx.make_judge or Judge)(model, ctx.tokenizer, ctx.constitution, ctx.plan.templates, ctx.config.judge,
                                      model_id=ctx.model_id)
    return Judging(judge, model)


# -------------------------------------------------------------------------------------------------
# A self-rewarding round's prompts and policy (GRPO, DPO and the benchmarks share them).
def round_prompts(ctx: RoundContext) -> list[int]:
    """The pool indices a self-rewarding round trains on, dealt by behaviour with [quotas]
    (loop/training/deal.py); the k-th self-rewarding round of the run takes the k-th deal."""
    import dataclasses

    from loop.training.deal import deal

    first = 2 if ctx.config.train.warm_start else 1
    return deal(ctx.split["train_order"], ctx.plan.pool, max(0, ctx.number - first),
                ctx.config.run.prompts_per_round, dataclasses.asdict(ctx.config.quotas))


def prompt_dataset(ctx: RoundContext, indices: list[int]):
    """The round's prompts as conversational rows, so TRL applies the chat template; `answer`, `expect`
    and any other pool column reach the rule checks as reward kwargs, `slot` names the prompt's group."""
    from datasets import Dataset

    from loop.templates import policy_messages

    plan = ctx.plan
    rows = []
    for slot, index in enumerate(indices):
        row = dict(plan.pool[index])
        rows.append({**row, "prompt": policy_messages(plan.templates, plan.constitution, row["prompt"]),
                     "slot": slot, "pool_index": index})
    return Dataset.from_list(rows)


def policy_model(ctx: RoundContext):
    """One copy of the base weights (M_0); the policy adapter starts where the best accepted round ended
    (M_t = base + adapter; loop/measure/gate.py), or fresh (B = 0, so M_1 == M_0) from round 0."""
    from peft import PeftModel

    from loop.measure.gate import start_round

    start = start_round(ctx)
    if start > 0:
        return PeftModel.from_pretrained(ctx.base_model, str(ctx.ledger.complete_dir(start) / "adapter"),
                                         is_trainable=True)
    return fresh_adapter(ctx)


def policy_start(ctx: RoundContext) -> str:
    """Where round r's policy starts, in round.json's words: the best accepted round's adapter (the
    round before, unless the gate rejected it), or the base model."""
    from loop.measure.gate import start_round

    start = start_round(ctx)
    return f"round {start} adapter" if start > 0 else "base model"


def fresh_adapter(ctx: RoundContext):
    """A new LoRA adapter on the base weights, B = 0, so the policy starts exactly as the base model."""
    from peft import get_peft_model

    return get_peft_model(ctx.base_model, ctx.config.lora.peft_config())


# -------------------------------------------------------------------------------------------------
def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    atomic_write(path, "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records))


def conclude_round(ctx: RoundContext, folder: Path, kind: str, measured, train_log: list[dict[str, Any]],
                   started: float, judge, adapter_model=None, reliability: dict[str, dict] | None = None, *,
                   extra: RoundExtra | None = None, gate: dict[str, Any] | None = None,
                   **movement: Any) -> dict[str, Any]:
    """Write what the round measured (loop/measure/outside_view.py: eval.jsonl, probes.jsonl), its summary
    and warnings (loop/measure/diagnostics.py), then publish it. `movement` adds what only training
    saw (reward spread, guard cuts, cut completions) to the outside view's movement; `extra` what only
    this kind of round has (a DPO round's pair counts). `reliability`: how well the round's judge read
    each principle's labeled pairs (loop/training/judge_trust.py), kept in metrics.json too, where
    `loop log` and the exported model card read it. `gate`: the round's gate decision
    (loop/measure/gate.py), kept in its summary, where the next round and `loop export --best` read it."""
    import time

    from loop.measure.gate import comparison_warnings
    from loop.measure import diagnostics, evaluate
    from loop.measure.probes import RECORDS_FILE

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
    summary["warnings"] += comparison_warnings(ctx, measured.probe_records, gate)
    if gate is not None:
        measured.cache.update(gate.pop("cache", {}))  # the gate's answers read back, beside the other kinds
        summary["gate"] = gate
    more = {**extra.metrics, **({"reliability": reliability} if reliability else {}),
            "phases": phase_seconds(summary["seconds"])}
    return publish_round(ctx, folder, measured.metrics(train_log, **more), summary, adapter_model)


def phase_seconds(total: float) -> dict[str, float]:
    """Where the round's `total` seconds went (loop/phases.py), with what no phase counted as "other"."""
    spent = phases.take()
    return {**spent, "other": round(max(0.0, total - sum(spent.values())), 1)}


def sampling_check(ctx: RoundContext, indices: list[int], records: list[dict[str, Any]]) -> RoundExtra:
    """What a self-rewarding round's samples passed, per behaviour, next to what its start policy's greedy
    probe answers passed (loop/measure/diagnostics.py), with a warning where the two disagree."""
    from loop.measure import diagnostics
    from loop.quotas import behaviour

    pool = ctx.plan.pool
    labels = {pool[i]["prompt"]: behaviour(pool[i]) for i in indices if behaviour(pool[i])}
    from loop.measure.gate import start_round

    start = start_round(ctx)
    greedy = (ctx.ledger.metrics(start).get("probes") or {}) if is_main() and start in ctx.ledger.complete_rounds() \
        else {}
    sampling = diagnostics.sampled_vs_greedy(records, labels, ctx.constitution, greedy)
    return RoundExtra(metrics={"sampling": sampling}, warnings=diagnostics.sampling_warnings(ctx.number, sampling))


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
