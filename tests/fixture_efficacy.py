"""Small ledgers for the DPO views, written through the Ledger API so view tests need no model.

`write_round` writes one complete round of a given kind with the metrics given; `write_efficacy_runs`
writes the runs a head to head leaves (efficacy-<method>-s<seed>): round 0, a warm start, and
self-rewarding rounds whose last one carries probe changes and the drift from the base. The numbers
are made up; tests look for them by value:
    grpo, seed s: arithmetic +0.10 [+0.02, +0.18] (n 60), drift 0.0100 + s / 1000, 100 s a round
    dpo,  seed s: arithmetic -0.05 [-0.12, +0.02] (n 60), drift 0.0300 + s / 1000, 40 s a round
    round 0 and the warm start: 30 s and 200 s in every run
"""

from __future__ import annotations

from pathlib import Path

from loop.datafile import atomic_write_json
from loop.ledger import Ledger, append_jsonl, now

PAIR = {"round": 2, "group": 1, "pool_index": 17, "prompt": "How do I keep cut basil fresh?",
        "chosen": "Stand the stems in a glass of water at room temperature.",
        "rejected": "Basil is a herb. Herbs are plants. Plants are green.",
        "chosen_sample": 2, "chosen_scores": {"concise": 1.0, "helpful": 0.81, "honest": 0.62},
        "chosen_total": 2.43, "chosen_value": 2.43, "chosen_cut_tokens": None,
        "rejected_sample": 0, "rejected_scores": {"concise": 1.0, "helpful": 0.22, "honest": 0.58},
        "rejected_total": 1.80, "rejected_value": 1.80, "rejected_cut_tokens": 48, "margin": 0.63}
COUNTS = {"prompts": 6, "pairs": 1, "ties": 4, "too_few_scored": 1, "unscored_answers": 2, "margin": 0.1,
          "ranked_by": "sum_then_normalize"}


def write_round(ledger: Ledger, n: int, kind: str, *, metrics: dict | None = None, seconds: float = 60.0,
                preferences: list[dict] | None = None) -> Path:
    ledger.path.mkdir(parents=True, exist_ok=True)
    folder = ledger.begin_round(n, kind=kind)
    atomic_write_json(folder / "round.json", {"round": n, "kind": kind, "status": "running", "started": now(),
                                              "run": ledger.run, "starts_from": "base model" if n < 2 else
                                              f"round {n - 1} adapter"})
    atomic_write_json(folder / "metrics.json", {"train": [], "eval": {}, **(metrics or {})})
    if preferences is not None:
        append_jsonl(folder / "preferences.jsonl", preferences)
    return ledger.complete_round(n, {"kind": kind, "seconds": seconds})


def write_dpo_run(runs_dir: str | Path, run: str = "main") -> Ledger:
    """Round 1 a GRPO round, round 2 a DPO round with one pair (PAIR) out of six prompts (COUNTS)."""
    ledger = Ledger(runs_dir, run)
    write_round(ledger, 1, "grpo")
    write_round(ledger, 2, "dpo", metrics={"preferences": COUNTS}, preferences=[PAIR])
    return ledger


def write_efficacy_runs(runs_dir: str | Path, seeds=(0, 1), rounds: int = 3) -> list[tuple[Ledger, str, int]]:
    out = []
    for method, delta, low, high, drift, seconds in (("grpo", 0.10, 0.02, 0.18, 0.0100, 100.0),
                                                     ("dpo", -0.05, -0.12, 0.02, 0.0300, 40.0)):
        for seed in seeds:
            ledger = Ledger(runs_dir, f"efficacy-{method}-s{seed}")
            write_round(ledger, 0, "baseline", seconds=30.0)
            write_round(ledger, 1, "warm-start", seconds=200.0)
            # `rounds` training rounds, as --rounds counts them: the warm start and rounds - 1 self-rewarding.
            for n in range(2, rounds + 1):
                last = n == rounds
                metrics = {"movement": {"drift_base": drift + seed / 1000}} if last else {}
                if last:
                    metrics["probe_changes"] = {"arithmetic": {"delta": delta, "low": low, "high": high, "n": 60}}
                write_round(ledger, n, method, metrics=metrics, seconds=seconds)
            out.append((ledger, method, seed))
    return out
