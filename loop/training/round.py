"""Self-improvement rounds, read top to bottom like a recipe.

In round t the frozen round-start model M_t judges the policy's answers against every principle,
TRL's GRPOTrainer trains the policy on those self-rewards, and M_{t+1} comes out. Every round leaves
a complete record in the ledger (loop/ledger/store.py), or none at all.

How this departs from textbook GRPO and from Self-Rewarding LMs, and why:
1. Rewards are per principle, one TRL reward function each, summed with the constitution's weights
   (`reward_weights`). Principles with a rule check are rewarded by the rule (DeepSeek-V3: rules
   wherever the answer is verifiable; a rule cannot be flattered), the rest by the judge.
2. The judge's score is a probability (P(Yes) against P(No) after the judge prompt, or after its own
   critique in critique mode), never a number parsed from text: a 135M model does not follow score
   formats. Self-Rewarding LMs parse a 5-point score; they had a 70B model.
3. GRPO on the scores instead of DPO on pairs: group-relative advantages need no pair mining and use
   every sample. The judge is still the frozen M_t, as in Self-Rewarding LMs.
4. One copy of the base weights. The policy is a LoRA adapter; TRL copies the round-start adapter
   into a frozen "ref" adapter for the KL term, and that same frozen copy is the round's judge M_t.
   The anchor judge (the run's M_0) is the base with adapters off. Memory is what limits who can run
   this, so no second model is ever loaded.
5. The KL reference is M_t, the round start, not M_0: each round is a small step from where it began
   (as in iterative DPO). Drift from M_0 is watched instead by the anchor judge on held-out prompts.
6. Every round ends with a held-out evaluation scored by both judges; a growing gap between them is
   the self-hacking signal (scores rise, real quality stalls).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from loop.config import Config, grpo_args, refuse_loop_decided
from loop.constitution import Constitution
from loop.datafile import atomic_write, atomic_write_json
from loop.errors import LoopError
from loop.generation import generate_greedy
from loop.ledger import Ledger, now, write_snapshot
from loop.model import frozen_adapter_copy, no_telemetry
from loop.pool import read_pool
from loop.templates import Templates, policy_messages
from loop.training import evaluate
from loop.training.progress import RoundProgress, Silent, step_progress
from loop.training.rewards import build_rewards
from loop.workspace import Workspace


@dataclass
class RunPlan:
    """Everything validated before a model loads: a bad file fails in a second, not after minutes."""
    workspace: Workspace
    config: Config
    constitution: Constitution
    templates: Templates
    pool: list[dict[str, Any]]
    ledger: Ledger


def plan_run(ws: Workspace, overrides: dict[str, dict[str, Any]], run_name: str | None = None) -> RunPlan:
    config = ws.config()
    for section, values in overrides.items():  # command-line flags win over loop.toml
        if section == "grpo":
            refuse_loop_decided(values, ws.root / "loop.toml")  # loop.toml's own values were checked on load
            config.grpo.update(values)
        else:
            setattr(config, section, dataclasses.replace(getattr(config, section), **values))
    constitution = ws.constitution()
    templates = ws.templates(constitution)
    pool = read_pool(ws.pool_path(config), constitution)
    grpo_args(config, path=ws.root / "loop.toml")  # TRL's own checks, before any model loads
    if config.run.heldout_size >= len(pool):
        raise LoopError(f"heldout_size ({config.run.heldout_size}) leaves no prompts to train on in a pool of "
                        f"{len(pool)}; lower [run] heldout_size", path=ws.root / "loop.toml")
    return RunPlan(ws, config, constitution, templates, pool, Ledger(ws.runs_dir, run_name or config.run.name))


def split_pool(plan: RunPlan) -> dict[str, Any]:
    """Fix the held-out prompts and the training order once per run (run.json), seeded.

    Kept on disk so a resumed or extended run never trains on what it evaluates, even if the seed
    or the pool file changed in between (then we refuse, rather than silently mix the two)."""
    path = plan.ledger.path / "run.json"
    pool_hash = hashlib.sha256(json.dumps(plan.pool, sort_keys=True).encode()).hexdigest()
    if path.exists():
        split = json.loads(path.read_text("utf-8"))
        if split["pool_sha256"] != pool_hash:
            raise LoopError(f"the prompt pool changed since run '{plan.ledger.run}' started; start a new run "
                            "(--run NAME) or restore the pool", path=plan.workspace.pool_path(plan.config))
        return split
    order = list(range(len(plan.pool)))
    random.Random(plan.config.run.seed).shuffle(order)
    k = plan.config.run.heldout_size
    split = {"created": now(), "pool": plan.config.run.pool, "pool_sha256": pool_hash, "seed": plan.config.run.seed,
             "heldout": sorted(order[:k]), "train_order": order[k:]}
    atomic_write_json(path, split)
    atomic_write(plan.ledger.path / "heldout.jsonl", "".join(
        json.dumps({"index": i, **plan.pool[i]}, ensure_ascii=False) + "\n" for i in split["heldout"]))
    return split


def round_slice(split: dict[str, Any], round_number: int, size: int) -> list[int]:
    """Round r trains on the r-th slice of the training order (wrapping around a small pool)."""
    order = split["train_order"]
    start = (round_number - 1) * size
    return [order[(start + i) % len(order)] for i in range(size)]


def run_rounds(plan: RunPlan, rounds: int, progress: Callable[[int], RoundProgress] | None = None,
               make_judge=None) -> list[dict[str, Any]]:
    """Run until `rounds` rounds are complete: a crashed or killed run picks up where it stopped.

    `progress(r)` gives round r's progress (loop/training/progress.py); `make_judge` builds the judge
    from the Judge's arguments (a benchmark wraps it, tests script it)."""
    import os

    from loop.model import load_model

    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # TRL and accelerate would train across processes, but the ledger has a single writer today:
        # several processes would each write the round. Refuse rather than corrupt a run.
        raise LoopError("multi-process runs (accelerate launch) are not supported yet: the ledger has one "
                        "writer; run `loop run` as a single process (one GPU or the CPU)")
    summaries = []
    with plan.ledger.lock():
        plan.ledger.reconcile()  # a round renamed complete just before a crash counts as complete
        done = plan.ledger.complete_rounds()
        todo = [r for r in range(1, rounds + 1) if r not in done]
        if not todo:
            return summaries
        split = split_pool(plan)
        model, tokenizer, info = load_model(plan.config.model.name, plan.config.model.dtype)
        for r in todo:
            summaries.append(train_round(plan, split, model, tokenizer, info.name, r, (progress or Silent)(r),
                                         make_judge))
    return summaries


