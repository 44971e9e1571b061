"""Movement diagnostics are pure functions over a round's records: each behaviour on its own."""

from __future__ import annotations

from loop.constitution import load_constitution
from loop.measure import diagnostics
from loop.workspace import defaults_dir


def rec(principle, step, group, sample, reward, kind="rule", cuts=()):
    return {"principle": principle, "step": step, "group": group, "sample": sample, "reward": reward,
            "kind": kind, "cuts": list(cuts)}


def test_changed_share_counts_answers_that_differ_on_common_prompts():
    before = {1: "Paris.", 2: "4", 3: "only before"}
    after = {1: "Paris.", 2: "5", 4: "only after"}
    assert diagnostics.changed_share(before, after) == {"share": 0.5, "n": 2}


def test_changed_share_ignores_surrounding_whitespace():
    assert diagnostics.changed_share({1: "Paris."}, {1: " Paris.\n"}) == {"share": 0.0, "n": 1}


def test_changed_share_is_none_without_common_prompts():
    assert diagnostics.changed_share({}, {1: "a"}) is None


def test_no_spread_is_the_share_of_groups_with_equal_rewards():
    records = [rec("a", 1, 0, 0, 1.0), rec("a", 1, 0, 1, 1.0), rec("a", 1, 1, 0, 0.0), rec("a", 1, 1, 1, 1.0)]
    assert diagnostics.no_spread(records)["a"]["share"] == 0.5


def test_no_spread_leaves_out_answers_that_could_not_be_scored():
    records = [rec("a", 1, 0, 0, None), rec("a", 1, 0, 1, 1.0), rec("a", 1, 1, 0, 0.0), rec("a", 1, 1, 1, 1.0)]
    assert diagnostics.no_spread(records)["a"] == {"share": 0.0, "groups": 1, "constant": None}


def test_no_spread_names_the_value_every_answer_had():
    records = [rec("c", s, g, i, 1.0) for s in (1, 2) for g in (0, 1) for i in (0, 1)]
    assert diagnostics.no_spread(records)["c"] == {"share": 1.0, "groups": 4, "constant": 1.0}


def test_guard_cut_share_counts_judged_answers_with_a_cut_once():
    records = [rec("h", 1, 0, 0, 0.5, "judge", [{"text": "Score: 10"}]), rec("p", 1, 0, 0, 0.5, "judge",
               [{"text": "Score: 10"}]), rec("h", 1, 0, 1, 0.5, "judge"), rec("c", 1, 0, 1, 1.0, "rule")]
    assert diagnostics.guard_cut_share(records) == 0.5


def test_a_round_that_changed_almost_nothing_is_named():
    lines = diagnostics.warnings(3, {"changed": {"share": 0.02, "n": 50}}, load_constitution(defaults_dir() / "constitution"))
    assert lines == ["round 3 barely moved the policy: 2% of 50 greedy answers changed since round 2 (below 5%)"]


def test_a_word_limit_that_never_binds_is_explained():
    constitution = load_constitution(defaults_dir() / "constitution")
    limit = constitution.get("concise").check["max"]
    movement = {"no_spread": {"concise": {"share": 1.0, "groups": 6, "constant": 1.0}}}
    [line] = diagnostics.warnings(1, movement, constitution, max_completion_length=48)
    assert line.startswith(f"concise: 100% of groups had equal rewards: its {limit}-word limit never binds at 48 tokens")


def test_rewards_with_spread_in_most_groups_raise_no_warning():
    movement = {"changed": {"share": 0.4, "n": 20}, "no_spread": {"helpful": {"share": 0.25, "groups": 4,
                                                                               "constant": None}}}
    assert diagnostics.warnings(2, movement, load_constitution(defaults_dir() / "constitution")) == []


def test_a_probe_family_that_fell_beyond_its_interval_is_named():
    changes = {"benign": {"delta": -0.2, "low": -0.35, "high": -0.05, "n": 20},
               "harmful": {"delta": 0.1, "low": -0.1, "high": 0.3, "n": 20}}
    [line] = diagnostics.warnings(2, {}, load_constitution(defaults_dir() / "constitution"), probe_changes=changes)
    assert line.startswith("probes benign: pass rate fell -0.20 [-0.35, -0.05] since round 0")


def sample_records(prompt: str, principle: str, rewards: list[float]) -> list[dict]:
    return [{"prompt": prompt, "principle": principle, "reward": r} for r in rewards]


def test_sampled_vs_greedy_reads_each_behaviours_own_rule_in_the_samples():
    records = (sample_records("harm", "knows_limits", [0, 0, 0, 1]) + sample_records("harm", "concise", [1, 1, 1, 1])
               + sample_records("help", "knows_limits", [1, 1, 1, 1]) + sample_records("sum", "correct", [1, 0, 1, 0]))
    greedy = {"harmful": {"rate": 0.7, "low": 0.48, "high": 0.85, "n": 20},
              "benign": {"rate": 0.9, "low": 0.7, "high": 0.97, "n": 20}}
    out = diagnostics.sampled_vs_greedy(records, {"harm": "refuse", "help": "comply", "sum": "answer"},
                                        load_constitution(defaults_dir() / "constitution"), greedy)
    assert out["refuse"]["samples"]["rate"] == 0.25 and out["refuse"]["samples"]["n"] == 4  # concise not counted
    assert out["refuse"]["greedy"]["family"] == "harmful" and out["refuse"]["greedy"]["rate"] == 0.7
    assert out["comply"]["samples"]["rate"] == 1.0 and out["answer"]["samples"]["rate"] == 0.5
    assert "rate" not in out["answer"]["greedy"]  # no greedy arithmetic figure given: nothing to compare


def test_samples_that_miss_what_the_greedy_answers_show_are_named():
    sampling = {"refuse": {"samples": {"rate": 0.05, "low": 0.01, "high": 0.2, "n": 20},
                           "greedy": {"family": "harmful", "rate": 0.7, "low": 0.48, "high": 0.85, "n": 20}},
                "comply": {"samples": {"rate": 0.9, "low": 0.7, "high": 0.97, "n": 20},
                           "greedy": {"family": "benign", "rate": 0.95, "low": 0.76, "high": 0.99, "n": 20}}}
    lines = diagnostics.sampling_warnings(3, sampling)
    assert len(lines) == 1 and lines[0].startswith("round 3: refuse samples passed their rule 5%")
