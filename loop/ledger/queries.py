"""Queries over a run's ledger: which run a command reads (the workspace, the run name), which rounds it
has and in what state, and what a round recorded about its judges and principles.

The view commands ask these, and views only read JSON, so they must start fast. The run name comes
straight from loop.toml's [run] table rather than through `load_config`, which validates [grpo] against
trl.GRPOConfig and so imports trl (seconds). `loop check` and `loop run` still validate the whole
config.
"""

from __future__ import annotations

from pathlib import Path

from loop.config import CONFIG_FILE, RunSection
from loop.datafile import read_toml
from loop.errors import LoopError, did_you_mean
from loop.ledger import Ledger, parse_round_name
from loop.workspace import open_workspace


def default_run_name(workspace_root: Path) -> str:
    data, _ = read_toml(workspace_root / CONFIG_FILE, "config file")
    name = data.get("run", {}).get("name") if isinstance(data.get("run"), dict) else None
    return name if isinstance(name, str) and name else RunSection.name


def open_run(workspace: str | Path = ".", run: str | None = None) -> Ledger:
    """The ledger of run `run` (default: loop.toml's run.name) in the workspace folder `workspace`."""
    ws = open_workspace(workspace)
    return Ledger(ws.runs_dir, run or default_run_name(ws.root))


def require_run(ledger: Ledger, *, unless_no_runs: bool = False) -> Ledger:
    """The ledger if the run has started; otherwise one line naming the runs there are (a typo in
    --run is an error, not an empty table). With `unless_no_runs`, a workspace without any run yet
    gets its ledger back, for a view that says how to start one."""
    if ledger.path.is_dir():
        return ledger
    runs = sorted(p.parent.name for p in ledger.runs_dir.glob("*/index.json")) if ledger.runs_dir.is_dir() else []
    if unless_no_runs and not runs:
        return ledger
    hint = f"; runs: {', '.join(runs)}{did_you_mean(ledger.run, runs)}" if runs else "; start one with `loop run`"
    raise LoopError(f"no run '{ledger.run}' yet{hint}", path=ledger.runs_dir)


def rounds_on_disk(ledger: Ledger) -> list[int]:
    """Round numbers that have a folder, complete or partial (the index may lag a crashed run)."""
    numbers = set()
    if ledger.path.is_dir():
        for child in ledger.path.iterdir():
            number = parse_round_name(child.name)
            if number is not None and child.is_dir():
                numbers.add(number)
    return sorted(numbers)


def round_with(ledger: Ledger, round_number: int | None, filename: str, what: str, none_yet: str,
               only: str = "") -> int:
    """The round whose `filename` to read: the one asked for, which must have it, else the latest that
    has it. `what` names its records ("preference pairs"), `none_yet` is the error when no round has them,
    `only` says which rounds can ("only DPO rounds have them")."""
    having = [n for n in rounds_on_disk(ledger) if (ledger.round_dir(n) / filename).exists()]
    if round_number is None:
        if not having:
            raise LoopError(f"run '{ledger.run}' has {none_yet}", path=ledger.path)
        return having[-1]
    ledger.require_round(round_number)
    if round_number not in having:
        kind = ledger.round_info(round_number).get("kind")
        have = f"; rounds with {what.split()[-1]}: {', '.join(map(str, having))}" if having else ""
        raise LoopError(f"round {round_number} has no {what}{f' (a {kind} round)' if kind else ''}"
                        f"{f': {only}' if only else ''}{have}", path=ledger.path)
    return round_number


def latest_round(ledger: Ledger) -> int:
    """The newest round, including one still being written."""
    numbers = rounds_on_disk(require_run(ledger))
    if not numbers:
        raise LoopError(f"run '{ledger.run}' has no rounds yet; start one with `loop run`", path=ledger.path)
    return numbers[-1]


def is_running(ledger: Ledger, n: int) -> bool:
    """True while round n exists only as its .partial folder."""
    return not ledger.complete_dir(n).exists() and ledger.partial_dir(n).exists()


def round_status(ledger: Ledger, n: int) -> str:
    """The index's word for round n ('complete', 'running', 'interrupted'), else what the folders say."""
    entry = next((r for r in ledger.index().get("rounds", []) if r.get("round") == n), None)
    if entry and entry.get("status"):
        return str(entry["status"])
    return "running" if is_running(ledger, n) else "complete"


def anchor_on_training(ledger: Ledger, n: int) -> bool:
    """Whether round n's anchor judge scored its training completions too ([judge] anchor_on_training in
    the round's config.json). Rounds recorded before that setting existed did: true when it is missing."""
    import json

    path = ledger.round_dir(n) / "config.json"
    try:
        judge = json.loads(path.read_text("utf-8")).get("judge") or {}
    except (OSError, ValueError, AttributeError):
        return True
    return bool(judge.get("anchor_on_training", True))


def judge_is_anchor(ledger: Ledger, n: int) -> bool:
    """Whether round n's judge is the anchor judge itself. The judge of a round is its frozen start;
    a round that starts from the base model (round 0, and round 1 without a warm start) is judged by
    the base, which is what the anchor is: the two judges are one, and never disagree. round.json says
    so in `judge_is_anchor`; ledgers written before it existed say it in `starts_from`."""
    info = ledger.round_info(n)
    if "judge_is_anchor" in info:
        return bool(info["judge_is_anchor"])
    return n == 0 or str(info.get("starts_from", "")).startswith("base model")


def principle_ids(ledger: Ledger, n: int) -> list[str]:
    """The principle ids of round n's constitution snapshot (file names: principles/<id>.toml)."""
    folder = ledger.require_round(n) / "constitution" / "principles"
    return sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []


def check_principle(principle: str | None, known: list[str], where: str) -> None:
    """A principle the round does not have is a one-line error, not an empty screen."""
    if principle and known and principle not in known:
        raise LoopError(f"no principle '{principle}' in {where}{did_you_mean(principle, known)}; "
                        f"principles: {', '.join(known)}")
