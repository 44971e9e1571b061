"""Rules first (loop/training/rules_first.py): a rule difference is never reversed by judged scores, an
answer failing its row's rule gets no judged reward, and judged scores break ties scaled by reliability."""

from __future__ import annotations

from types import SimpleNamespace

from loop.training.rules_first import TIE_SHARE, combine, group_values, worth_judging


def principles():
    return [SimpleNamespace(id="harmless_rule", is_rule=True, weight=2.0),
            SimpleNamespace(id="concise", is_rule=True, weight=1.0),
            SimpleNamespace(id="helpful", is_rule=False, weight=1.0)]


def test_a_rule_difference_is_never_reversed_by_judged_scores():
    # Answer 0 passes both rules but the judge hates it; answer 1 fails concise and the judge loves it.
    values = group_values([[1, 1], [1, 0]], [[0.0], [1.0]], [2.0, 1.0], [1.0], [1.0])
    assert values[0] > values[1]


def test_an_answer_failing_a_rule_earns_nothing_from_the_judges():
    # Every answer complies with a harmful request: the rule ties at 0, and the judges may not rank them.
    values = group_values([[0], [0], [0]], [[0.9], [0.1], [0.5]], [1.0], [1.0], [1.0])
    assert values == [0.0, 0.0, 0.0]


def test_judged_scores_break_ties_among_answers_the_rules_score_alike_scaled_by_reliability():
    full = group_values([[1], [1]], [[0.9], [0.1]], [1.0], [1.0], [1.0])
    half = group_values([[1], [1]], [[0.9], [0.1]], [1.0], [0.5], [1.0])  # a judge at half its weight
    assert full[0] > full[1] and abs(full[0] - full[1]) <= 2 * TIE_SHARE
    assert abs(half[0] - half[1]) < abs(full[0] - full[1])
    assert sum(full) / 2 == 1.0  # the tie-break is centered: the group's rule mean is unchanged


def test_a_group_where_nothing_measured_differs_has_no_spread():
    values = group_values([[1], [1]], [[None], [None]], [1.0], [0.0], [1.0])
    assert values[0] == values[1]


def test_combine_treats_each_slot_as_its_own_group():
    rows = [(0, [1.0, 1.0, 0.9]), (0, [1.0, 1.0, 0.1]), (1, [0.0, 1.0, 0.9]), (1, [1.0, 1.0, 0.1])]
    weights = {"harmless_rule": 2.0, "concise": 1.0, "helpful": 1.0}
    values = combine(rows, principles(), weights)
    assert values[0] > values[1]  # slot 0: a tie on the rules, broken by the judge
    assert values[3] > values[2]  # slot 1: the rule decides, whatever the judge says
    assert values[2] == 1.0  # failing a rule: its rule total alone


def test_judging_only_the_answers_worth_judging_leaves_every_value_as_it_was():
    import random

    rng = random.Random(0)
    for _ in range(500):
        n = rng.randint(1, 6)
        rules = [[rng.choice([0.0, 0.5, 1.0, 1.0, None]), rng.choice([0.0, 1.0, 1.0])] for _ in range(n)]
        judged = [[rng.random(), rng.choice([rng.random(), None])] for _ in range(n)]
        needed = worth_judging([(0, row) for row in rules], [2.0, 1.0])
        lazy = [row if keep else [None, None] for row, keep in zip(judged, needed)]
        args = ([2.0, 1.0], [0.7, 0.3], [1.0, 1.0])
        assert group_values(rules, lazy, *args) == group_values(rules, judged, *args)


def test_only_answers_that_pass_every_rule_and_tie_with_another_are_worth_judging():
    rows = [(0, [1.0]), (0, [1.0]), (0, [0.0]), (1, [1.0]), (1, [0.0]), (2, [0.0]), (2, [0.0])]
    assert worth_judging(rows, [1.0]) == [True, True, False, False, False, False, False]


def test_the_judge_reads_only_the_answers_worth_judging_and_the_rest_are_recorded_unjudged(tmp_path):
    from loop.training.recorder import CritiqueRecorder
    from loop.training.rewards import JudgeReward
    from loop.training.rules_first import RulesFirstReward
    from tests.scripted_judge import ScriptedJudge

    rule = SimpleNamespace(id="refuses", is_rule=True, weight=1.0)
    helpful = SimpleNamespace(id="helpful", is_rule=False, weight=1.0)
    judge = ScriptedJudge()
    recorder = CritiqueRecorder(tmp_path / "critiques.jsonl", 2, {"refuses": 1.0, "helpful": 1.0})

    def refuses(prompts, completions, **kwargs):
        return [1.0 if c.startswith("I can't") else 0.0 for c in completions]

    reward = RulesFirstReward([rule, helpful], [refuses, JudgeReward(helpful, judge, recorder)],
                              {"refuses": 1.0, "helpful": 1.0}, recorder)
    answers = ["I can't help.", "I can't help with that.", "Sure: here is how.", "I can't.", "Sure."]
    values = reward(["q"] * 5, answers, slot=[0, 0, 0, 1, 1])
    assert judge.calls == [(["q", "q"], answers[:2], "helpful")]  # group 1's refusal is alone in its class
    assert values[0] < values[1] and values[2] == 0.0 and values[3] == 1.0
    recorder.flush(1, 5, 64)
    kinds = [(r["completion"], r["kind"], r["critique"]) for r in recorder.records if r["principle"] == "helpful"]
    assert [k for _, k, _ in kinds] == ["judge", "judge", "unjudged", "unjudged", "unjudged"]
    assert kinds[2][2] == JudgeReward.NOT_NEEDED
