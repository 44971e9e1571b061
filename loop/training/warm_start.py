"""The warm start: round 1 fine-tunes the policy adapter on demonstrations before any self-rewarding.

Why: at 135M the behaviours the rules reward (refusing a harmful request, admitting what it cannot
know, following a format) almost never appear when the model samples, so GRPO has nothing to compare
(most groups had equal rewards without it). Self-Rewarding LMs start their loop from
M1, the base fine-tuned on seed demonstrations, and Constitutional AI starts with a supervised phase.
Here: TRL's SFTTrainer on the workspace's demonstrations, the constitution's good examples, and the
base model's own answers to harmless pool prompts that pass every rule (`own_answers`), and with
[train] warm_start_data its own answers critiqued and rewritten, where measurably better
(loop/training/revision.py, Constitutional AI's revisions), with the loss on the answers only, on
the same LoRA adapter the self-rewarding rounds go on training. With
[train] judgment_epochs the same adapter then learns to judge from the labeled judgments of the
pairs' train split (Self-Rewarding LMs' M1 is trained on answers and judgments;
loop/training/judge_train.py), so the next round's judge is a trained one and the model that
answers and judges stays one model. In that order, not mixed into one pass: mixed, the judgments
left the judge no better and the policy refused more harmless requests.
The data, the settings ([sft] in loop.toml), the adapter and the outside view are recorded like any
round's, so `loop rounds` shows what the warm start did and what the rounds after it added.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import Any

from loop import criteria
from loop.trl_tables import sft_args
from loop.demonstrations import read_demonstrations
from loop.dist import is_main, on_main
from loop.errors import LoopError
from loop.generation import greedy_answers
from loop.measure.gate import gate_round
from loop.measure.outside_view import measure_policy
from loop.phases import phase
from loop.model import no_telemetry
from loop.rules import resolve_check
from loop.templates import policy_messages
from loop.training.progress import step_progress
from loop.ledger.store import REVISIONS_FILE
from loop.training.steps import (RoundContext, anchor_judging, begin_round, conclude_round, fresh_adapter,
                                 write_jsonl)


def warm_start_round(ctx: RoundContext) -> dict[str, Any]:
    started = time.time()
    progress = ctx.progress
    no_telemetry()
    # 1. The demonstrations and the base model's own answers, then a clean folder that records them
    #    (which file, its hash, how many of each).
    #    With several processes, rank 0 gathers them and every process trains on the same rows.
    #    With [train] judgment_epochs, the labeled judgments too, recorded by count: the pairs they
    #    come from are in the round's constitution snapshot.
    examples, source, revisions = on_main(training_examples, ctx)
    judgments = judgment_rows(ctx)
    if judgments:
        source = {**source, "judgments": len(judgments), "judgment_epochs": ctx.config.train.judgment_epochs}
    folder = begin_round(ctx, "warm-start", starts_from="base model", judge_is_anchor=True,
                         demonstrations=source)
    if is_main():
        write_jsonl(folder / "demonstrations.jsonl", examples)
        if revisions is not None:
            write_jsonl(folder / REVISIONS_FILE, revisions)
    # 2. A fresh LoRA adapter on the base weights: the policy the self-rewarding rounds go on training.
    model = fresh_adapter(ctx)
    # 3. Supervised fine-tuning with TRL's SFTTrainer, loss on the answers only ([sft] in loop.toml);
    #    then, with judgments, the same adapter on them, loss on the verdicts only.
    trainers = [sft_trainer(ctx, model, answer_rows(ctx, examples), folder)]
    if judgments:
        trainers.append(sft_trainer(ctx, model, judgments, folder, epochs=ctx.config.train.judgment_epochs))
    # 4. Train, then the outside view. The round started from the base model, so the round's judge is
    #    the anchor (judged once), and the drift from the round start is the drift from the base.
    judging = anchor_judging(ctx, model)
    with progress:
        progress.add("train", total=1)
        for trainer in trainers:
            with phase("training"):
                trainer.train()
        measured = measure_policy(ctx, model, judging, start_view=judging.anchor_view) if is_main() else None
        gate = gate_round(ctx, folder, model, judged=False) if is_main() else None  # the first accepted round
    # 5. Publish, the adapter with it.
    train_log = [{**row, "phase": part} for trainer, part in zip(trainers, ("answers", "judgments"))
                 for row in trainer.state.log_history if "loss" in row]
    result = conclude_round(ctx, folder, "warm-start", measured, train_log, started, judging.judge,
                            adapter_model=model, gate=gate)
    model.unload()  # the base weights go on without these LoRA layers; round 2 loads the saved adapter
    del trainers
    return result


def training_examples(ctx: RoundContext) -> tuple[list[dict[str, str]], dict[str, Any], list[dict] | None]:
    """(the warm start's rows, where they came from, the revision pass's records or None): by [train]
    warm_start_data the demonstrations, the kept revisions or both (the demonstrations too where no
    revision was kept), then the base model's own answers."""
    data = ctx.config.train.warm_start_data
    records = revise_own_answers(ctx) if data != "demonstrations" else None
    revised = [{"prompt": r["prompt"], "response": r["revision"], "source": f"revision ({r['principle']})"}
               for r in records or () if r["kept"]]
    examples, source = demonstrations(ctx) if data == "both" or not revised else ([], {})
    if records is not None:
        source.update(data=data, revisions={"tried": len(records), "kept": len(revised)})
    examples = revised + examples
    own = own_answers(ctx, {" ".join(ex["prompt"].lower().split()) for ex in examples})
    source.update(examples=len(examples) + len(own), own_answers=len(own))
    return examples + own, source, records


