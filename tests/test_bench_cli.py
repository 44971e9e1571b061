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
         "judge_seconds": 250.1, "judge_share_of_round": 0.607, "judge_calls": 42, "peak_rss_mb": 2300, "reward": 0.4,
         "phases": {"generation": 120.0, "rewards": 150.5, "training": 40.0, "probes": 30.2, "other": 2.0}}
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
    # Where the time went, largest first, each with its share of the round.
    lines = [line for line in out.splitlines() if line.startswith("│   ")]
    assert [line.split()[1] for line in lines] == ["rewards", "generation", "training", "probes", "other"]
    assert "150.5 s (37%)" in lines[0]


@pytest.mark.parametrize("target, result", [("round", ROUND), ("judge", JUDGE)])
def test_json_is_the_result_itself(stubbed, target, result):
    code, out, _ = run_cli("bench", target, "--json")
    assert code == 0 and json.loads(out) == result


def test_judge_result_is_printed_as_a_table(stubbed, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    code, out, _ = run_cli("bench", "judge")
    assert code == 0 and "principle harmless" in out and "1.19" in out


STEP = {"target": "step", "machine": MACHINE, "model": "embedded",
        "settings": {"num_generations": 4, "max_completion_length": 48, "judge_mode": "score", "constitution": "1.2.0",
                     "judged_principles": ["harmless", "helpful", "honest", "polite"], "workspace": "shipped defaults",
                     "repeats": 3, "warmup": 1, "weights": "declared",
                     "effective_weights": {"harmless": 1.0, "helpful": 1.0, "honest": 1.0, "polite": 0.5}},
        "plain_step_s": 10.5, "step_s": 21.0, "ratio": 2.0, "judge_s": 9.2, "judge_share_of_round": 0.438,
        "peak_rss_mb": 1843, "plain_peak_rss_mb": 1800, "inference_rss_mb": 1229, "memory_ratio": 1.5,
        "plain_steps_s": [10.1, 10.5, 11.0], "steps_s": [20.0, 21.0, 23.5],
        "plain_step_cpu_s": 10.2, "step_cpu_s": 19.9, "cpu_ratio": 1.95, "judge_cpu_s": 9.0}


def test_step_result_is_printed_as_a_table(monkeypatch):
    monkeypatch.setitem(bench_cmds.TARGETS, "step", lambda args: STEP)
    monkeypatch.setenv("COLUMNS", "160")
    code, out, err = run_cli("bench", "step")
    assert code == 0 and err == ""
    assert "4 completions × 48 tokens; mean of 3 steps after 1 warm-up" in out
    assert "score mode · constitution 1.2.0 (shipped defaults) · declared weights" in out
    assert "judged principles" in out and "harmless, helpful, honest, polite" in out
    assert "10.50 s (10.1, 10.5, 11.0)" in out and "21.00 s (20.0, 21.0, 23.5)" in out and "2.00×" in out
    assert "9.20 s (44% of the self-judged step)" in out
    assert "1.80 GB (1.50× inference only)" in out and "1.20 GB" in out
    assert "10.20 s, 19.90 s, 1.95×, 9.00 s" in out


def test_step_json_is_the_result_itself(monkeypatch):
    monkeypatch.setitem(bench_cmds.TARGETS, "step", lambda args: STEP)
    code, out, _ = run_cli("bench", "step", "--json")
    assert code == 0 and json.loads(out) == STEP


def test_step_refuses_no_repeats():
    code, out, err = run_cli("bench", "step", "--repeats", "0")
    assert code == 2 and "--repeats must be at least 1" in err and err.count("\n") == 1 and out == ""


def within_rounding(ratio: float, numerator: float, denominator: float, half_step: float = 0.005) -> bool:
    """The ratio is computed from unrounded seconds, which the result shows rounded to 2 decimals: it
    must lie within what the rounded figures allow (the tiny model's steps take hundredths of a second)."""
    low = (numerator - half_step) / (denominator + half_step)
    high = (numerator + half_step) / max(denominator - half_step, 1e-9)
    return low - 0.005 <= ratio <= high + 0.005


def test_step_times_both_steps_and_measures_inference_in_its_own_process(workspace, tiny_model_dir):
    # The tiny model, three timed steps of each kind: what is checked is the plumbing, never the timings.
    # The workspace trains four passes over each generation: the benchmark still times steps that sample
    # and judge, one a prompt (later passes only train, and would hide the judge); and a
    # round's steps average several prompts' groups, but both trainers' timed steps are one group each.
    toml = workspace / "loop.toml"
    toml.write_text(toml.read_text().replace("[grpo]\n", "[grpo]\nnum_iterations = 4\n", 1))
    code, out, err = run_cli("bench", "step", "--json", "--model", str(tiny_model_dir), "--repeats", "3",
                             "--warmup", "0", "--num-generations", "2", "--max-completion-length", "4")
    assert code == 0, err
    result = json.loads(out)
    assert result["settings"]["workspace"] == str(workspace.resolve())
    assert result["settings"]["judged_principles"] == ["faithful", "harmless", "helpful", "honest", "polite"]
    assert len(result["plain_steps_s"]) == len(result["steps_s"]) == 3
    # The mean step, not the median: the judge may read only some steps' answers (rules first).
    assert abs(result["step_s"] - sum(result["steps_s"]) / 3) <= 0.01
    assert within_rounding(result["ratio"], result["step_s"], result["plain_step_s"])
    assert within_rounding(result["cpu_ratio"], result["step_cpu_s"], result["plain_step_cpu_s"])
    assert 0 < result["judge_share_of_round"] <= 1
    assert result["inference_rss_mb"] > 0 and result["peak_rss_mb"] > 0


def test_step_at_measured_weights_judges_only_what_the_pairs_earn(workspace, tiny_model_dir):
    # The judge reads the labeled pairs first, as a round does; the step judges the principles whose
    # measured weight is above 0 and nothing else (the tiny model reads them near chance).
    code, out, err = run_cli("bench", "step", "--json", "--model", str(tiny_model_dir), "--repeats", "1",
                             "--warmup", "0", "--num-generations", "2", "--max-completion-length", "4",
                             "--weights", "measured")
    assert code == 0, err
    settings = json.loads(out)["settings"]
    assert settings["weights"] == "measured"
    judged = [p for p in ("harmless", "helpful", "honest", "polite") if settings["effective_weights"][p] > 0]
    assert settings["judged_principles"] == judged
    declared = {"harmless": 1.0, "helpful": 1.0, "honest": 1.0, "polite": 0.5}
    assert all(settings["effective_weights"][p] <= w for p, w in declared.items())


def test_round_times_a_self_rewarding_round_after_round_zero(tiny_model_dir):
    # The tiny model, the smallest round: what is checked is which round is timed, never the timings.
    code, out, err = run_cli("bench", "round", "--json", "--model", str(tiny_model_dir), "--prompts-per-round", "1",
                             "--num-generations", "2", "--max-completion-length", "4")
    assert code == 0, err
    result = json.loads(out)
    assert result["round_kind"] == "grpo" and result["train_steps"] >= 1
    assert result["judge_calls"] > 0 and 0 < result["judge_share_of_round"] <= 1
