"""`loop run` as a person runs it: a real process, killed with SIGKILL mid-round, run again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.fixture_ledger import copy_fixture_ledger
from tests.helpers import run_cli, start_round_two, tree_digest

LOOP = [sys.executable, "-m", "loop"]


def run_args(tiny_model_dir: Path, rounds: int) -> list[str]:
    return ["run", "--rounds", str(rounds), "--model", str(tiny_model_dir), "--prompts-per-round", "6",
            "--num-generations", "2", "--max-completion-length", "8", "--json"]


def test_sigkill_during_round_two_then_rerun_finishes_with_round_one_untouched(workspace, tiny_model_dir):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    first = subprocess.run(LOOP + run_args(tiny_model_dir, 1), cwd=workspace, env=env, capture_output=True, text=True,
                           timeout=600)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout.splitlines()[-1])["round"] == 1
    round_one = workspace / "runs" / "main" / "round-001"
    before = tree_digest(round_one)

    # Start round 2 and kill it, without warning, once it has written training records.
    proc = start_round_two(LOOP + run_args(tiny_model_dir, 2), workspace, env)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (workspace / "runs" / "main" / "round-002").exists()

    # The lock died with the process: the same command runs again and finishes round 2.
    again = subprocess.run(LOOP + run_args(tiny_model_dir, 2), cwd=workspace, env=env, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert [json.loads(line)["round"] for line in again.stdout.splitlines()] == [2]
    assert tree_digest(round_one) == before
    assert not (workspace / "runs" / "main" / "round-002.partial").exists()

    code, out, _ = run_cli("rounds", "--json")
    assert code == 0
    assert [(r["round"], r["status"]) for r in json.loads(out)] == [(0, "complete"), (1, "complete"),
                                                                    (2, "complete")]


def test_run_flags_are_validated_before_any_model_loads(workspace):
    code, out, err = run_cli("run", "--num-generations", "1")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--num-generations" in err


def test_run_outside_a_workspace_is_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("run")
    assert code == 2 and "loop init" in err and len(err.strip().splitlines()) == 1


def test_export_before_any_run_says_how_to_start_one(workspace, tmp_path):
    code, _, err = run_cli("export", "--round", "3", str(tmp_path / "out"))
    assert code == 2 and "no run 'main' yet; start one with `loop run`" in err


def test_export_of_a_round_that_does_not_exist_lists_the_rounds(workspace, tmp_path):
    copy_fixture_ledger(workspace / "runs")
    code, out, err = run_cli("export", "--round", "9", str(tmp_path / "out"))
    assert (code, out) == (2, "") and len(err.splitlines()) == 1
    assert "round 9 of run 'main' does not exist; rounds: 1, 2, 3 (complete), 4 (running)" in err


def test_export_of_a_round_that_is_not_complete_says_so(workspace, tmp_path):
    copy_fixture_ledger(workspace / "runs")
    code, _, err = run_cli("export", "--round", "4", str(tmp_path / "out"))
    assert code == 2 and "round 4 of run 'main' is not complete (running); complete rounds: 1, 2, 3" in err
