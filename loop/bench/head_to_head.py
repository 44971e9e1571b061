"""GRPO against DPO, head to head: both methods from the same start, on the same prompt slices, for the
same number of rounds, on each of several seeds (`loop bench efficacy`).

Each (method, seed) is a named run in the workspace, `efficacy-<method>-s<seed>`, with the workspace's
settings except [train] method and [run] seed, so the runs of one seed differ in their method alone:
the same split of the pool (seeded), the same prompt slice each round (`round_prompts`, dealt by behaviour), the same
sampling and rewards (loop/training/dpo_round.py). The runs are ordinary runs: resumable, and read
with every view (`loop rounds --run efficacy-dpo-s0`). The report is loop/views/efficacy_view.py.

The same start, literally: round 0 (the base model measured) and the warm start do not depend on the
method, so a later method's run copies them, complete, from the first method's run of its seed
(`Ledger.copy_round`) when the settings that shaped them are equal. Where they are not (loop.toml
changed in between), the run measures and warm-starts on its own, and the report says which.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from loop.training.round import RunPlan, plan_run, run_rounds
from loop.workspace import Workspace

# Settings that do not shape round 0 or the warm start: they may differ between runs that share them.
NOT_SHAPING = {"run": ("name", "cache_mb"), "train": ("method", "dpo_margin", "stop_on_regression"), "dpo": None}


def run_name(method: str, seed: int) -> str:
    return f"efficacy-{method}-s{seed}"


def shaping(config: dict[str, Any]) -> dict[str, Any]:
    """A round's config.json without the settings that cannot have shaped a shared start."""
    out = {}
    for section, values in config.items():
        skip = NOT_SHAPING.get(section, ())
        if skip is None:
            continue
        out[section] = {k: v for k, v in values.items() if k not in skip} if isinstance(values, dict) else values
    return out


def shared_rounds(plan: RunPlan) -> list[int]:
    """The rounds that do not depend on the method: round 0, and round 1 when it is the warm start."""
    return [0, 1] if plan.config.train.warm_start else [0]


def same_start(source: RunPlan, plan: RunPlan, n: int) -> bool:
    """Whether source's complete round n was shaped by the settings `plan` would run it with: the same
    config (but NOT_SHAPING), constitution, templates, probes and split of the pool."""
    folder = source.ledger.complete_dir(n)
    recorded = json.loads((folder / "config.json").read_text("utf-8"))
    info = json.loads((folder / "round.json").read_text("utf-8"))
    templates = {name: plan.templates.sha256(name) for name in plan.templates.sources}
    split, theirs = plan.ledger.path / "run.json", source.ledger.path / "run.json"
    same_split = not split.exists() or (
        json.loads(split.read_text("utf-8"))["train_order"] == json.loads(theirs.read_text("utf-8"))["train_order"])
    return (shaping(recorded) == shaping(plan.config.to_dict()) and same_split
            and info.get("constitution", {}).get("sha256") == plan.constitution.sha256
            and info.get("templates") == templates
            and (info.get("probes") or {}).get("sha256") == plan.probes.sha256)


def share_start(source: RunPlan, plan: RunPlan) -> list[int]:
    """Copy source's shared rounds into plan's run, in order, each when it is complete there, missing
    here and shaped alike; stops at the first that is not. Returns the rounds copied."""
    copied = []
    with plan.ledger.lock():
        plan.ledger.reconcile()
        done, theirs = set(plan.ledger.complete_rounds()), set(source.ledger.complete_rounds())
        for n in shared_rounds(plan):
            if n in done:
                continue
            if n not in theirs or not same_start(source, plan, n):
                break
            plan.ledger.copy_round(source.ledger, n)
            copied.append(n)
    return copied


def run_head_to_head(ws: Workspace, methods: list[str], seeds: list[int], rounds: int,
                     overrides: dict[str, dict[str, Any]] | None = None,
                     progress: Callable | None = None, make_judge=None,
                     on_run: Callable[[RunPlan, list[int]], None] | None = None) -> list[str]:
    """Run every (method, seed) until `rounds` training rounds are complete; returns the run names.
    Seeds in turn, each seed's methods in the order given; the first method's run of a seed is where
    the others' shared start comes from. `on_run(plan, copied)` is told as each run begins."""
    names = []
    for seed in seeds:
        first = None
        for method in methods:
            sections = {k: dict(v) for k, v in (overrides or {}).items()}
            sections.setdefault("train", {})["method"] = method
            sections.setdefault("run", {})["seed"] = seed
            plan = plan_run(ws, sections, run_name(method, seed))
            copied = share_start(first, plan) if first is not None else []
            if on_run is not None:
                on_run(plan, copied)
            run_rounds(plan, rounds, progress=progress, make_judge=make_judge)
            first = first or plan
            names.append(plan.ledger.run)
    return names
