"""One table from flags to settings (loop/cli/flags.py): `loop run` and `loop bench` read a flag alike."""

from __future__ import annotations

from argparse import Namespace

from loop.cli.bench_cmds import EFFICACY_FLAGS, ROUND_FLAGS, STEP_FLAGS, step_overrides
from loop.cli.flags import FLAG_SETTINGS, flag_overrides

UNSET = Namespace(model=None, prompts_per_round=None, num_generations=None, max_completion_length=None,
                  judge_mode=None, method=None, stop_on_regression=False)


def test_a_flag_given_sets_its_setting_and_nothing_else():
    given = {"model": "tiny", "prompts_per_round": 3, "num_generations": 2, "max_completion_length": 16,
             "judge_mode": "critique", "method": "dpo", "stop_on_regression": True}
    for flag, value in given.items():
        section, key = FLAG_SETTINGS[flag]
        assert flag_overrides(Namespace(**{**vars(UNSET), flag: value})) == {section: {key: value}}


def test_unset_flags_keep_loop_toml():
    assert flag_overrides(UNSET) == {}


def test_the_bench_targets_take_the_run_flags_they_name_and_read_a_zero_as_unset():
    args = Namespace(**{**vars(UNSET), "model": "tiny", "prompts_per_round": 3, "num_generations": 0,
                        "max_completion_length": 16})
    assert step_overrides(args) == {"model": {"name": "tiny"}, "grpo": {"max_completion_length": 16}}
    assert flag_overrides(args, ROUND_FLAGS, zero_is_unset=True) == {
        "run": {"prompts_per_round": 3}, "grpo": {"max_completion_length": 16}}
    assert set(STEP_FLAGS) | set(EFFICACY_FLAGS) <= set(FLAG_SETTINGS)