def train_round(plan: RunPlan, split: dict[str, Any], base_model, tokenizer, model_id: str, r: int,
                progress: RoundProgress | None = None, make_judge=None) -> dict[str, Any]:
    """One round, top to bottom; each numbered step is a function below, in the same order."""
    from loop.ledger.recorder import CritiqueRecorder

    started = time.time()
    config, constitution = plan.config, plan.constitution
    progress = progress or Silent(r)
    no_telemetry()
    # 1. A clean folder for the round, and a record of exactly what it uses.
    folder, slice_indices = begin_round(plan, split, r, model_id)
    # 2. The prompts: a fresh, seeded slice of the pool.
    train_dataset = prompt_dataset(plan, slice_indices)
    # 3. The model: one copy of the base weights; the policy adapter starts where round r - 1 ended.
    model = policy_model(plan, base_model, r)
    # 4. GRPO settings: TRL's names straight from [grpo] (checked already by plan_run).
    args = grpo_args(config, folder / "trainer", seed=config.run.seed + r, path=plan.workspace.root / "loop.toml")

    # 5. Rewards: the round's judge is the frozen round-start adapter; the anchor is adapters off.
    if make_judge is None:
        from loop.judging.judge import Judge
    judging = Judging((make_judge or Judge)(model, tokenizer, constitution, plan.templates, config.judge,
                                            model_id=model_id), model)
    recorder = CritiqueRecorder(folder / "critiques.jsonl", r, {p.id: p.weight for p in constitution.principles},
                                on_judged=lambda: progress.advance("judge"))
    # The anchor scores the held-out answers (step 6); training completions only when asked to.
    reward_funcs, args.reward_weights = build_rewards(constitution, judging.judge, recorder, judging.judge_view,
                                                      judging.anchor_view if config.judge.anchor_on_training else None)
    trainer = grpo_trainer(plan, model, tokenizer, args, train_dataset, reward_funcs,
                           callbacks=[recorder, step_progress(progress)])
    recorder.trainer = trainer
    # With beta > 0 TRL has copied the round-start adapter into "ref" for the KL term: that frozen copy
    # is M_t, our judge. With beta == 0 there is no "ref", so we make the same frozen copy ourselves.
    judging.adapter = "ref" if "ref" in model.peft_config else frozen_adapter_copy(model, "judge")

    # 6. Train, then evaluate on the held-out prompts (never trained on) with both judges.
    records, eval_metrics = train_and_evaluate(plan, split, r, trainer, (model, tokenizer), judging, progress)

    # 7. Publish: every file in the partial folder, then one rename makes the round complete.
    summary = publish(plan, r, folder, model, trainer, judging.judge, records, eval_metrics, time.time() - started)
    progress.round_done(summary, eval_metrics)

    # The base weights go on to the next round without this round's LoRA layers (not merged).
    model.unload()
    del trainer
    return {"round": r, "status": "complete", **summary}


