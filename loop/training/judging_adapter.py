"""The judging adapter: a second LoRA adapter, trained to judge, stacked on the round-start policy.

Why: the round's judge is M_t, the round-start policy, and at 135M its few-shot reading of some
principles is near chance. `loop judge-train` showed that training on labeled judgments makes a much
better judge, but trained into the policy's own adapter ([train] judgment_epochs) it erased what the
warm start taught. Here the judgments train an adapter of their own, "judging", on top of the judge's
frozen copy of M_t (loop/training/parts.py): M_t's knowledge judges, and the policy adapter never
trains on a judgment. One copy of the base weights serves them all; policy, judge copy, judging
adapter and KL reference are adapters of the same peft model.

How the two are stacked: peft's LoRA layers sum the outputs of every active adapter, so the judge
acts with ["judge", "judging"] active (`stacked_view`, inference mode: nothing gains a gradient), and
the judging adapter trains with both active and the judge copy frozen. TRL's `use_adapter` takes one
adapter name, hence this module's own view.

When ([judge] adapter_every = k): a self-rewarding round trains a fresh judging adapter on its M_t
every k rounds, from the first; the rounds between load the latest one trained and stack it on their
own M_t. Trained on the constitution's train split (constitution/pairs/<id>.train.jsonl) with TRL's
SFTTrainer ([sft] settings, `[judge] adapter_epochs` epochs, the loss on the verdict only), without
few-shots, and the judge reads without them too, as it was trained. A new judging adapter is a new
judge: its reliability readings start a new history (judge_trust's fingerprint), never down-weighted
for disagreeing with the judge before it.

Recorded in the round's folder: judging_adapter/ (the adapter, where this round trained it) and
round.json "judging_adapter": {trained_in, examples, epochs, data_sha256, lora, learning_rate, loss,
seconds, sha256}.
"""

from __future__ import annotations

import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loop.dist import is_main
from loop.errors import LoopError

NAME = "judging"  # the judging adapter's name in the shared peft model
FOLDER = "judging_adapter"  # where a round that trained one saves it


@dataclass
class JudgingAdapter:
    """The judging adapter a round's judge wears: its name, the weights' digest (its identity in the
    judge's history and the cache), and what the ledger records of it."""

    name: str
    sha256: str
    record: dict[str, Any] = field(default_factory=dict)


@contextmanager
def stacked_view(model, names: tuple[str, ...]):
    """The shared model acting as the sum of adapters `names`, frozen; the active adapter is restored after."""
    previous = model.active_adapter
    model.base_model.set_adapter(list(names), inference_mode=True)
    try:
        yield
    finally:
        model.set_adapter(previous)


def due(ctx) -> bool:
    """Whether this round trains a fresh judging adapter: every [judge] adapter_every self-rewarding rounds,
    from the first."""
    every = ctx.config.judge.adapter_every
    first = 2 if ctx.config.train.warm_start else 1
    return every > 0 and (ctx.number - first) % every == 0


def attach(ctx, model, judge_copy: str, folder: Path) -> JudgingAdapter | None:
    """Stack a judging adapter on the judge's frozen copy `judge_copy`: a fresh one trained on this round's
    M_t when it is due, else the latest an earlier round trained; None with [judge] adapter_every = 0."""
    if ctx.config.judge.adapter_every <= 0:
        return None
    if due(ctx):
        return _train(ctx, model, judge_copy, folder)
    earlier = latest(ctx.ledger, ctx.number)
    if earlier is None:  # the round that trained it was redone without; train one now
        return _train(ctx, model, judge_copy, folder)
    path, record = earlier
    model.load_adapter(str(path), adapter_name=NAME, is_trainable=False)
    model.set_adapter("default")
    return JudgingAdapter(NAME, weights_digest(model, NAME), record)


def latest(ledger, before: int) -> tuple[Path, dict[str, Any]] | None:
    """(saved adapter, its record) of the latest complete round before `before` that trained one."""
    for n in sorted((n for n in ledger.complete_rounds() if n < before), reverse=True):
        path = ledger.complete_dir(n) / FOLDER
        record = ledger.round_info(n).get("judging_adapter") or {}
        if (path / "adapter_config.json").is_file() and record.get("trained_in") == n:
            return path, record
    return None


def _train(ctx, model, judge_copy: str, folder: Path) -> JudgingAdapter:
    """A fresh LoRA adapter ([lora]) trained on the labeled judgments with M_t's judge copy under it."""
    from loop.phases import phase
    from loop.training.judge_train import judgment_examples
    from loop.training.warm_start import sft_trainer

    started = time.time()
    rows = [{k: row[k] for k in ("prompt", "completion")} for row in
            judgment_examples(ctx.constitution, ctx.plan.templates, few_shot=False, guard=ctx.config.judge.guard)]
    if not rows:
        raise LoopError("[judge] adapter_every is above 0 but no judged principle has labeled training pairs; "
                        "add constitution/pairs/<id>.train.jsonl, or set adapter_every = 0", path=ctx.toml)
    lora = ctx.config.lora
    model.add_adapter(NAME, lora.peft_config())
    # Both act, only the judging adapter learns: M_t's copy stays exactly M_t.
    model.base_model.set_adapter([judge_copy, NAME])
    for name, param in model.named_parameters():
        param.requires_grad_(f".{NAME}." in name)
    epochs = ctx.config.judge.adapter_epochs
    ctx.progress.note(f"round {ctx.number}: a judging adapter trains on {len(rows)} labeled judgments, "
                      f"{epochs:g} epochs, on top of the round-start model")
    trainer = sft_trainer(ctx, model, rows, folder / FOLDER, epochs=epochs, shown=False)
    try:
        with phase("judging adapter"):
            trainer.train()
    finally:
        model.set_adapter("default")  # the policy trains on; the judge copy and judging adapter are frozen
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    digest = weights_digest(model, NAME)
    record = {"trained_in": ctx.number, "examples": len(rows), "epochs": epochs,
              "data_sha256": hashlib.sha256(json.dumps(rows, sort_keys=True).encode("utf-8")).hexdigest()[:12],
              "lora": {"r": lora.r, "alpha": lora.alpha, "dropout": lora.dropout, "target_modules": lora.target_modules},
              "learning_rate": trainer.args.learning_rate,
              "loss": [round(losses[0], 4), round(losses[-1], 4)] if losses else None,
              "seconds": round(time.time() - started, 1), "sha256": digest}
    if is_main():
        model.save_pretrained(str(folder / FOLDER), selected_adapters=[NAME])
        _flatten(folder / FOLDER)
    return JudgingAdapter(NAME, digest, record)


def _flatten(path: Path) -> None:
    """peft saves an adapter not named "default" in a subfolder of its name: move it up, drop the trainer's."""
    import shutil

    nested = path / NAME
    if nested.is_dir():
        for item in nested.iterdir():
            item.replace(path / item.name)
        nested.rmdir()
    shutil.rmtree(path / "trainer", ignore_errors=True)


def weights_digest(model, name: str) -> str:
    """A short sha256 of adapter `name`'s weights (its identity: a new adapter starts a new judge history)."""
    digest = hashlib.sha256()
    for param_name, param in sorted(model.named_parameters(), key=lambda item: item[0]):
        if f".{name}." in param_name:
            digest.update(param_name.replace(f".{name}.", ".").encode() + param.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:12]
