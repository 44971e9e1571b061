"""`loop bench` prints what it measured for every target (the timings themselves are never asserted:
a benchmark is read by a person, with the machine next to it). The measurements are stubbed here;
what is tested is that each target's result reaches the terminal and --json alike."""

from __future__ import annotations

import json

import pytest

from tests.helpers import run_cli
from loop.cli import bench_cmds

MACHINE = {"platform": "Linux", "processor": "x86_64", "cpu_count": 2, "torch": "2.13.0+cpu", "torch_threads": 2,
           "device": "cpu"}
ROUND = {"target": "round", "machine": MACHINE, "model": "embedded",
         "settings": {"prompts_per_round": 6, "heldout_size": 8, "num_generations": 4, "max_completion_length": 48,
                      "judge_mode": "score"},
         "round_seconds": 412.3, "first_model_load_seconds": 1.2, "train_steps": 6, "seconds_per_step": 41.5,
         "judge_seconds": 250.1, "judge_share_of_round": 0.607, "judge_calls": 42, "peak_rss_mb": 2300, "reward": 0.4}
JUDGE = {"target": "judge", "model": "embedded", "principle": "harmless", "batch_size": 16, "machine": MACHINE,
         "results": [{"mode": "score", "prefix_cache": True, "pairs": 32, "seconds": 26.8, "pairs_per_second": 1.19}]}


@pytest.fixture
def stubbed(monkeypatch):
    monkeypatch.setitem(bench_cmds.TARGETS, "round", lambda args: ROUND)
    monkeypatch.setitem(bench_cmds.TARGETS, "judge", lambda args: JUDGE)


def test_round_result_is_printed_as_a_table(stubbed, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    code, out, err = run_cli("bench", "round")
    assert code == 0 and err == ""
    assert "6 prompts × 4 completions × 48 tokens" in out
    assert "412.3 s" in out and "6 (41.5 s each)" in out and "61% of the round" in out and "2.2 GB" in out
    assert "x86_64 · 2 CPUs · torch 2.13.0+cpu" in out


@pytest.mark.parametrize("target, result", [("round", ROUND), ("judge", JUDGE)])
def test_json_is_the_result_itself(stubbed, target, result):
    code, out, _ = run_cli("bench", target, "--json")
    assert code == 0 and json.loads(out) == result


def test_judge_result_is_printed_as_a_table(stubbed, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run_cli("bench", "judge")
    assert code == 0 and "principle harmless" in out and "1.19" in out
