"""The TRL tables of loop.toml: [grpo], [dpo] and [sft], passed to `trl.GRPOConfig`, `trl.DPOConfig` and
`trl.SFTConfig` under TRL's own names, with loop's defaults for a 135M model on 2 CPU cores, the fields
loop sets itself, and the config objects a round builds from them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loop.errors import LoopError, line_of_key

if TYPE_CHECKING:
    from loop.config import Config


# TRL names; anything here overrides trl.GRPOConfig's default. Chosen for a 135M model on 2 CPU cores.
DEFAULT_GRPO: dict[str, Any] = {
    # With four groups a step (GROUPS_PER_STEP): 1e-4 moved a round past the gate's margin on one
    # behaviour or another; 5e-5 kept the gains within it (README, "Rounds that add").
    "learning_rate": 5e-5,
    "beta": 0.02,  # KL against [train] kl_reference (the warm start by default)
    "loss_type": "dapo",
    "num_generations": 4,
    # About 45 words: most answers end instead of being cut mid-sentence, and the concise rule's 40
    # words binds within it.
    "max_completion_length": 64,
    # Sample near what the policy would say greedily: at 1.0 the samples almost never showed the refusals
    # the greedy answers gave, so the refusal rule had nothing to reward (loop rounds shows both rates).
    "temperature": 0.7,
    "top_p": 0.9,
    # With [train] aggregation = "weighted" (rules first decides both itself): each principle's rewards
    # are normalized within the group before the weighted sum, so weights act in proportion; with TRL's
    # default (sum, then normalize) a principle that alone varies in a group gets the same advantages at
    # any weight above 0 (loop/judging/reliability.py).
    "scale_rewards": "group",
    "multi_objective_aggregation": "normalize_then_sum",
    # Recompute each layer's activations in the backward pass instead of keeping them: less memory, and
    # no time that `loop bench step` can measure (sampling dominates a step).
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
                                **{**values, **decided})
    except (ValueError, TypeError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LoopError(f"[{table}] settings rejected by TRL: {message}", path=path) from None


# How many prompts' groups one optimizer step of a self-rewarding round averages (TRL's gradient
# accumulation over one-group device steps): a step that follows one group follows one behaviour, and a
# round of such steps swung refusals of harmful or of benign requests by tens of points.
GROUPS_PER_STEP = 4


def grpo_args(config: Config, output_dir: str | Path | None = None, seed: int | None = None,
              path: Path | None = None, prompts: int | None = None, **decided: Any):
    """The trl.GRPOConfig of a self-rewarding round; `decided`: what the round decides (reward_weights);
    `prompts`: the round's number of prompts, which sets the groups a step averages."""
    # One prompt's whole group per device step unless the user says otherwise: on a CPU that is the
    # batch that fits, and it keeps every group's advantages inside one step.
    if "per_device_train_batch_size" not in config.grpo:
        decided.setdefault("per_device_train_batch_size", config.grpo.get("num_generations", 8))
        if prompts and "gradient_accumulation_steps" not in config.grpo:
            decided.setdefault("gradient_accumulation_steps", groups_per_step(prompts))
    return trl_args(config, "grpo", output_dir, seed, path, **decided)


def groups_per_step(prompts: int) -> int:
    """Up to GROUPS_PER_STEP device steps an optimizer step, as many as divide the round's prompts among
    the processes: TRL drops a generation batch that is not full, and with it its prompts."""
    from loop.dist import world_size

    fits = [n for n in range(1, GROUPS_PER_STEP + 1) if prompts % (n * world_size()) == 0]
    return max(fits, default=1)


def dpo_args(config: Config, output_dir: str | Path | None = None, seed: int | None = None,
             path: Path | None = None):
    """The trl.DPOConfig of a self-rewarding round by DPO."""
    return trl_args(config, "dpo", output_dir, seed, path)


def sft_args(config: Config, output_dir: str | Path | None = None, seed: int | None = None,
             path: Path | None = None):
    """The trl.SFTConfig of the warm start."""
    return trl_args(config, "sft", output_dir, seed, path)
