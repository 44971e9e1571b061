"""A run, read top to bottom like a recipe: round 0 measures the starting model, round 1 warm-starts
it on demonstrations, and every round after that is self-rewarding. Every round leaves a complete
record in the ledger (loop/ledger/store.py), or none at all; a killed run resumes where it stopped.

How this departs from textbook GRPO and from Self-Rewarding LMs, and why:
1. Rewards are per principle, one TRL reward function each, summed with the constitution's weights
   (`reward_weights`). Principles with a rule check are rewarded by the rule (DeepSeek-V3: rules
   wherever the answer is verifiable; a rule cannot be flattered), the rest by the judge.
2. The judge's score is a probability (P(Yes) against P(No) after the judge prompt, or after its own
   critique in critique mode), never a number parsed from text: a 135M model does not follow score
   formats. Self-Rewarding LMs parse a 5-point score; they had a 70B model.
3. GRPO on the scores instead of DPO on pairs, by default: group-relative advantages need no pair
   mining and use every sample. The judge is still the frozen M_t, as in Self-Rewarding LMs.
   `[train] method = "dpo"` trains as Self-Rewarding LMs do instead, on the best and the worst of each
   prompt's samples under the same rewards (loop/training/dpo_round.py), so the two can be compared.
4. One copy of the base weights. The policy is a LoRA adapter; TRL copies the round-start adapter
   into a frozen "ref" adapter for the KL term, and that same frozen copy is the round's judge M_t.
   The anchor judge (the run's M_0) is the base with adapters off. Memory is what limits who can run
   this, so no second model is ever loaded.
5. The KL reference is M_t, the round start, not M_0: each round is a small step from where it began
   (as in iterative DPO). Drift from M_0 is watched instead: by the anchor judge on held-out prompts,
   and by the log-ratio of the policy's greedy answers against the base (loop/measure/outside_view.py).
6. Every round ends with an outside view scored by what it did not train on: held-out prompts judged
   by both judges (a growing gap is the self-hacking signal: scores rise, real quality stalls).
7. Round 0 is a real round without training: the starting model measured the same way, so every
   later round has a before (loop/training/baseline.py). `--rounds N` counts training rounds.
8. Round 1 is a supervised warm start on demonstrations (loop/training/warm_start.py), as Self-
   Rewarding LMs' M1 and Constitutional AI's supervised phase: at 135M the rewarded behaviours almost
   never appear in samples, and GRPO can only sharpen what it sees.
9. The judge is trusted only as far as it is measured to be right: round 0 and every self-rewarding
   round's start read the constitution's labeled pairs (loop/training/judge_trust.py), and each judged
   principle's weight is scaled by its accuracy above chance (0 at chance, and then not judged at
   all). Self-Rewarding LMs trust their judge unmeasured.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any, Callable

from loop.config import Config
from loop.trl_tables import TRL_TABLES, refuse_loop_decided
from loop.constitution import Constitution
from loop.datafile import atomic_write, atomic_write_json
from loop.dist import use_cpu_without_gpu
from loop.errors import LoopError
from loop.ledger import Ledger, now
from loop.probes import ProbeSet
from loop.templates import Templates
from loop.training.progress import RoundProgress, Silent
from loop.training.steps import RoundContext
from loop.workspace import Workspace


@dataclass
class RunPlan:
    """Everything validated before a model loads: a bad file fails in a second, not after minutes."""
    workspace: Workspace
    config: Config
    constitution: Constitution
    templates: Templates
    pool: list[dict[str, Any]]
    ledger: Ledger
    probes: ProbeSet
    gate: ProbeSet | None = None  # the gate set (loop/measure/gate.py); None: rounds are not gated


def plan_run(ws: Workspace, overrides: dict[str, dict[str, Any]], run_name: str | None = None) -> RunPlan:
    use_cpu_without_gpu()  # before any TRL config is built: they read it (loop/dist.py)
    config = ws.config()
    for section, values in overrides.items():  # command-line flags win over loop.toml
        if section in TRL_TABLES:
            refuse_loop_decided(values, ws.root / "loop.toml", table=section)  # loop.toml's were checked on load
            getattr(config, section).update(values)
        else:
            setattr(config, section, dataclasses.replace(getattr(config, section), **values))
    config, constitution, templates, pool, probes = ws.check(config)
    if config.run.heldout_size >= len(pool):
        raise LoopError(f"heldout_size ({config.run.heldout_size}) leaves no prompts to train on in a pool of "
                        f"{len(pool)}; lower [run] heldout_size", path=ws.root / "loop.toml")
    return RunPlan(ws, config, constitution, templates, pool, Ledger(ws.runs_dir, run_name or config.run.name), probes,
                   ws.gate(config, ws.trained_prompts(config, list(enumerate(pool, 1)), constitution), probes))


def split_pool(plan: RunPlan) -> dict[str, Any]:
    """Fix the held-out prompts and the training order once per run (run.json), seeded.

    Kept on disk so a resumed or extended run never trains on what it evaluates, even if the seed
    or the pool file changed in between (then we refuse, rather than silently mix the two)."""
    path = plan.ledger.path / "run.json"
    pool_hash = hashlib.sha256(json.dumps(plan.pool, sort_keys=True).encode()).hexdigest()
    if path.exists():
        split = json.loads(path.read_text("utf-8"))
        if split["pool_sha256"] != pool_hash:
            raise LoopError(f"the prompt pool changed since run '{plan.ledger.run}' started; start a new run "
                            "(--run NAME) or restore the pool", path=plan.workspace.pool_path(plan.config))
        return split
    order = list(range(len(plan.pool)))
    random.Random(plan.config.run.seed).shuffle(order)
    k = plan.config.run.heldout_size
    split = {"created": now(), "pool": plan.config.run.pool, "pool_sha256": pool_hash, "seed": plan.config.run.seed,
             "heldout": sorted(order[:k]), "train_order": interleave(order[k:], plan.pool)}
    atomic_write_json(path, split)
    atomic_write(plan.ledger.path / "heldout.jsonl", "".join(
        json.dumps({"index": i, **plan.pool[i]}, ensure_ascii=False) + "\n" for i in split["heldout"]))
    return split


def interleave(order: list[int], pool: list[dict[str, Any]]) -> list[int]:
    """The shuffled training order dealt out category by category, so every round's slice holds each
    kind of prompt in proportion. A random slice of the shipped pool held few harmful or unknowable
    prompts (one in eight each), and rounds went by in which a rule had nothing to compare; a pool
    without categories keeps its shuffled order."""
    by_category: dict[str, list[int]] = {}
    for i in order:
        by_category.setdefault(str(pool[i].get("category") or ""), []).append(i)
    queues = sorted(by_category.values(), key=len, reverse=True)
    # Each category's prompts spread evenly over the whole order: the i-th of n lands at (i + 0.5) / n.
    keyed = [((j + 0.5) / len(q), rank, i) for rank, q in enumerate(queues) for j, i in enumerate(q)]
    return [i for _, _, i in sorted(keyed)]


def round_kind(plan: RunPlan, r: int) -> str:
    """What round r of this run is: the baseline, the warm start, or a self-rewarding round by the
    run's method ([train] method: "grpo" or "dpo")."""
    if r == 0:
        return "baseline"
    if r == 1 and plan.config.train.warm_start:
        return "warm-start"
    return plan.config.train.method


