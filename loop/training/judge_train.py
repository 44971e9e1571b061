"""Judge fine-tuning (Self-Rewarding LMs' EFT): teach the model to judge, from labeled pairs.

Each labeled pair of the constitution's train split (constitution/pairs/<id>.train.jsonl) gives two
judgments in loop's own judge conversation (loop/judging/prompts.py, exactly what the judge is
shown in a round): about the chosen answer -> "Yes", about the rejected one -> "No". TRL's
SFTTrainer fits a LoRA adapter on them, with the loss on the verdict only (prompt-completion
format), so the adapter learns to judge, not to copy judge prompts. The reliability split, which
every round reads, stays unseen: `train_and_measure` (what `loop judge-train` runs) measures the
judge on it before and after.

Self-Rewarding LMs train M1 on demonstrations and judgments together; `judgment_examples` returns
these judgments in TRL's conversational prompt-completion format so a warm start can mix them into
its own SFT data (the policy adapter is the judge: the model that answers and judges stays one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loop.config import Config
from loop.constitution import Constitution
from loop.judging.guard import guarded_view
from loop.judging.prompts import judge_conversation
from loop.templates import Templates, judge_template

VERDICTS = ("Yes", "No")  # chosen, rejected: the tokens the judge's score is read from


def judgment_examples(constitution: Constitution, templates: Templates, *, split: str = "train",
                      few_shot: bool = False, guard: bool = True) -> list[dict[str, Any]]:
    """The labeled judgments of a split, as TRL prompt-completion rows: {"prompt": [judge conversation],
    "completion": [{"role": "assistant", "content": "Yes" or "No"}], "principle": id}.

    `few_shot`: the conversation shows the principle's examples as earlier turns, as the judge does with
    [judge] few_shot = true (about ten times as many tokens a judgment). `guard`: the judge reads each
    answer without the sentences that address it (loop/judging/guard.py), so training does too."""
    rows = []
    for principle in constitution.principles:
        if principle.is_rule:
            continue  # a rule is never judged
        for pair in constitution.pairs(principle.id, split):
            if templates.missing(judge_template(principle, pair.row), pair.row):
                continue  # the judge could not read it either (`loop check` refuses such a shipped pair)
            for answer, verdict in zip((pair.chosen, pair.rejected), VERDICTS):
                seen = guarded_view(pair.prompt, answer)[0] if guard else answer
                rows.append({"prompt": judge_conversation(templates, "judge", principle, pair.prompt, seen,
                                                          few_shot=few_shot, row=pair.row),
                             "completion": [{"role": "assistant", "content": verdict}], "principle": principle.id})
    return rows


def train_judge(model, tokenizer, examples: list[dict], config: Config, out_dir: str | Path, *, epochs: float = 2.0,
                learning_rate: float = 2e-4, batch_size: int = 8, seed: int = 0):
    """Fit a LoRA adapter (the [lora] settings, as a round's policy adapter) on judgment examples with
    TRL's SFTTrainer; save it to out_dir and return the trained peft model."""
    import torch
    from datasets import Dataset
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    from loop.model import no_telemetry

    no_telemetry()
    peft_config = config.lora.peft_config()
    args = SFTConfig(output_dir=str(Path(out_dir) / "trainer"), num_train_epochs=epochs, learning_rate=learning_rate,
                     per_device_train_batch_size=batch_size, logging_steps=5, save_strategy="no", report_to="none",
                     seed=seed, data_seed=seed, disable_tqdm=True, gradient_checkpointing=False,
                     bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
                     completion_only_loss=True,  # the loss is on the verdict, never on the judge prompt
                     max_length=None)  # never cut a judge conversation: the verdict comes last
    dataset = Dataset.from_list([{k: row[k] for k in ("prompt", "completion")} for row in examples])
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                         peft_config=peft_config)
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts on stdout, where --json writes
    trainer.train()
    trainer.model.save_pretrained(str(out_dir))
    _remove_trainer_leftovers(Path(out_dir) / "trainer")
    return trainer.model, [row for row in trainer.state.log_history if "loss" in row]


def train_and_measure(ws, *, model: str | None = None, out: str | Path, epochs: float = 2.0,
                      learning_rate: float = 2e-4, few_shot: bool = False, before: bool = True) -> dict[str, Any]:
    """Measure the judge on the reliability split (`before`: False skips it), train it on the train split
    (`train_judge`, saved to `out`), and measure it again: accuracy before and after, and the consistency
    of the two judges per principle (Kendall tau of their orders of the same pairs)."""
    from loop.errors import LoopError
    from loop.judging.judge import Judge
    from loop.judging.judge_check import judge_scores, principle_pairs, summarize
    from loop.model import load_model

    config, constitution = ws.config(), ws.constitution()
    templates = ws.templates(constitution)
    examples = judgment_examples(constitution, templates, few_shot=few_shot, guard=config.judge.guard)
    if not examples:
        raise LoopError("no judge training pairs; add constitution/pairs/<id>.train.jsonl for a judged principle",
                        path=ws.constitution_dir / "pairs")
    pairs = [pair for p in constitution.principles if not p.is_rule for pair in principle_pairs(constitution, p)]
    base, tokenizer, info = load_model(model or config.model.name, config.model.dtype)

    def measure(m):
        return judge_scores(Judge(m, tokenizer, constitution, templates, config.judge, few_shot=few_shot,
                                  model_id=info.name), pairs)

    scores_before = measure(base) if before else None  # the base model: training wraps it in place
    trained, losses = train_judge(base, tokenizer, examples, config, out, epochs=epochs,
                                  learning_rate=learning_rate, seed=config.run.seed)
    scores_after = measure(trained)
    result = {"adapter": str(out), "train_examples": len(examples), "few_shot": few_shot,
              "epochs": epochs, "learning_rate": learning_rate, "losses": losses,
              "after": summarize(pairs, scores_after),
              "before": summarize(pairs, scores_before) if scores_before else None,
              "consistency": _consistency(pairs, scores_before, scores_after) if scores_before else None}
    for key in ("before", "after"):
        if result[key]:
            result[key].pop("pairs")
    return result


def _consistency(pairs: list, before: list, after: list) -> dict[str, dict]:
    """Per principle, the consistency of the judge before and after on the same pairs."""
    from loop.judging.reliability import consistency

    return {pid: consistency([before[i] for i, q in enumerate(pairs) if q.principle.id == pid],
                             [after[i] for i, q in enumerate(pairs) if q.principle.id == pid])
            for pid in dict.fromkeys(q.principle.id for q in pairs)}


def _remove_trainer_leftovers(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
