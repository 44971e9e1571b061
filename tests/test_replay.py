"""Warm-start replay (loop/training/replay.py): the warm start's rows, asked as the policy is asked, with
the loss on the answer tokens only, cycled in a seeded order, and trained through the policy adapter."""

from __future__ import annotations

import pytest
import torch
from tests.test_round import plan_for

from loop.training.replay import Replay

ROWS = [{"prompt": [{"role": "user", "content": f"Question {i}?"}],
         "completion": [{"role": "assistant", "content": f"Answer number {i}."}]} for i in range(5)]


@pytest.fixture
def policy(workspace, tiny_model_dir):
    from loop.model import load_model
    from loop.training.steps import RoundContext, fresh_adapter

    model, tokenizer, info = load_model(str(tiny_model_dir))
    ctx = RoundContext(plan_for(workspace, tiny_model_dir), {}, model, tokenizer, info.name, 1)
    return fresh_adapter(ctx), tokenizer


def test_only_the_answer_tokens_are_learned(policy):
    _, tokenizer = policy
    replay = Replay(ROWS[:1], tokenizer, weight=1.0, seed=0, batch_size=1)
    example = replay.examples[0]
    answer = [t for t in example["labels"] if t != -100]
    assert answer == example["input_ids"][-len(answer):]
    assert "Answer number 0." in tokenizer.decode(answer)
    assert "Question 0?" not in tokenizer.decode(answer)


def test_batches_cycle_through_every_row_in_a_seeded_order(policy):
    _, tokenizer = policy
    orders = []
    for seed in (0, 0, 1):
        replay = Replay(ROWS, tokenizer, weight=1.0, seed=seed, batch_size=2)
        batches = [replay.batch() for _ in range(5)]
        seen = [tuple(ids[:int(sum(mask))]) for b in batches  # without the padding
                for ids, mask in zip(b["input_ids"].tolist(), b["attention_mask"].tolist())]
        orders.append(seen)
        assert len(set(seen)) == len(ROWS)  # 10 rows drawn from 5: each at least once
    assert orders[0] == orders[1] and orders[0] != orders[2]


def test_the_replay_loss_trains_the_policy_adapter_only(policy):
    model, tokenizer = policy
    model.train()
    loss = Replay(ROWS, tokenizer, weight=1.0, seed=0).loss(model, "cpu")
    assert torch.isfinite(loss) and loss > 0
    loss.backward()
    grads = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert grads and all(".default." in n for n in grads)
