"""Round 0 on a tiny model with a scripted judge: the starting model measured, nothing trained."""

from __future__ import annotations

import json

import pytest
from tests.scripted_judge import ScriptedJudge
from tests.test_round import plan_for, read_lines

from loop.ledger import Ledger
from loop.training.round import run_rounds


@pytest.fixture(scope="module")
def round_zero(tmp_path_factory, tiny_model_dir):
    from loop.workspace import init_workspace

    root = init_workspace(tmp_path_factory.mktemp("baseline") / "ws").root
    return root, run_rounds(plan_for(root, tiny_model_dir), 0, make_judge=ScriptedJudge)


def test_rounds_zero_runs_only_the_baseline(round_zero):
    _, summaries = round_zero
    assert [(s["round"], s["kind"]) for s in summaries] == [(0, "baseline")]


def test_round_zero_has_no_adapter_and_no_training_records(round_zero):
    folder = round_zero[0] / "runs/main/round-000"
    assert (folder / "eval.jsonl").is_file() and (folder / "metrics.json").is_file()
    assert not (folder / "adapter").exists() and not (folder / "critiques.jsonl").exists()
    assert json.loads((folder / "metrics.json").read_text())["train"] == []


def test_round_zero_records_its_kind_in_round_json_and_the_index(round_zero):
    root = round_zero[0]
    assert json.loads((root / "runs/main/round-000/round.json").read_text())["kind"] == "baseline"
    [entry] = Ledger(root / "runs", "main").index()["rounds"]
    assert (entry["round"], entry["kind"], entry["status"]) == (0, "baseline", "complete")


def test_in_round_zero_the_judge_is_the_anchor(round_zero):
    records = read_lines(round_zero[0] / "runs/main/round-000/eval.jsonl")
    assert records and all(r["scores"] == r["anchor_scores"] for r in records)


def test_round_zero_has_no_previous_round_to_compare_with(round_zero):
    movement = json.loads((round_zero[0] / "runs/main/round-000/metrics.json").read_text())["movement"]
    assert movement["changed"] is None and "drift_base" not in movement


def test_a_later_run_does_not_redo_round_zero(round_zero, tiny_model_dir):
    root = round_zero[0]
    before = (root / "runs/main/round-000/eval.jsonl").read_text()
    summaries = run_rounds(plan_for(root, tiny_model_dir), 0, make_judge=ScriptedJudge)
    assert summaries == [] and (root / "runs/main/round-000/eval.jsonl").read_text() == before


def test_round_zero_answers_the_probes_and_records_their_rates(round_zero):
    folder = round_zero[0] / "runs/main/round-000"
    records = read_lines(folder / "probes.jsonl")
    families = {r["family"] for r in records}
    assert families == {"arithmetic", "benign", "format", "harmful", "unknowable"}
    assert all(sum(r["family"] == f for r in records) == 2 for f in families)  # [probes] per_round
    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["probes"]) == families and metrics["probe_changes"] == {}
    assert all(0.0 <= v["low"] <= v["rate"] <= v["high"] <= 1.0 and v["n"] == 2 for v in metrics["probes"].values())


def test_each_round_snapshots_and_hashes_the_probes_it_used(round_zero):
    root = round_zero[0]
    folder = root / "runs/main/round-000"
    assert (folder / "probes" / "harmful.jsonl").read_text() == (root / "prompts/probes/harmful.jsonl").read_text()
    assert len(json.loads((folder / "round.json").read_text())["probes"]["sha256"]) == 64