# -------------------------------------------------------------------------------------------------
# 1. A clean folder for the round, and a record of exactly what it uses.
def begin_round(plan: RunPlan, split: dict[str, Any], r: int, model_id: str) -> tuple[Path, list[int]]:
    config, constitution, ledger = plan.config, plan.constitution, plan.ledger
    folder = ledger.begin_round(r)
    write_snapshot(folder / "constitution", constitution.files)
    write_snapshot(folder / "prompts", plan.templates.files)
    atomic_write_json(folder / "config.json", config.to_dict())
    slice_indices = round_slice(split, r, config.run.prompts_per_round)
    atomic_write_json(folder / "round.json", {
        "round": r, "status": "running", "started": now(), "run": ledger.run, "model": model_id,
        "constitution": {"name": constitution.name, "version": constitution.version, "sha256": constitution.sha256},
        "templates": {name: plan.templates.sha256(name) for name in plan.templates.sources},
        "judge_mode": config.judge.mode, "seed": config.run.seed + r, "prompt_indices": slice_indices,
        "starts_from": f"round {r - 1} adapter" if r > 1 else "base model",
    })
    return folder, slice_indices


# -------------------------------------------------------------------------------------------------
# 2. The prompts: a fresh, seeded slice of the pool. Conversational rows, so TRL applies the chat
#    template; `answer` and any other columns reach the rule checks as reward kwargs.
def prompt_dataset(plan: RunPlan, slice_indices: list[int]):
    from datasets import Dataset

    rows = []
    for slot, index in enumerate(slice_indices):
        row = dict(plan.pool[index])
        rows.append({**row, "prompt": policy_messages(plan.templates, plan.constitution, row["prompt"]),
                     "slot": slot, "pool_index": index})
    return Dataset.from_list(rows)


# -------------------------------------------------------------------------------------------------
# 3. The model: one copy of the base weights (M_0). The policy adapter starts where the previous
#    round ended (M_t = base + adapter), or fresh (B = 0, so M_1 == M_0) in round 1.
def policy_model(plan: RunPlan, base_model, r: int):
    from peft import LoraConfig, PeftModel, get_peft_model

    lora = plan.config.lora
    if r > 1:
        previous = plan.ledger.complete_dir(r - 1) / "adapter"
        return PeftModel.from_pretrained(base_model, str(previous), is_trainable=True)
    return get_peft_model(base_model, LoraConfig(
        r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, task_type="CAUSAL_LM",
        target_modules=lora.target_modules if lora.target_modules == "all-linear"
        else [m.strip() for m in lora.target_modules.split(",")]))


