"""The critique recorder of a round: one record per completion x principle, written as training goes.

Reward functions report what they saw and said (`add`: the user's question and the answer as plain
text, and each score); once TRL has turned the rewards into advantages, the step ends and
`on_step_end` writes the batch's records to critiques.jsonl, so `loop log --follow` can read them
while the round runs, and keeps them in memory (`records`) for the round's movement figures. The
trainer hands each batch's advantages to `take_advantages` (loop/training/trainer.py). A trainer
callback, so it lives with training; it writes into the round folder through loop/ledger/store.py.
(`loop log` itself is the viewer, loop/views/log_view.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from loop.dist import gather_object, is_main
from loop.generation import cut_at
from loop.ledger.store import append_jsonl


def weighted_total(rewards: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """TRL's aggregate: the weighted sum over the principles that could score; None if none could."""
    scored = [(weights[k], v) for k, v in rewards.items() if v is not None]
    return sum(w * v for w, v in scored) if scored else None


class CritiqueRecorder(TrainerCallback):
    def __init__(self, path: Path, round_number: int, weights: dict[str, float], stop_ids: set | None = None,
                 on_judged=None):
        self.path = Path(path)
        self.round = round_number
        self.weights = weights  # principle id -> weight, in constitution order
        self.stop_ids = set(stop_ids or ())  # the tokens that end an answer (eos ids and padding)
        self.on_judged = on_judged  # progress hook: called once per judged principle batch
        self.pending: dict[str, tuple[str, list, list[dict]]] = {}
        self.batch: tuple[list, list, dict] | None = None
        self.advantages: list[float] | None = None  # this process's advantages of the pending batch
        self.totals: list[float] | None = None  # the pending batch's combined rewards, where one function combined them
        self.records: list[dict[str, Any]] = []  # every record written this round (rank 0), for the movement

    def add(self, principle: str, kind: str, prompts: list[str], completions: list[str], rewards: list,
            entries: list[dict[str, Any]], kwargs: dict[str, Any]) -> None:
        self.pending[principle] = (kind, rewards, entries)
        self.batch = (prompts, completions, kwargs)
        if kind in ("judge", "unjudged") and self.on_judged is not None:  # a judged principle's turn, done
            self.on_judged()

    def take_totals(self, totals: list[float]) -> None:
        """The pending batch's rewards as one function combined them (loop/training/rules_first.py): they,
        not the weighted sum of the principles' rewards, are each record's total_reward."""
        self.totals = list(totals)

    def take_advantages(self, advantages: list[float]) -> None:
        """The pending batch's advantages, as the trainer computed them (this process's part)."""
        self.advantages = [float(a) for a in advantages]

    def on_step_end(self, args, state, control, **kwargs):
        if not self.pending or self.batch is None:
            return  # the same batch reused (num_iterations > 1): already written
        n = len(self.batch[1])
        advantages = self.advantages if self.advantages is not None and len(self.advantages) == n else None
        self.flush(state.global_step, args.num_generations, args.max_completion_length, advantages)

    def flush(self, step: int, group_size: int, max_length: int, advantages: list | None = None,
              across_processes: bool = True) -> None:
        """Write the pending batch's records: `step` names them, samples count within groups of
        `group_size`, an answer of `max_length` tokens that did not end on a stop token was cut.
        GRPO calls this at the end of each step, with TRL's advantages; a DPO round after sampling each
        prompt's group (there is no advantage: null), on rank 0 alone (`across_processes` False)."""
        prompts, completions, columns = self.batch
        n = len(completions)
        advantages = advantages or [None] * n
        slots = columns.get("slot") or [None] * n
        completion_ids = columns.get("completion_ids")
        cuts = ([cut_at(list(ids), max_length, self.stop_ids) for ids in completion_ids]
                if completion_ids and len(completion_ids) == n else [None] * n)
        per_completion = []
        for i in range(n):
            rewards = {pid: self.pending[pid][1][i] for pid in self.weights if pid in self.pending}
            total = self.totals[i] if self.totals is not None and len(self.totals) == n else \
                weighted_total(rewards, self.weights)
            records = []
            for pid in self.weights:
                if pid not in self.pending:
                    continue
                kind, reward_list, entries = self.pending[pid]
                records.append({
                    "round": self.round, "step": step,
                    "group": slots[i], "sample": i % group_size,
                    "prompt": prompts[i], "completion": completions[i],
                    "principle": pid, "kind": entries[i].get("kind", kind), "critique": entries[i].get("critique", ""),
                    "score": entries[i].get("score"), "anchor_score": entries[i].get("anchor_score"),
                    "reward": reward_list[i], "total_reward": total, "advantage": advantages[i],
                    "distribution": entries[i].get("distribution"),
                    "cuts": entries[i].get("cuts") or [],
                    "cut_tokens": cuts[i],
                })
            per_completion.append(records)
        # With several processes each judged its own slice of the step's batch: rank 0 gathers them all
        # (in rank order, so a completion's place is its place in the whole batch) and writes them once.
        everyone = gather_object(per_completion) if across_processes else per_completion
        for position, records in enumerate(everyone):
            for record in records:
                record["sample"] = position % group_size  # a group is a whole run of the batch (TRL's sampler)
        records = [record for records in everyone for record in records]
        if is_main():
            append_jsonl(self.path, records)
            self.records.extend(records)
        self.pending.clear()
        self.batch = None
        self.advantages = self.totals = None
