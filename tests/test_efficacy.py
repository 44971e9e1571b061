"""GRPO against DPO, head to head: runs of both methods from the same start (round 0 copied, literally),
and the report read from the runs' ledgers, side by side per method and seed."""

from __future__ import annotations

import json

import pytest
from tests.fixture_efficacy import write_efficacy_runs
from tests.helpers import run_cli, tree_digest
from tests.scripted_judge import ScriptedJudge
from tests.test_round import SMALL

from loop.bench.head_to_head import run_head_to_head, share_start
from loop.training.round import plan_run
from loop.views.efficacy_view import run_report, show_efficacy
from loop.workspace import Workspace


def overrides(tiny_model_dir) -> dict:
    sections = {k: dict(v) for k, v in SMALL.items()}
    sections["model"] = {"name": str(tiny_model_dir)}
    sections["train"]["dpo_margin"] = 0.0
    return sections


@pytest.fixture(scope="module")
def head_to_head(tmp_path_factory, tiny_model_dir):
    """Both methods, one seed, one training round each, on the tiny model."""
    from loop.workspace import init_workspace

    root = init_workspace(tmp_path_factory.mktemp("h2h") / "ws").root
    told = []
    names = run_head_to_head(Workspace(root), ["grpo", "dpo"], [0], 1, overrides(tiny_model_dir),
                             make_judge=ScriptedJudge, on_run=lambda plan, copied: told.append(copied))
    return root, names, told


def test_each_method_and_seed_is_a_named_run(head_to_head):
    root, names, _ = head_to_head
    assert names == ["efficacy-grpo-s0", "efficacy-dpo-s0"]
    kinds = {name: json.loads((root / "runs" / name / "round-001" / "round.json").read_text())["kind"]
             for name in names}
    assert kinds == {"efficacy-grpo-s0": "grpo", "efficacy-dpo-s0": "dpo"}


def test_the_second_method_starts_from_the_first_ones_round_0_literally(head_to_head):
    root, _, told = head_to_head
    grpo, dpo = root / "runs" / "efficacy-grpo-s0", root / "runs" / "efficacy-dpo-s0"
    assert told == [[], [0]]
    ours, theirs = tree_digest(dpo / "round-000"), tree_digest(grpo / "round-000")
    assert {k: v for k, v in ours.items() if k != "round.json"} == {k: v for k, v in theirs.items()
                                                                    if k != "round.json"}
    info = json.loads((dpo / "round-000" / "round.json").read_text())
    assert info["copied_from"] == {"run": "efficacy-grpo-s0", "round": 0} and info["run"] == "efficacy-dpo-s0"


def test_both_methods_train_on_the_same_prompt_slice(head_to_head):
    root = head_to_head[0]
    slices = [json.loads((root / "runs" / name / "round-001" / "round.json").read_text())["prompt_indices"]
              for name in ("efficacy-grpo-s0", "efficacy-dpo-s0")]
    assert slices[0] == slices[1]


def test_a_start_shaped_by_other_settings_is_not_copied(workspace, tiny_model_dir):
    from loop.training.round import run_rounds

    first = plan_run(Workspace(workspace), overrides(tiny_model_dir), "a")
    run_rounds(first, 0, make_judge=ScriptedJudge)
    other = overrides(tiny_model_dir)
    other["judge"] = {"calibrate": False}  # shapes round 0's held-out scores
    assert share_start(first, plan_run(Workspace(workspace), other, "b")) == []
    assert share_start(first, plan_run(Workspace(workspace), overrides(tiny_model_dir), "c")) == [0]


def test_the_report_reads_probe_changes_drift_and_time_of_the_last_round(workspace):
    ledger, method, seed = write_efficacy_runs(workspace / "runs")[3]  # dpo, seed 1
    row = run_report(ledger, method, seed)
    assert row["probe_changes"]["arithmetic"] == {"delta": -0.05, "low": -0.12, "high": 0.02, "n": 60}
    assert row["drift_base"] == pytest.approx(0.031)
    assert (row["rounds"], row["train_seconds"], row["seconds"]) == (3, 80.0, 310.0)


def test_the_report_shows_each_method_and_seed_side_by_side(workspace, console):
    show_efficacy(write_efficacy_runs(workspace / "runs"), console, rounds=3)
    text = console.file.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    header = next(line for line in text.splitlines() if "grpo s0" in line)
    assert header.index("grpo s0") < header.index("grpo s1") < header.index("dpo s0") < header.index("dpo s1")
    lines = text.splitlines()
    arithmetic = next(i for i, line in enumerate(lines) if line.startswith("arithmetic"))
    assert lines[arithmetic].split()[1:] == ["+0.10", "+0.10", "-0.05", "-0.05"]
    assert lines[arithmetic + 1].startswith("n=60") and "[+0.02, +0.18]" in lines[arithmetic + 1]
    kl = next(line for line in lines if line.startswith("KL to base"))
    assert kl.split()[-4:] == ["0.0100", "0.0110", "0.0300", "0.0310"]
    method_time = next(line for line in lines if line.startswith("time, method"))
    assert method_time.split()[-4:] == ["3m20s", "3m20s", "1m20s", "1m20s"]
    assert next(line for line in lines if line.startswith("training rounds")).split()[-4:] == ["3/3"] * 4


def test_a_run_without_probe_changes_shows_a_dash(workspace, console):
    from tests.fixture_efficacy import write_round

    from loop.ledger import Ledger

    ledger = Ledger(workspace / "runs", "efficacy-grpo-s0")
    write_round(ledger, 0, "baseline")
    show_efficacy([(ledger, "grpo", 0), (Ledger(workspace / "runs", "efficacy-dpo-s0"), "dpo", 0)], console)
    text = console.file.getvalue()
    assert next(line for line in text.splitlines() if line.startswith("probes")).split()[1:] == ["–", "–"]
    assert "efficacy-dpo-s0: not started" in text


def test_bench_efficacy_report_prints_the_table_again_without_training(workspace):
    write_efficacy_runs(workspace / "runs")
    code, out, _ = run_cli("bench", "efficacy", "--report", "--rounds", "3", "--json")
    assert code == 0
    report = json.loads(out)
    assert [(r["method"], r["seed"]) for r in report["runs"]] == [("grpo", 0), ("grpo", 1), ("dpo", 0), ("dpo", 1)]
    assert report["runs"][0]["probe_changes"]["arithmetic"]["delta"] == 0.10
