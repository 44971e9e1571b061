"""loop.toml: the defaults round-trip through the commented file `loop init` writes; mistakes name their line."""

from __future__ import annotations

import dataclasses

import pytest

from loop.config import SECTIONS, Config, RunSection, build_config, load_config, render_default_config
from loop.trl_tables import DEFAULT_DPO, DEFAULT_GRPO, dpo_args, grpo_fields, trl_fields
from loop.datafile import tomllib
from loop.errors import LoopError, LoopErrors, Problems
from loop.fieldtypes import expected_type


def test_default_config_round_trips():
    text = render_default_config()
    config = build_config(tomllib.loads(text), None, text)
    assert config == Config()
    assert config.to_dict() == Config().to_dict()
    assert config.grpo == DEFAULT_GRPO


def test_default_config_shows_every_knob_with_its_help():
    text = render_default_config()
    for name, cls in SECTIONS.items():
        assert f"[{name}]" in text
        for f in dataclasses.fields(cls):
            assert f"# {f.metadata['help']}\n{f.name} = " in text, f"{name}.{f.name}"
    assert "[grpo]" in text and 'loss_type = "dapo"' in text


def test_default_grpo_keys_are_grpo_config_fields():
    assert set(DEFAULT_GRPO) <= grpo_fields()


def test_default_dpo_keys_are_dpo_config_fields():
    assert set(DEFAULT_DPO) <= trl_fields("dpo")


def test_a_grpo_step_averages_up_to_four_groups_as_many_as_divide_the_rounds_prompts(tmp_path, monkeypatch):
    from loop.trl_tables import grpo_args, groups_per_step

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert [groups_per_step(n) for n in (8, 6, 2, 7)] == [4, 3, 2, 1]
    monkeypatch.setenv("WORLD_SIZE", "2")  # each process takes one group a device step
    assert [groups_per_step(n) for n in (8, 4, 6, 5)] == [4, 2, 3, 1]
    monkeypatch.delenv("WORLD_SIZE")
    (tmp_path / "loop.toml").write_text("")
    config = load_config(tmp_path)
    assert grpo_args(config, tmp_path / "out", prompts=8).gradient_accumulation_steps == 4
    assert grpo_args(config, tmp_path / "out").gradient_accumulation_steps == 1  # no round: TRL's default
    (tmp_path / "loop.toml").write_text("[grpo]\ngradient_accumulation_steps = 2\n")
    assert grpo_args(load_config(tmp_path), tmp_path / "out", prompts=8).gradient_accumulation_steps == 2


def test_dpo_settings_reach_trls_dpo_config(tmp_path):
    (tmp_path / "loop.toml").write_text('[dpo]\nbeta = 0.3\nloss_type = "ipo"\n')
    args = dpo_args(load_config(tmp_path), tmp_path / "out")
    assert args.beta == 0.3 and args.loss_type == ["ipo"]
    assert args.learning_rate == DEFAULT_DPO["learning_rate"]  # the other defaults stay


def test_empty_config_is_the_default(tmp_path):
    (tmp_path / "loop.toml").write_text("")
    assert load_config(tmp_path) == Config()


def test_values_override_defaults_and_grpo_fields_pass_through(tmp_path):
    (tmp_path / "loop.toml").write_text('[run]\nseed = 7\n[lora]\ndropout = 0\n[grpo]\nlogging_steps = 5\nbeta = 0.1\n')
    config = load_config(tmp_path)
    assert config.run.seed == 7 and config.run.prompts_per_round == RunSection().prompts_per_round
    assert config.lora.dropout == 0  # an int where a float is expected is fine
    assert config.grpo["logging_steps"] == 5 and config.grpo["beta"] == 0.1
    assert config.grpo["loss_type"] == "dapo"  # the other defaults stay


def test_configs_do_not_share_grpo_dicts():
    first = build_config({"grpo": {"beta": 0.5}})
    assert Config().grpo["beta"] == DEFAULT_GRPO["beta"] == 0.02
    assert first.grpo["beta"] == 0.5