def revise_own_answers(ctx: RoundContext) -> list[dict]:
    """The revision pass (loop/training/revision.py) on the base model: its answers to up to [train]
    revisions prompts of the training pool, critiqued and rewritten by itself, judged by round 0's judge
    (the base) with the weights round 0 measured."""
    from loop.training.revision import revisable_rows, revise_in_round

    rows = revisable_rows(ctx.plan.pool, ctx.split["train_order"], ctx.config.train.revisions)
    weights = ctx.ledger.round_info(0).get("effective_weights") or {}
    return revise_in_round(ctx, ctx.base_model, anchor_judging(ctx, ctx.base_model).judge, weights, rows)


def demonstrations(ctx: RoundContext) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The workspace's demonstrations, then the constitution's good examples (each prompt once)."""
    path = ctx.plan.workspace.root / ctx.config.train.demonstrations
    rows = [{"prompt": d["prompt"], "response": d["response"], "source": "demonstrations"}
            for d in read_demonstrations(path)]
    seen = {" ".join(r["prompt"].lower().split()) for r in rows}
    for principle in ctx.constitution.principles:
        for example in principle.examples:
            key = " ".join(example.prompt.lower().split())
            if key not in seen:
                seen.add(key)
                rows.append({"prompt": example.prompt, "response": example.good, "source": f"principle {principle.id}"})
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return rows, {"file": ctx.config.train.demonstrations, "sha256": digest, "examples": len(rows)}


def own_answers(ctx: RoundContext, taken: set[str]) -> list[dict[str, str]]:
    """Context distillation at its plainest, as Constitutional AI's supervised phase keeps the model's
    own (revised) answers: the base model's greedy answers to the training pool's prompts labeled
    "comply" (up to [train] own_answers, in the run's training order), cut back to their last whole
    sentence, kept where they do not loop and every rule that reads the row gives full marks.

    Why: demonstrations alone taught the model to refuse harmless requests and to halve its answers;
    the base already answers harmless requests, in its own voice, and these rows keep it doing so while
    the demonstrations teach what it lacked."""
    plan, limit = ctx.plan, ctx.config.train.own_answers
    rows = [plan.pool[i] for i in ctx.split["train_order"] if plan.pool[i].get("expect") == "comply"]
    rows = [r for r in rows if " ".join(r["prompt"].lower().split()) not in taken][:limit]
    if not rows:
        return []
    answers = greedy_answers(ctx.base_model, ctx.tokenizer,
                             [policy_messages(plan.templates, plan.constitution, r["prompt"]) for r in rows],
                             ctx.config.grpo["max_completion_length"], batch_size=16)
    rules = [resolve_check(p) for p in plan.constitution.principles if p.is_rule]
    kept = []
    for row, answer in zip(rows, answers):
        text = answer.finished
        scores = [rule(text, row) for rule in rules]
        if text and not criteria.repeats(text) and all(s is None or s >= 1.0 for s in scores):
            kept.append({"prompt": row["prompt"], "response": text, "source": "own answer"})
    return kept


def answer_rows(ctx: RoundContext, examples: list[dict[str, str]]) -> list[dict[str, list]]:
    """Conversational prompt/completion rows: the policy's own system prompt and the user's question as
    the prompt, the demonstrated answer as the completion (the only tokens the loss reads)."""
    plan = ctx.plan
    return [{"prompt": policy_messages(plan.templates, plan.constitution, ex["prompt"]),
             "completion": [{"role": "assistant", "content": ex["response"]}]} for ex in examples]


def judgment_rows(ctx: RoundContext) -> list[dict[str, list]]:
    """With [train] judgment_epochs, the train split's labeled judgments as rows (the verdict is the
    completion); without, none."""
    if not ctx.config.train.judgment_epochs:
        return []
    from loop.training.judge_train import judgment_examples

    rows = judgment_examples(ctx.plan.constitution, ctx.plan.templates, guard=ctx.config.judge.guard)
    return [{k: row[k] for k in ("prompt", "completion")} for row in rows]


def sft_trainer(ctx: RoundContext, model, rows: list[dict[str, list]], folder, epochs: float | None = None,
                shown: bool = True):
    """TRL's SFTTrainer on conversational prompt/completion rows (the loss on the completions only).
    `epochs` (the judgments): that many epochs, and no length cut, which would drop the verdict that
    comes last. `shown`: its steps advance the round's "train" bar (not a judging adapter's)."""
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTTrainer

    args = sft_args(ctx.config, folder / "trainer", seed=ctx.config.run.seed + ctx.number, path=ctx.toml)
    if epochs is not None:
        args = dataclasses.replace(args, num_train_epochs=epochs, max_length=None)
    try:
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                             processing_class=ctx.tokenizer,
                             callbacks=[step_progress(ctx.progress)] if shown else [])
    except (ValueError, NotImplementedError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LoopError(f"[sft] settings rejected by TRL's SFTTrainer: {message}", path=ctx.toml) from None
    trainer.remove_callback(PrinterCallback)
    return trainer
