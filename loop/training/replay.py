"""Warm-start replay: while a self-rewarding GRPO round trains, each of its loss computations also trains
on a few of the warm start's own rows (the answer tokens only), weighted by [train] replay.

Why: the self-rewards teach what the rules and judges can tell apart, and nothing holds on to what the
warm start taught that the samples rarely show (a refusal, an admission); InstructGPT mixes pretraining
batches into PPO for the same reason (PPO-ptx). The KL term holds the policy near the warm start's
probabilities on the round's own samples only; replay holds it on the demonstrations themselves.
The rows are the warm start's recorded demonstrations.jsonl, in a seeded order, cycled.
"""

from __future__ import annotations

import json
import random

REPLAY_BATCH = 4  # warm-start rows a loss computation replays


class Replay:
    """Answer-only negative log-likelihood of the policy on the warm start's rows, a few at a time."""

    def __init__(self, rows: list[dict[str, list]], tokenizer, weight: float, seed: int, max_length: int = 512,
                 batch_size: int = REPLAY_BATCH):
        from trl.data_utils import apply_chat_template
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        self.weight, self.batch_size = weight, batch_size
        self.examples = []
        for row in rows:
            text = apply_chat_template(row, tokenizer)
            prompt = tokenizer(text["prompt"], add_special_tokens=False)["input_ids"]
            answer = tokenizer(text["completion"], add_special_tokens=False)["input_ids"]
            self.examples.append({"input_ids": (prompt + answer)[:max_length],
                                  "labels": ([-100] * len(prompt) + answer)[:max_length]})
        random.Random(seed).shuffle(self.examples)
        self.collate = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)
        self.next = 0

    def batch(self) -> dict:
        """The next `batch_size` rows, cycling through the shuffled rows, padded."""
        picked = [self.examples[(self.next + i) % len(self.examples)] for i in range(self.batch_size)]
        self.next = (self.next + self.batch_size) % len(self.examples)
        return self.collate(picked)

    def loss(self, model, device):
        """The policy's mean NLL on the next batch's answer tokens (the caller weights and scales it)."""
        batch = {k: v.to(device) for k, v in self.batch().items() if k in ("input_ids", "attention_mask", "labels")}
        return model(**batch).loss


def replay_for(ctx) -> Replay | None:
    """The round's replay ([train] replay > 0, a self-rewarding round after a recorded warm start): the warm
    start's rows, asked as the policy is asked now (its system prompt, loop/training/warm_start.py);
    None otherwise."""
    from loop.training.warm_start import answer_rows

    weight, train = ctx.config.train.replay, ctx.config.train
    path = ctx.ledger.complete_dir(1) / "demonstrations.jsonl"
    if not weight or not train.warm_start or ctx.number < 2 or not path.exists():
        return None
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return Replay(answer_rows(ctx, rows), ctx.tokenizer, weight, seed=ctx.config.run.seed + ctx.number,
                  max_length=ctx.config.sft.get("max_length") or 512) if rows else None
