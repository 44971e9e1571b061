"""loop.toml: the defaults round-trip through the commented file `loop init` writes; mistakes name their line."""

from __future__ import annotations

import dataclasses

import pytest

from loop.config import (DEFAULT_DPO, DEFAULT_GRPO, SECTIONS, Config, RunSection, build_config, dpo_args, grpo_fields,
                         load_config, render_default_config, trl_fields)
from loop.datafile import tomllib
from loop.errors import LoopError


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
    ("train-method", "[train]\nmethod = \"ppo\"\n", 1, "method must be 'grpo' or 'dpo'"),
    ("train-dpo-margin", "[train]\ndpo_margin = -0.5\n", 1, "dpo_margin must be 0 or more"),
    ("train-own-answers", "[train]\nown_answers = -1\n", 1, "own_answers must be 0 (none) or more"),
    ("train-judgment-epochs", "[train]\njudgment_epochs = -1\n", 1, "judgment_epochs must be 0 (no judge training in the warm start) or more"),
    ("judge-mode", "[judge]\nmode = \"vibes\"\n", 1, "mode must be 'score' or 'critique'"),
    ("prompts-per-round", "[run]\nprompts_per_round = 0\n", 1, "prompts_per_round must be at least 1"),
    ("heldout-size", "[run]\nheldout_size = 0\n", 1, "heldout_size must be at least 1"),
    ("probes-per-round", "[probes]\nper_round = -1\n", 1, "per_round must be 0 (every probe) or more"),
    ("probes-max-new-tokens", "[probes]\nmax_new_tokens = 0\n", 1, "max_new_tokens must be at least 1"),
    ("probes-dir-not-text", "[probes]\ndir = 3\n", 2, "[probes] 'dir' must be str"),
    ("toml-syntax", "[run]\nseed = 1\nseed = 2\n", 3, "TOML syntax error"),
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
