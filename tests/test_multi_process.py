"""`loop run` under torchrun: two CPU processes (gloo) on the tiny model make the same kind of run as one
process, and when one of them is killed mid-round the same command resumes it.

The runs are made once for the module (about three minutes on two busy cores): rounds 0 and 1, then
round 2 started, one process killed once round 2 has written training records, the command run again,
and round 3 by DPO.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from tests.helpers import start_round_two, tree_digest

pytestmark = pytest.mark.slow

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "loop"]
PROMPTS, GENERATIONS = 4, 2


def run_args(tiny_model_dir: Path, rounds: int) -> list[str]:
    return ["run", "--rounds", str(rounds), "--model", str(tiny_model_dir), "--prompts-per-round", str(PROMPTS),
            "--num-generations", str(GENERATIONS), "--max-completion-length", "8", "--json"]


def worker(launcher: int, rank: int) -> int | None:
    """The pid of the torchrun worker of `rank` (a child of the launcher whose environment says RANK=rank)."""
    for child in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ:
            return int(child)
    return None


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_model_dir):
    """The workspace after the three commands, and what each one returned."""
    from loop.workspace import init_workspace

    ws = tmp_path_factory.mktemp("multi") / "ws"
    init_workspace(ws)
    toml = ws / "loop.toml"
    # Few probes and own answers: the processes share two cores with the rest of the suite.
    text = toml.read_text().replace("per_round = 20", "per_round = 2").replace("own_answers = 64", "own_answers = 4")
    # Any difference makes a DPO pair: the tiny model's answers score almost alike.
    text = text.replace("max_new_tokens = 64", "max_new_tokens = 8").replace("dpo_margin = 0.1", "dpo_margin = 0.0")
    # The tiny model reads every labeled pair at chance, so reliability weighting would leave no judged
    # principle and the rules alone score its gibberish alike: weights as written, scores that differ.
    text = text.replace("reliability_weights = true", "reliability_weights = false")
    text = text.replace('gate_dir = "prompts/gate"', 'gate_dir = ""')  # the gate is tested on its own (test_gate.py)
    toml.write_text(text)
    assert "reliability_weights = false" in toml.read_text() and "dpo_margin = 0.0" in toml.read_text()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    first = subprocess.run(TORCHRUN + run_args(tiny_model_dir, 1), cwd=ws, env=env, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    round_one = tree_digest(ws / "runs" / "main" / "round-001")

    launcher = start_round_two(TORCHRUN + run_args(tiny_model_dir, 2), ws, env)
    os.kill(worker(launcher.pid, 1), signal.SIGKILL)  # rank 1: torchrun then stops rank 0, the writer
    killed = launcher.wait(timeout=120)
    left_partial = (ws / "runs" / "main" / "round-002").exists()

    again = subprocess.run(TORCHRUN + run_args(tiny_model_dir, 2), cwd=ws, env=env, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    dpo = subprocess.run(TORCHRUN + run_args(tiny_model_dir, 3) + ["--method", "dpo"], cwd=ws, env=env,
                         capture_output=True, text=True, timeout=600)
    assert dpo.returncode == 0, dpo.stderr[-3000:]
    return {"ws": ws, "first": first, "killed": killed, "completed_when_killed": left_partial, "again": again,
            "round_one": round_one, "dpo": dpo}


def rounds_printed(result) -> list[int]:
    return [json.loads(line)["round"] for line in result.stdout.splitlines()]


def test_rank_zero_alone_prints_each_round_once(runs):
    assert rounds_printed(runs["first"]) == [0, 1]


def test_killing_one_process_stops_the_run_with_the_round_incomplete(runs):
    assert runs["killed"] != 0 and not runs["completed_when_killed"]


def test_the_same_command_resumes_the_killed_round_only(runs):
    assert rounds_printed(runs["again"]) == [2]


def test_complete_rounds_are_untouched_by_the_kill_and_the_resume(runs):
    assert tree_digest(runs["ws"] / "runs" / "main" / "round-001") == runs["round_one"]


def test_ledger_is_valid_and_every_round_complete(runs):
    from loop.ledger import Ledger

    ledger = Ledger(runs["ws"] / "runs", "main")
    assert [(r["round"], r["status"], r["kind"]) for r in ledger.index()["rounds"]] == [
        (0, "complete", "baseline"), (1, "complete", "warm-start"), (2, "complete", "grpo"), (3, "complete", "dpo")]
    assert not list(ledger.path.glob("*.partial"))
    for n in (0, 1, 2, 3):
        files = {p.name for p in ledger.complete_dir(n).iterdir()}
        expected = {"round.json", "config.json", "constitution", "prompts", "probes", "eval.jsonl", "probes.jsonl",
                    "metrics.json", "summary.txt"} | ({"adapter"} if n else set())
        assert expected <= files, (n, expected - files)
        assert ledger.round_info(n)["status"] == "complete"


@pytest.mark.parametrize("n", [2, 3], ids=["grpo", "dpo"])
def test_each_completion_is_recorded_once_per_principle_with_global_sample_indices(runs, n):
    from loop.ledger import Ledger

    ledger = Ledger(runs["ws"] / "runs", "main")
    records = ledger.critiques(n)
    principles = {r["principle"] for r in records}
    keys = [(r["step"], r["group"], r["sample"], r["principle"]) for r in records]
    assert len(keys) == len(set(keys)), "a critique was written twice"
    assert len(records) == PROMPTS * GENERATIONS * len(principles)  # both processes' completions, once
    samples: dict[tuple, set] = {}
    for step, group, sample, _ in keys:
        samples.setdefault((step, group), set()).add(sample)
    assert all(found == set(range(GENERATIONS)) for found in samples.values())
    assert sorted(group for _, group in samples) == list(range(PROMPTS))  # each prompt of the slice, once


def test_heldout_evaluation_is_complete_in_every_round(runs):
    from loop.ledger import Ledger

    ledger = Ledger(runs["ws"] / "runs", "main")
    heldout = json.loads((ledger.path / "run.json").read_text())["heldout"]
    for n in (0, 1, 2, 3):
        assert sorted(e["index"] for e in ledger.evaluations(n)) == heldout
        assert ledger.metrics(n)["eval"]["n_prompts"] == len(heldout)


def test_a_dpo_round_trains_every_process_on_the_pairs_rank_zero_made(runs):
    from loop.ledger import Ledger

    ledger = Ledger(runs["ws"] / "runs", "main")
    assert rounds_printed(runs["dpo"]) == [3]
    pairs = ledger.preferences(3)
    assert 0 < len(pairs) == ledger.metrics(3)["preferences"]["pairs"] <= PROMPTS
    assert len({p["group"] for p in pairs}) == len(pairs)  # one pair per prompt, written once
    # Two processes, one pair each per step: the steps are half the pairs (rounded up), as DDP splits them.
    assert len(ledger.metrics(3)["train"]) == -(-len(pairs) // 2)
