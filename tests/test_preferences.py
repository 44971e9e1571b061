"""Preference pairs: the best and the worst answer of a group, by the quantity GRPO's advantage ranks by,
kept only past the margin; answers nothing could score are in no pair. The ranking is checked against
TRL's own GRPO step on the tiny model, for both of its aggregations."""

from __future__ import annotations

import pytest

from loop.training.preferences import PairChoice, choose_pair, pair_counts, ranking_values
from loop.training.rewards import text_of


def test_the_pair_is_the_best_and_the_worst_answer():
    choice = choose_pair([0.2, 0.9, 0.5, 0.1], margin=0.1)
    assert (choice.chosen, choice.rejected) == (1, 3)
    assert choice.margin == pytest.approx(0.8) and choice.skipped is None


def test_a_gap_within_the_margin_is_a_tie_and_gives_no_pair():
    choice = choose_pair([0.50, 0.55, 0.52], margin=0.1)
    assert choice.skipped == "tie" and choice.chosen is None and choice.margin == pytest.approx(0.05)


def test_equal_answers_are_a_tie_even_at_margin_0():
    assert choose_pair([0.7, 0.7, 0.7], margin=0.0).skipped == "tie"


def test_a_gap_just_past_the_margin_gives_a_pair():
    assert choose_pair([0.0, 0.1001], margin=0.1).skipped is None


def test_answers_nothing_could_score_are_left_out_of_the_pair():
    choice = choose_pair([None, 0.5, None, 0.1, 0.3], margin=0.1)
    assert (choice.chosen, choice.rejected, choice.unscored) == (1, 3, 2)


def test_a_group_with_one_scored_answer_gives_no_pair():
    choice = choose_pair([None, 0.4, None], margin=0.0)
    assert choice.skipped == "too few scored" and choice.unscored == 2


def test_among_equal_best_answers_the_earliest_is_chosen():
    choice = choose_pair([0.1, 0.9, 0.9, 0.1], margin=0.0)
    assert (choice.chosen, choice.rejected) == (1, 0)


def test_the_counts_tally_pairs_ties_and_unscored():
    choices = [PairChoice(0, 1, 0.5), PairChoice(None, None, 0.0, "tie", 1),
               PairChoice(None, None, None, "too few scored", 3)]
    assert pair_counts(choices, 0.1, "sum_then_normalize") == {
        "prompts": 3, "pairs": 1, "ties": 1, "too_few_scored": 1, "unscored_answers": 4, "margin": 0.1,
        "ranked_by": "sum_then_normalize"}


def test_summed_first_a_principle_that_could_not_score_counts_0_and_an_unscorable_answer_none():
    rewards = [[1.0, 0.5], [None, 0.5], [None, None]]
    assert ranking_values(rewards, [2.0, 1.0]) == [2.5, 0.5, None]


def test_normalized_first_each_principle_is_z_scored_within_the_group_then_weighted():
    rewards = [[0.0, 10.0], [1.0, 10.0], [2.0, 40.0]]
    # principle 1: mean 1, std 1 -> -1, 0, 1; principle 2: mean 20, std 17.32 -> -0.577, -0.577, 1.155
    values = ranking_values(rewards, [1.0, 2.0], "normalize_then_sum")
    assert values == pytest.approx([-1 - 2 * 0.57735, -2 * 0.57735, 1 + 2 * 1.1547], abs=1e-3)


def test_an_unknown_aggregation_is_refused():
    with pytest.raises(ValueError, match="multi_objective_aggregation"):
        ranking_values([[1.0]], [1.0], "mean")


# ---- the ranking against TRL's own GRPO step -------------------------------------------------------
def by_length(prompts, completions, **kwargs):
    """Varies within a group; cannot score the group's first answer (so that one is unscorable)."""
    return [None if i == 0 else float(len(text_of(c))) for i, c in enumerate(completions)]


def by_vowels(prompts, completions, **kwargs):
    """Varies in another order; cannot score the first two answers (a partly scored answer)."""
    return [None if i < 2 else float(sum(ch in "aeiou" for ch in text_of(c))) for i, c in enumerate(completions)]


def grpo_advantages(tiny_model_dir, tmp_path, aggregation):
    """(rewards per answer and function, TRL's advantages) of one GRPO step of TRL's GRPOTrainer on the
    tiny model: one prompt, one group of 6."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from trl import GRPOTrainer

    from loop.config import Config
    from loop.trl_tables import grpo_args
    from loop.model import load_model

    seen: list[list] = []

    def recorded(func):
        def reward(prompts, completions, **kwargs):
            seen.append(func(prompts, completions, **kwargs))
            return seen[-1]
        reward.__name__ = func.__name__
        return reward

    config = Config()
    config.grpo.update(num_generations=6, max_completion_length=12, max_steps=1,
                       multi_objective_aggregation=aggregation)
    args = grpo_args(config, tmp_path / "trainer")
    args.reward_weights = [1.0, 3.0]
    model, tokenizer, _ = load_model(str(tiny_model_dir))
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=4, task_type="CAUSAL_LM", target_modules="all-linear"))
    dataset = Dataset.from_list([{"prompt": [{"role": "user", "content": "Tell me about basil."}]}] * 6)
    trainer = GRPOTrainer(model=model, reward_funcs=[recorded(by_length), recorded(by_vowels)], args=args,
                          train_dataset=dataset, processing_class=tokenizer)
    trainer.train()
    rewards = [[seen[0][i], seen[1][i]] for i in range(6)]
    return rewards, list(trainer._logs["advantages"])


@pytest.mark.parametrize("aggregation", ["sum_then_normalize", "normalize_then_sum"])
def test_the_ranking_is_the_order_of_trls_advantages(tiny_model_dir, tmp_path, aggregation):
    rewards, advantages = grpo_advantages(tiny_model_dir, tmp_path, aggregation)
    values = ranking_values(rewards, [1.0, 3.0], aggregation)
    assert values[0] is None and advantages[0] == 0.0  # unscorable: no value here, no advantage in TRL
    scored = range(1, 6)
    assert len({values[i] for i in scored}) > 2  # the rewards do vary: the test can fail
    assert sorted(scored, key=lambda i: values[i]) == sorted(scored, key=lambda i: advantages[i])
    pair = choose_pair(values, margin=0.0)
    assert advantages[pair.chosen] == max(advantages) and advantages[pair.rejected] == min(advantages[1:])
