"""A self-rewarding round's parts, built together (loop/training/parts.py): the judge's own frozen copy of
the round start, the recorder handed TRL's advantages, the KL reference loaded at construction, and
round.json saying whether the judge is the anchor."""

from __future__ import annotations

import json
from unittest.mock import PropertyMock, patch

import pytest
import torch
from tests.scripted_judge import ScriptedJudge
from tests.test_round import plan_for, read_lines

from loop.training.round import run_rounds


def lora_state(model, adapter: str) -> dict[str, torch.Tensor]:
    return {name.replace(f".{adapter}.", "."): p.detach().clone() for name, p in model.named_parameters()
            if f".{adapter}." in name}


@pytest.fixture
def parts_of_round_one(workspace, tiny_model_dir):
    """(ctx, parts) of a GRPO round 1 on the tiny model, built as a round builds them, not yet trained."""
    from loop.model import load_model
    from loop.training.parts import grpo_parts
    from loop.training.round import split_pool
    from loop.training.steps import RoundContext, policy_model, prompt_dataset

    plan = plan_for(workspace, tiny_model_dir)
    model, tokenizer, info = load_model(str(tiny_model_dir))
    split = split_pool(plan)
    ctx = RoundContext(plan, split, model, tokenizer, info.name, 1, make_judge=ScriptedJudge)
    folder = plan.ledger.path / "parts"
    folder.mkdir(parents=True)
    policy = policy_model(ctx)
    dataset = prompt_dataset(ctx, split["train_order"][:2])
    return ctx, grpo_parts(ctx, folder, policy, dataset)


def test_the_judge_is_a_frozen_copy_of_the_round_start_that_training_leaves_alone(parts_of_round_one):
    _, parts = parts_of_round_one
    model = parts.model
    assert parts.judging.adapter == "judge" and not parts.judging.judge_is_anchor
    start = lora_state(model, "default")
    judge = lora_state(model, "judge")
    assert judge.keys() == start.keys() and all(torch.equal(judge[k], start[k]) for k in start)
    assert not any(p.requires_grad for name, p in model.named_parameters() if ".judge." in name)
    parts.trainer.train()
    after = lora_state(model, "default")
    assert any(not torch.equal(after[k], start[k]) for k in start)  # the policy moved ...
    assert all(torch.equal(lora_state(model, "judge")[k], judge[k]) for k in judge)  # ... its judge did not


def test_the_recorder_keeps_the_advantages_trl_trained_with(parts_of_round_one):
    _, parts = parts_of_round_one
    parts.trainer.train()
    records = parts.rewards.recorder.records
    assert records and all(isinstance(r["advantage"], float) for r in records)
    on_disk = read_lines(parts.rewards.recorder.path)
    assert [r["advantage"] for r in on_disk] == [r["advantage"] for r in records]


def test_a_kl_reference_is_loaded_into_trls_ref_adapter(workspace, tiny_model_dir, tmp_path):
    from loop.model import load_model
    from loop.training.trainer import load_into_adapter
    from loop.training.steps import RoundContext, fresh_adapter

    plan = plan_for(workspace, tiny_model_dir)
    model, tokenizer, info = load_model(str(tiny_model_dir))
    ctx = RoundContext(plan, {}, model, tokenizer, info.name, 1)
    saved = fresh_adapter(ctx)
    with torch.no_grad():
        for name, p in saved.named_parameters():
            if "lora_B" in name:
                p.fill_(0.25)
    saved.save_pretrained(str(tmp_path / "anchor"))
    wanted = lora_state(saved, "default")
    saved.unload()
    policy = fresh_adapter(ctx)
    from loop.model import frozen_adapter_copy
    frozen_adapter_copy(policy, "ref")
    load_into_adapter(policy, tmp_path / "anchor", "ref")
    ref = lora_state(policy, "ref")
    assert all(torch.equal(ref[k], wanted[k]) for k in wanted)
    assert policy.active_adapter == "default"
    assert all(p.abs().sum() == 0 for name, p in policy.named_parameters() if ".default." in name and "lora_B" in name)


def test_round_json_says_whether_the_judge_is_the_anchor(workspace, tiny_model_dir):
    plan = plan_for(workspace, tiny_model_dir)
    run_rounds(plan, 2, make_judge=ScriptedJudge)
    info = [json.loads((plan.ledger.complete_dir(n) / "round.json").read_text()) for n in (0, 1, 2)]
    # Round 0 judges with the base; round 1 without a warm start starts from the base too (B = 0);
    # round 2 starts from round 1's adapter, so its judge is not the anchor.
    assert [i["judge_is_anchor"] for i in info] == [True, True, False]


def test_rules_first_advantages_are_the_combined_reward_centered_in_its_group(parts_of_round_one):
    # Not z-scored: a judged tie-break stays as small as rules first made it (loop/training/rules_first.py).
    _, parts = parts_of_round_one
    parts.trainer.train()
    groups: dict = {}
    for r in parts.rewards.recorder.records:
        groups.setdefault((r["step"], r["group"]), {})[r["sample"]] = (r["total_reward"], r["advantage"])
    for answers in groups.values():
        mean = sum(total for total, _ in answers.values()) / len(answers)
        assert all(abs(adv - (total - mean)) < 1e-4 for total, adv in answers.values())


def test_the_first_answer_of_each_group_is_the_policys_greedy_answer(parts_of_round_one):
    from loop.generation import encode_chats, greedy_answers

    ctx, parts = parts_of_round_one
    trainer = parts.trainer
    assert trainer.greedy_member  # the default
    conversations = [row["prompt"] for row in trainer.train_dataset][:2]
    prompts = encode_chats(ctx.tokenizer, conversations)
    n = trainer.num_generations
    torch.manual_seed(0)
    trainer.model.train()
    completions, _ = trainer._generate_single_turn([p for p in prompts for _ in range(n)], None, {}, n)
    texts = [ctx.tokenizer.decode(c, skip_special_tokens=True).strip() for c in completions]
    greedy = [a.text for a in greedy_answers(trainer.model, ctx.tokenizer, conversations, trainer.max_completion_length)]
    assert [texts[0], texts[n]] == greedy
    assert any(t != greedy[0] for t in texts[1:n]) and len(completions) == 2 * n  # the rest are sampled
    with patch.object(trainer, "greedy_member", False):
        assert trainer._greedy_leads([prompts[0]] * n, None, {}, n) == []


def test_a_group_split_between_processes_has_one_greedy_lead(parts_of_round_one):
    # TRL gives each process a contiguous slice of the batch: with 3 prompts a group and 2 in this slice,
    # process 1 holds the first group's last answer and the second group's first one.
    _, parts = parts_of_round_one
    trainer = parts.trainer
    with patch.object(type(trainer.accelerator), "process_index", new_callable=PropertyMock, return_value=1):
        assert trainer._greedy_leads([[1], [2]], None, {}, 3) == [1]
    assert trainer._greedy_leads([[1], [1], [1], [2]], None, {}, 3) == [0, 3]