# (case id, loop.toml text, line named, words)
BAD_CONFIGS = [
    ("str-for-int", "[run]\nseed = \"7\"\n", 2, "[run] 'seed' must be int, got '7'"),
    ("float-for-int", "[lora]\nr = 16.5\n", 2, "[lora] 'r' must be int, got 16.5"),
    ("bool-for-int", "[judge]\nbatch_size = true\n", 2, "[judge] 'batch_size' must be int, got True"),
    ("int-for-bool", "[judge]\nfew_shot = 1\n", 2, "[judge] 'few_shot' must be bool, got 1"),
    ("str-for-float", "[lora]\ndropout = \"0.1\"\n", 2, "[lora] 'dropout' must be float"),
    ("int-for-str", "[model]\nname = 5\n", 2, "[model] 'name' must be str, got 5"),
    # `name` is in [model] and [run]: the line is the one in the section at fault.
    ("same-key-other-section", "[model]\nname = \"embedded\"\n\n[run]\nname = 5\n", 5, "[run] 'name' must be str"),
    ("section-not-table", "run = 3\n", 1, "'run' must be a table"),
    ("unknown-section", "\n\n[jugde]\nmode = \"score\"\n", 3, "unknown section [jugde] (did you mean 'judge'?)"),
    ("unknown-key", "[judge]\nmode = \"score\"\ncalibrated = true\n", 3, "unknown key 'calibrated' in [judge]"),
    ("grpo-unknown-key", "[grpo]\nbeta = 0.1\nnum_generation = 4\n", 3, "did you mean 'num_generations'"),
    ("grpo-reward-weights", "[grpo]\nbeta = 0.1\nreward_weights = [1.0]\n", 3, "edit `weight` in constitution"),
    ("grpo-sync-ref", "[grpo]\nsync_ref_model = true\n", 2, "the round's judge is the frozen round-start model"),
    ("dpo-unknown-key", "[dpo]\nbeta = 0.1\nlearning_rat = 1e-5\n", 3, "not a trl.DPOConfig field (did you mean 'learning_rate'?)"),
    ("dpo-sync-ref", "[dpo]\nsync_ref_model = true\n", 2, "[dpo] 'sync_ref_model' is loop's to set"),
    ("train-method", "[train]\nmethod = \"ppo\"\n", 2, "method must be 'grpo' or 'dpo'"),
    ("train-dpo-margin", "[train]\ndpo_margin = -0.5\n", 2, "dpo_margin must be 0 or more"),
    ("train-own-answers", "[train]\nown_answers = -1\n", 2, "own_answers must be 0 (none) or more"),
    ("train-replay", "[train]\nreplay = -0.5\n", 2, "replay must be 0 (no replay) or more"),
    ("train-judgment-epochs", "[train]\njudgment_epochs = -1\n", 2, "judgment_epochs must be 0 (no judge training in the warm start) or more"),
    ("judge-mode", "[judge]\nmode = \"vibes\"\n", 2, "mode must be 'score' or 'critique'"),
    ("prompts-per-round", "[run]\nprompts_per_round = 0\n", 2, "prompts_per_round must be at least 1"),
    ("heldout-size", "[run]\nheldout_size = 0\n", 2, "heldout_size must be at least 1"),
    ("probes-per-round", "[probes]\nper_round = -1\n", 2, "per_round must be 0 (every probe) or more"),
    ("probes-max-new-tokens", "[probes]\nmax_new_tokens = 0\n", 2, "max_new_tokens must be at least 1"),
    ("probes-batch-size", "[probes]\nbatch_size = 0\n", 2, "batch_size must be at least 1"),
    ("probes-dir-not-text", "[probes]\ndir = 3\n", 2, "[probes] 'dir' must be str"),
    ("toml-syntax", "[run]\nseed = 1\nseed = 2\n", 3, "TOML syntax error"),
    # A range error names its key's line, not the section header's.
    ("range-at-its-key", "[run]\nseed = 1\n\nprompts_per_round = -3\n", 4, "prompts_per_round must be at least 1"),
    # TRL's tables are checked against the TRL class's field types (building GRPOConfig does not).
    ("grpo-str-for-float", "[grpo]\nbeta = 0.1\ntemperature = \"hot\"\n", 3,
     "[grpo] 'temperature' must be float (trl.GRPOConfig), got 'hot'"),
    ("grpo-float-for-int", "[grpo]\nnum_generations = 2.5\n", 2, "'num_generations' must be int (trl.GRPOConfig)"),
    ("grpo-str-for-bool", "[grpo]\ngradient_checkpointing = \"yes\"\n", 2, "must be bool (trl.GRPOConfig), got 'yes'"),
    ("sft-list-of-str", "[sft]\nreport_to = [1]\n", 2, "'report_to' must be str or a list of str (trl.SFTConfig)"),
    ("dpo-list-item", "[dpo]\nloss_type = [\"ipo\", 3]\n", 2, "'loss_type' must be a list of str (trl.DPOConfig)"),
    ("grpo-literal", "[grpo]\ntrackio_static_space_id = true\n", 2, "must be str or false (trl.GRPOConfig), got True"),
    ("dtype", "[model]\ndtype = \"fp32\"\n", 2, "dtype must be float32, float16 or bfloat16"),
    ("checks-allow-not-a-list", "[checks]\nallow = \"mychecks\"\n", 2, "[checks] 'allow' must be a list of str"),
    ("checks-allow-not-a-module", "[checks]\nallow = [\"my checks\"]\n", 2, "allow must list module names"),
]