# -------------------------------------------------------------------------------------------------
# 5. The judges, and the trainer with one reward function per principle (loop/training/rewards.py).
class Judging:
    """The round's judge and the two views of the shared model it judges with: the round judge (the
    frozen round-start adapter, named once TRL has made it) and the anchor (adapters off)."""

    def __init__(self, judge, model):
        self.judge, self.model = judge, model
        self.adapter: str | None = None  # the frozen round-start adapter, once it exists

    def judge_view(self):
        from trl.trainer.utils import use_adapter

        if self.adapter is None:
            raise RuntimeError("the round judge's frozen adapter does not exist yet")
        return use_adapter(self.model, self.adapter)

    def anchor_view(self):
        from trl.trainer.utils import use_adapter

        return use_adapter(self.model, None)


def grpo_trainer(plan: RunPlan, model, tokenizer, args, train_dataset, reward_funcs: list, callbacks: list):
    from transformers import PrinterCallback
    from trl import GRPOTrainer

    try:
        trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs, args=args, train_dataset=train_dataset,
                              processing_class=tokenizer, callbacks=callbacks)
    except (ValueError, NotImplementedError) as err:
        # GRPOConfig accepted [grpo] at plan time, but the trainer checks more combinations (with the model
        # in hand): those are settings to fix too, in one line, not a traceback.
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LoopError(f"[grpo] settings rejected by TRL's GRPOTrainer: {message}",
                        path=plan.workspace.root / "loop.toml") from None
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts; our progress bars and ledger say it better
    return trainer


# -------------------------------------------------------------------------------------------------
# 6. Train, then answer the held-out prompts greedily and score the answers with both judges.
def train_and_evaluate(plan: RunPlan, split: dict[str, Any], r: int, trainer, policy: tuple, judging: Judging,
                       progress: RoundProgress) -> tuple[list[dict], dict[str, Any]]:
    (model, tokenizer), args = policy, trainer.args
    heldout_rows = [{**plan.pool[i], "heldout_index": i} for i in split["heldout"]]
    judged = [p for p in plan.constitution.principles if not p.is_rule]
    steps_hint = len(trainer.train_dataset) * args.num_generations // args.per_device_train_batch_size
    with progress:
        progress.add("train", total=max(1, steps_hint))
        progress.add("judge", total=max(1, steps_hint * len(judged)))
        progress.add("eval generate", total=len(heldout_rows))
        progress.add("eval judge", total=len(judged))
        trainer.train()
        completions = generate_greedy(
            model, tokenizer,
            [policy_messages(plan.templates, plan.constitution, row["prompt"]) for row in heldout_rows],
            max_new_tokens=args.max_completion_length, on_batch=lambda n: progress.advance("eval generate", n))
        return evaluate.evaluate_heldout(r, completions, heldout_rows, judging.judge, plan.constitution,
                                         judging.judge_view, judging.anchor_view,
                                         on_judged=lambda: progress.advance("eval judge"))


# -------------------------------------------------------------------------------------------------
# 7. Publish: every file in the partial folder, then one rename makes the round complete.
def publish(plan: RunPlan, r: int, folder: Path, model, trainer, judge, records: list[dict],
            eval_metrics: dict[str, Any], seconds: float) -> dict[str, Any]:
    from loop.ledger.summary import summary_text

    train_log = [row for row in trainer.state.log_history if "loss" in row or "reward" in row]
    summary = evaluate.summarize(train_log, eval_metrics, seconds)
    summary["unscored"] = judge.unscored
    atomic_write(folder / "eval.jsonl", "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records))
    atomic_write_json(folder / "metrics.json", {"train": train_log, "eval": eval_metrics, "summary": summary})
    atomic_write(folder / "summary.txt", summary_text(r, summary, eval_metrics))
    model.save_pretrained(str(folder / "adapter"), selected_adapters=["default"])
    _remove_trainer_leftovers(folder / "trainer")
    plan.ledger.complete_round(r, summary)
    return summary


def _remove_trainer_leftovers(path: Path) -> None:
    """TRL's output_dir holds nothing we keep (no checkpoints are saved); leave no clutter."""
    import shutil

    shutil.rmtree(path, ignore_errors=True)
