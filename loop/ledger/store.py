"""The ledger: every round of a run, on disk, complete or not at all.

    runs/<run>/
      index.json              the rounds and their status (rewritten atomically after each round)
      heldout.jsonl           the held-out prompts, fixed when the run starts, never trained on
      .lock                   flock()ed by the `loop run` working here (a dead process drops it)
      round-001/              a COMPLETE round; never rewritten
        round.json            round number, status, times, constitution name/version/sha256,
                              template sha256s, model, judge mode, seed, prompt indices trained on;
                              how far the judge was trusted: reliability, effective_weights,
                              declared_weights, consistency, judge_state (loop/training/judge_trust.py)
        reliability.jsonl     the latest reading of every labeled pair by a judge (the next round
                              starts from it)
        config.json           the resolved config (workspace config + command-line overrides)
        constitution/         snapshot of the constitution files exactly as used
        prompts/              snapshot of the templates exactly as used
        critiques.jsonl       one record per completion x principle (see CRITIQUE_KEYS); "kind" is
                              "rule", "judge", or "unjudged" (not judged, score null: weight 0,
                              or rules first, where its rules decide the answer's value)
        preferences.jsonl     a DPO round's pairs: prompt, chosen and rejected answers, each one's
                              per-principle scores, total and ranking value, and the margin
        revisions.jsonl       answers the model critiqued and rewrote (a warm start on revisions, a DPO
                              round with revision pairs): original, critique, revision, both answers'
                              scores, kept and why (loop/training/revision.py)
        eval.jsonl            one record per held-out prompt (see EVAL_KEYS)
        metrics.json          {"train": [TRL log rows], "eval": {...}}
        summary.txt           the round summary as printed
        adapter/              the LoRA adapter after the round (small; no full model copy)
      round-002.partial/      the round in progress; deleted and redone if the run was interrupted

metrics.json of a round:
    {"train": [one dict per TRL log row: "step", "loss", "reward", "reward_std", "frac_reward_zero_std",
               "rewards/principle_<id>/mean", "kl", "completions/mean_length", ...],
     "eval":  {"n_prompts": int,
               "judge_scores":   {principle id: mean score by the round's judge (judged principles)},
               "anchor_scores":  {principle id: mean score by the anchor judge (round-0 model)},
               "anchor_gap":     {principle id: judge - anchor},
               "rule_pass_rates": {principle id: fraction of completions the rule passed (rule principles)},
               "unscored":       {principle id: completions the judge could not score},
               "mean_completion_words": float}}
index.json: {"run": name, "rounds": [{"round": n, "status": "running"|"complete"|"interrupted",
             "started": iso, "finished": iso, "summary": {...}}]} where summary is flat:
    reward, reward_std, frac_zero_std (training); judge_score, anchor_score, anchor_gap (means over
    judged principles, held-out); rule_pass (mean over rule principles); completion_words; seconds.

A round is written into `round-NNN.partial/` and renamed to `round-NNN/` only when every file is in
place, so a crash or SIGKILL at any moment loses at most the round in progress.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
from contextlib import contextmanager
from datetime import datetime, timezone
from itertools import groupby
from pathlib import Path
from typing import Any, Iterator

from loop.datafile import atomic_write, atomic_write_json
from loop.errors import LoopError

# Keys every critiques.jsonl record carries (more may follow: "group", "sample", the judge's
# "distribution", the guard's "cuts", and "cut_tokens", the token count the length limit cut the answer
# at or null; eval.jsonl records may carry "cut_tokens" too, and the views read it where present).
CRITIQUE_KEYS = ("round", "step", "prompt", "completion", "principle", "kind", "critique", "score",
                 "anchor_score", "reward", "total_reward", "advantage")
# Keys every eval.jsonl record carries: one held-out prompt, the round's greedy completion, and per
# principle the round judge's and the anchor judge's scores and critiques, and rule results.
EVAL_KEYS = ("round", "index", "prompt", "completion", "scores", "anchor_scores", "critiques", "anchor_critiques",
             "rules")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def round_name(n: int) -> str:
    """The folder name of round n: the one function that spells `round-NNN` (parse_round_name reads it back)."""
    return f"round-{n:03d}"


REVISIONS_FILE = "revisions.jsonl"
_ROUND_FOLDER = re.compile(r"^round-(\d{3,})(\.partial)?$")


def parse_round_name(name: str) -> int | None:
    """The round number of a folder named by `round_name` (complete or `.partial`); None for any other name."""
    match = _ROUND_FOLDER.match(name)
    return int(match.group(1)) if match else None


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a ledger JSONL file; a torn last line (a writer killed mid-line) is skipped."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text("utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


class Ledger:
    def __init__(self, runs_dir: str | Path, run: str):
        self.runs_dir = Path(runs_dir)
        self.run = run
        self.path = self.runs_dir / run

    # ---- reading -------------------------------------------------------------------------------
    def exists(self) -> bool:
        return (self.path / "index.json").exists()

    def index(self) -> dict[str, Any]:
        path = self.path / "index.json"
        if not path.exists():
            return {"run": self.run, "rounds": []}
        return json.loads(path.read_text("utf-8"))

    def complete_rounds(self) -> list[int]:
        return sorted(r["round"] for r in self.index()["rounds"] if r["status"] == "complete")

    def best_round(self) -> int | None:
        """The best complete round: by the gate set where rounds answered it (loop/measure/gate.py), never
        a rejected round; else the round whose probes pass most often (the mean pass rate over families,
        each family counting once), the earlier round on a tie. None before any round has probes."""
        gated = self.best_accepted()
        if gated is not None:
            return gated
        scored = [(r["summary"]["probe_pass"], -r["round"]) for r in self.index()["rounds"]
                  if r["status"] == "complete" and isinstance((r.get("summary") or {}).get("probe_pass"), (int, float))]
        return -max(scored)[1] if scored else None

    def best_accepted(self, before: int | None = None, since: int = 0) -> int | None:
        """The complete round (from `since`, before `before`) with the highest mean gate pass rate among
        those the gate accepted, the later round on a tie; None when no such round answered a gate set."""
        scored = [(gate["rate"], r["round"]) for r in self.index()["rounds"]
                  if r["status"] == "complete" and r["round"] >= since and (before is None or r["round"] < before)
                  and isinstance(gate := (r.get("summary") or {}).get("gate"), dict) and gate.get("accepted")
                  and isinstance(gate.get("rate"), (int, float))]
        return max(scored)[1] if scored else None

    def round_dir(self, n: int) -> Path:
        """The folder of round n: complete if there is one, else the partial one being written."""
        done = self.complete_dir(n)
        return done if done.exists() else self.partial_dir(n)

    def complete_dir(self, n: int) -> Path:
        """Where round n lives once it is complete (it may not exist yet)."""
        return self.path / round_name(n)

    def partial_dir(self, n: int) -> Path:
        return self.path / f"{round_name(n)}.partial"

    def require_round(self, n: int) -> Path:
        """The folder of an existing round, or a one-line error that lists the rounds there are."""
        path = self.round_dir(n)
        if not path.exists():
            have = [r["round"] for r in self.index()["rounds"]]
            listing = ", ".join(map(str, have)) if have else "none yet; run `loop run`"
            raise LoopError(f"run '{self.run}' has no round {n}; rounds: {listing}", path=self.path)
        return path

    def require_complete_round(self, n: int) -> Path:
        """The folder of complete round n, or one line: the round does not exist (and the rounds that
        do, with their status), or it exists but is not complete (and the complete ones)."""
        status = {r["round"]: r.get("status", "?") for r in self.index()["rounds"]}
        if self.complete_dir(n).exists():
            return self.complete_dir(n)
        if n not in status and not self.partial_dir(n).exists():
            # "1, 2, 3 (complete), 4 (running)": each status named once, after the rounds that have it
            listing = ", ".join(", ".join(str(n) for n, _ in group) + f" ({state})" for state, group in
                                groupby(sorted(status.items()), key=lambda item: item[1])) or "none yet; run `loop run`"
            raise LoopError(f"round {n} of run '{self.run}' does not exist; rounds: {listing}", path=self.path)
        done = ", ".join(map(str, self.complete_rounds())) or "none"
        raise LoopError(f"round {n} of run '{self.run}' is not complete ({status.get(n, 'running')}); "
                        f"complete rounds: {done}", path=self.path)

    def round_info(self, n: int) -> dict[str, Any]:
        path = self.require_round(n) / "round.json"
        return json.loads(path.read_text("utf-8")) if path.exists() else {"round": n, "status": "running"}

    def critiques(self, n: int) -> list[dict[str, Any]]:
        return read_jsonl(self.require_round(n) / "critiques.jsonl")

    def evaluations(self, n: int) -> list[dict[str, Any]]:
        return read_jsonl(self.require_round(n) / "eval.jsonl")

    def preferences(self, n: int) -> list[dict[str, Any]]:
        """Round n's preference pairs (a DPO round's preferences.jsonl; none for other kinds)."""
        return read_jsonl(self.require_round(n) / "preferences.jsonl")

    def revisions(self, n: int) -> list[dict[str, Any]]:
        """Round n's revisions (revisions.jsonl; none where the model revised nothing)."""
        return read_jsonl(self.require_round(n) / REVISIONS_FILE)

    def metrics(self, n: int) -> dict[str, Any]:
        path = self.require_round(n) / "metrics.json"
        return json.loads(path.read_text("utf-8")) if path.exists() else {}

    def snapshot(self, n: int) -> tuple[dict[str, str], dict[str, str]]:
        """(constitution files, template files) exactly as round n used them: {relative path: text}."""
        root = self.require_round(n)
        files = {}
        for sub in ("constitution", "prompts"):
            base = root / sub
            files[sub] = {str(p.relative_to(base)): p.read_text("utf-8") for p in sorted(base.rglob("*")) if p.is_file()}
        return files["constitution"], files["prompts"]

    # ---- writing -------------------------------------------------------------------------------
    @contextmanager
    def lock(self) -> Iterator[None]:
        """One `loop run` per run folder. flock is released by the kernel when a process dies, so a
        crashed run never blocks the next one."""
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / ".lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise LoopError(f"run '{self.run}' is in use by {holder}; wait for it to finish or stop it",
                            path=self.path) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def begin_round(self, n: int, kind: str | None = None) -> Path:
        """A clean folder for round n (of `kind`: baseline, warm-start, grpo, dpo). Leftovers of an
        interrupted attempt are removed first."""
        if self.complete_dir(n).exists():
            raise LoopError(f"round {n} is already complete and is never rewritten", path=self.complete_dir(n))
        partial = self.partial_dir(n)
        if partial.exists():
            shutil.rmtree(partial)
        partial.mkdir(parents=True)
        self._set_status(n, "running", started=now(), **({"kind": kind} if kind else {}))
        return partial

    def complete_round(self, n: int, summary: dict[str, Any]) -> Path:
        """Publish round n: rename the finished partial folder, then record it in the index."""
        partial, final = self.partial_dir(n), self.complete_dir(n)
        info = json.loads((partial / "round.json").read_text("utf-8"))
        info.update(status="complete", finished=now(), summary=summary)
        atomic_write_json(partial / "round.json", info)
        _fsync_tree(partial)
        os.replace(partial, final)  # the moment the round becomes complete
        self._set_status(n, "complete", finished=info["finished"], summary=summary)
        return final

    def copy_round(self, source: "Ledger", n: int) -> Path:
        """Complete round n of another run, copied into this one as it is (a head-to-head's shared start:
        the same round 0 and warm start, literally). Written as any round is, partial folder then one
        rename; round.json names this run and the one it was copied from. The run's split (run.json,
        heldout.jsonl) comes with it when this run has none yet."""
        for name in ("run.json", "heldout.jsonl"):
            if (source.path / name).exists() and not (self.path / name).exists():
                atomic_write(self.path / name, (source.path / name).read_text("utf-8"))
        partial, final = self.partial_dir(n), self.complete_dir(n)
        if partial.exists():
            shutil.rmtree(partial)
        shutil.copytree(source.require_complete_round(n), partial)
        info = json.loads((partial / "round.json").read_text("utf-8"))
        info.update(run=self.run, copied_from={"run": source.run, "round": n})
        atomic_write_json(partial / "round.json", info)
        _fsync_tree(partial)
        os.replace(partial, final)
        self._set_status(n, "complete", started=info.get("started"), finished=info.get("finished"),
                         summary=info.get("summary", {}), **({"kind": info["kind"]} if "kind" in info else {}))
        return final

    def _set_status(self, n: int, status: str, **fields: Any) -> None:
        index = self.index()
        rounds = [r for r in index["rounds"] if r["round"] != n]
        previous = next((r for r in index["rounds"] if r["round"] == n), {})
        rounds.append({**previous, "round": n, "status": status, **fields})
        index["rounds"] = sorted(rounds, key=lambda r: r["round"])
        atomic_write_json(self.path / "index.json", index)

    def reconcile(self) -> None:
        """Make the index agree with the folders after a crash: a round folder without '.partial' is
        complete even if the process died before updating the index; a 'running' round is interrupted."""
        index = self.index()
        changed = False
        for r in index["rounds"]:
            complete_on_disk = self.complete_dir(r["round"]).exists()
            if complete_on_disk and r["status"] != "complete":
                info = json.loads((self.complete_dir(r["round"]) / "round.json").read_text("utf-8"))
                r.update(status="complete", finished=info.get("finished"), summary=info.get("summary", {}))
                changed = True
            elif not complete_on_disk and r["status"] == "running":
                r["status"] = "interrupted"
                changed = True
        if changed:
            atomic_write_json(self.path / "index.json", index)


def append_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """Append whole lines and flush, so `loop log --follow` sees records as they are made."""
    with open(path, "a", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()


def write_snapshot(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        atomic_write(folder / name, text)


def _fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
