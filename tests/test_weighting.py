"""Reliability-weighted rewards, through TRL's own GRPO step on the tiny model: a principle at weight 0
(not judged: None for every completion) leaves the advantages exactly as they are without it, and
with loop's `normalize_then_sum` a weight acts in proportion, where TRL's default ignores it."""

from __future__ import annotations

import pytest

from loop.constitution import Principle
from loop.training.rewards import UnjudgedReward, text_of

PRINCIPLE = Principle(id="honest", title="Honest", text="Says only what is true.")


def by_length(prompts, completions, **kwargs):
    """A reward that varies within a group: the completion's length."""
    return [float(len(text_of(c))) for c in completions]


def by_vowels(prompts, completions, **kwargs):
    """Another reward that varies within a group, in another order than length."""
    return [float(sum(ch in "aeiou" for ch in text_of(c))) for c in completions]


def grpo_step(tiny_model_dir, tmp_path, reward_funcs, weights, aggregation=None):
    """(completions, advantages) of one GRPO step of TRL's GRPOTrainer on the tiny model, seeded the
    same every call, so runs that differ only in rewards sample the same completions."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from trl import GRPOTrainer

    from loop.config import Config
    from loop.trl_tables import grpo_args
    from loop.model import load_model

    config = Config()
    config.grpo.update(num_generations=4, max_completion_length=8, max_steps=1)
    if aggregation:
        config.grpo["multi_objective_aggregation"] = aggregation
    args = grpo_args(config, tmp_path / "trainer")
    args.reward_weights = weights
    model, tokenizer, _ = load_model(str(tiny_model_dir))
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=4, task_type="CAUSAL_LM", target_modules="all-linear"))
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": "Tell me about basil."}]}] * 4)
    trainer = GRPOTrainer(model=model, reward_funcs=reward_funcs, args=args, train_dataset=dataset,
                          processing_class=tokenizer)
    trainer.train()
    return list(trainer._logs["completion"]), list(trainer._logs["advantages"])


def faint_vowels(prompts, completions, **kwargs):
    """The vowel reward on a far smaller scale, as a judge whose scores barely spread."""
    return [v / 100 for v in by_vowels(prompts, completions)]


AGGREGATIONS = ["normalize_then_sum", "sum_then_normalize"]


@pytest.fixture(scope="module")
def module_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("grpo")


@pytest.fixture(scope="module")
def alone(tiny_model_dir, module_tmp):
    """{aggregation: the step with the length reward only}."""
    return {agg: grpo_step(tiny_model_dir, module_tmp / f"alone-{agg}", [by_length], [1.0], agg) for agg in AGGREGATIONS}


@pytest.mark.parametrize("aggregation", AGGREGATIONS)
def test_a_principle_at_weight_0_leaves_the_advantages_as_without_it(tiny_model_dir, module_tmp, alone, aggregation):
    completions, advantages = grpo_step(tiny_model_dir, module_tmp / f"zero-{aggregation}",
                                        [by_length, UnjudgedReward(PRINCIPLE)], [1.0, 0.0], aggregation)
    assert completions == alone[aggregation][0]  # the same samples, so the advantages are comparable
    assert len(set(by_length(None, completions))) > 1  # the length reward does vary: the test can fail
    assert advantages == pytest.approx(alone[aggregation][1], abs=1e-6)


def test_the_same_principle_judged_at_a_positive_weight_changes_them(tiny_model_dir, module_tmp, alone):
    completions, advantages = grpo_step(tiny_model_dir, module_tmp / "judged", [by_length, by_vowels], [1.0, 1.0])
    assert completions == alone["normalize_then_sum"][0]
    assert advantages != pytest.approx(alone["normalize_then_sum"][1], abs=1e-2)


def test_with_trls_default_a_reward_that_barely_spreads_hardly_counts_at_any_weight(tiny_model_dir, module_tmp, alone):
    # Summed first, a principle counts by weight x spread: a judge whose scores barely spread is all but
    # ignored even at an equal weight. (And a principle that alone varies gets the same advantages at
    # any weight above 0: the sum is normalized per group.)
    _, advantages = grpo_step(tiny_model_dir, module_tmp / "sum", [by_length, faint_vowels], [1.0, 1.0],
                              "sum_then_normalize")
    assert advantages == pytest.approx(alone["sum_then_normalize"][1], abs=0.05)


def test_with_normalize_then_sum_it_counts_by_its_weight(tiny_model_dir, module_tmp, alone):
    # Normalized first, each principle counts by its weight alone, whatever its scale: loop's default.
    _, faint = grpo_step(tiny_model_dir, module_tmp / "faint", [by_length, faint_vowels], [1.0, 1.0])
    _, full = grpo_step(tiny_model_dir, module_tmp / "full", [by_length, by_vowels], [1.0, 1.0])
    assert faint == pytest.approx(full, abs=0.02)  # TRL adds 1e-4 to each std: not quite scale-free
    assert faint != pytest.approx(alone["normalize_then_sum"][1], abs=1e-2)


def test_the_unjudged_reward_never_calls_the_judge_and_says_why():
    recorded = []

    class Recorder:
        def add(self, *args):
            recorded.append(args)

    out = UnjudgedReward(PRINCIPLE, Recorder())([[{"role": "user", "content": "Q?"}]] * 2, ["A", "B"])
    assert out == [None, None]
    assert [e["critique"] for e in recorded[0][5]] == ["not judged: weight 0"] * 2