def run_rounds(plan: RunPlan, rounds: int, progress: Callable[[int], RoundProgress] | None = None,
               make_judge=None) -> list[dict[str, Any]]:
    """Run until round 0 and `rounds` training rounds are complete: a crashed or killed run picks up
    where it stopped, and a complete round is never redone.

    `progress(r)` gives round r's progress (loop/training/progress.py); `make_judge` builds the judge
    from the Judge's arguments (a benchmark wraps it, tests script it)."""
    from contextlib import ExitStack

    from loop.dist import broadcast_object, on_main
    from loop.model import load_model
    from loop.training.baseline import baseline_round
    from loop.training.dpo_round import dpo_round
    from loop.training.grpo_round import grpo_round
    from loop.training.warm_start import warm_start_round

    recipes = {"baseline": baseline_round, "warm-start": warm_start_round, "grpo": grpo_round, "dpo": dpo_round}
    summaries = []
    with ExitStack() as held:
        # With several processes (torchrun), rank 0 alone takes the lock, reads the ledger and splits the
        # pool; the others get the rounds to do and the split by broadcast (loop/dist.py).
        todo, split = on_main(prepare_run, plan, rounds, held)
        if not todo:
            return summaries
        model, tokenizer, info = load_model(plan.config.model.name, plan.config.model.dtype)
        for r in todo:
            ctx = RoundContext(plan, split, model, tokenizer, info.name, r, (progress or Silent)(r), make_judge)
            # Rank 0 measures and publishes while the others wait here for its summary, so every process
            # decides alike whether to go on, and none starts the next round before this one is complete.
            summaries.append(broadcast_object(recipes[round_kind(plan, r)](ctx)))
            # A probe family below round 0 by more than its interval: the loop is making the model worse
            # at something no judge decides. With stop_on_regression the run ends here, complete rounds kept.
            if plan.config.train.stop_on_regression and summaries[-1].get("probe_regressed"):
                break
    return summaries


def prepare_run(plan: RunPlan, rounds: int, held) -> tuple[list[int], dict[str, Any] | None]:
    """(rounds still to do, the pool split): the run lock taken and held until `held` closes, and the
    ledger reconciled first, since a round renamed complete just before a crash counts as complete."""
    held.enter_context(plan.ledger.lock())
    plan.ledger.reconcile()
    done = set(plan.ledger.complete_rounds())
    todo = [r for r in range(0, rounds + 1) if r not in done]
    return todo, split_pool(plan) if todo else None