@pytest.mark.parametrize("case, text, line, words", BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_names_the_line(tmp_path, monkeypatch, case, text, line, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop.toml").write_text(text)
    with pytest.raises(LoopError) as info:
        load_config(tmp_path)
    message = str(info.value)
    assert message.startswith(f"loop.toml:{line}: "), message
    assert words in message
    assert "\n" not in message


def test_every_mistake_in_the_file_is_found_at_its_own_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop.toml").write_text('[run]\nprompts_per_round = -3\nseed = "x"\n[grpo]\ntemperature = "hot"\n'
                                        'num_generation = 4\n[model]\ndtype = "fp32"\n[jugde]\n')
    with pytest.raises(LoopErrors) as info:
        load_config(tmp_path)
    lines = sorted(str(err) for err in info.value.errors)
    assert [line.split(": ")[0] for line in lines] == [f"loop.toml:{n}" for n in (2, 3, 5, 6, 8, 9)]
    assert "(and 5 more; `loop check` lists them all)" in str(info.value) and "\n" not in str(info.value)


def test_a_refused_value_keeps_its_default_and_the_others_apply(tmp_path):
    (tmp_path / "loop.toml").write_text('[run]\nprompts_per_round = -3\nseed = 7\n[grpo]\ntemperature = "hot"\nbeta = 0.5\n')
    problems = Problems()
    config = load_config(tmp_path, problems)
    assert len(problems.errors) == 2
    assert (config.run.prompts_per_round, config.run.seed) == (RunSection().prompts_per_round, 7)
    assert config.grpo["temperature"] == DEFAULT_GRPO["temperature"] and config.grpo["beta"] == 0.5


@pytest.mark.parametrize("written, dtype", [("float32", "float32"), ("float", "float32"), ("torch.float16", "float16"),
                                            ("half", "float16"), ("bfloat16", "bfloat16"), ("torch.bfloat16", "bfloat16")])
def test_dtype_takes_torch_names_and_keeps_one(written, dtype):
    config = build_config({"model": {"dtype": written}})
    assert config.model.dtype == dtype
    import torch

    assert isinstance(getattr(torch, config.model.dtype), torch.dtype)  # what loop.model.load_model reads


@pytest.mark.parametrize("value, hint, expected", [
    (1, float, None), (True, float, "float"), (True, int, "int"), ("a", int | None, "int"),
    ("ipo", list[str], "a list of str"), (["a"], list[str], None), ({"a": 1}, dict[str, int], None),
    (3, str | list[str], "str or a list of str"),
])
def test_expected_type(value, hint, expected):
    assert expected_type(value, hint) == expected


def test_one_value_fits_a_trl_list_field():
    assert expected_type("ipo", list[str], one_for_list=True) is None
    assert build_config({"dpo": {"loss_type": "ipo"}}).dpo["loss_type"] == "ipo"


def test_checks_allow_lists_modules_and_their_submodules():
    checks = build_config({"checks": {"allow": ["mychecks", "other.mod"]}}).checks
    assert checks.allows("mychecks") and checks.allows("mychecks.calm") and checks.allows("other.mod")
    assert not checks.allows("mychecksx") and not checks.allows("other") and not checks.allows("os")
    assert not Config().checks.allows("tests.custom_checks")  # nothing is allowed unless listed


def test_help_strings_are_short():
    """A sentence or two each: what and why; measurements live in the README and the commit history."""
    for cls in SECTIONS.values():
        for f in dataclasses.fields(cls):
            assert len(f.metadata["help"]) <= 320, f"{cls.__name__}.{f.name}"
