"""A real round on the embedded SmolLM2-135M model: the main job, end to end, small."""

from __future__ import annotations

import json

import pytest
from tests.helpers import run_cli

pytestmark = pytest.mark.slow


def test_one_real_round_on_the_embedded_model(workspace, monkeypatch):
    import socket

    # The embedded default must never reach a model hub (nor telemetry): record any attempt.
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network is cut off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    code, out, err = run_cli("run", "--rounds", "1", "--prompts-per-round", "2", "--num-generations", "2",
                             "--max-completion-length", "24", "--json")
    assert code == 0, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["round"] == 1 and summary["status"] == "complete"

    folder = workspace / "runs" / "main" / "round-001"
    records = [json.loads(line) for line in (folder / "critiques.jsonl").read_text().splitlines()]
    judged = [r for r in records if r["kind"] == "judge"]
    assert judged, "the judge scored training completions"
    # A real model answers and the judge reads a verdict for nearly everything.
    assert sum(r["score"] is not None for r in judged) >= 0.9 * len(judged)
    assert all(0.0 <= r["score"] <= 1.0 for r in judged if r["score"] is not None)
    assert any(r["completion"].strip() for r in records)
    # In round 1 the judge (the round-start adapter) and the anchor (the base) are the same model; the
    # anchor scores the held-out answers (training completions only with [judge] anchor_on_training).
    assert all(r["anchor_score"] is None for r in judged)
    evals = [json.loads(line) for line in (folder / "eval.jsonl").read_text().splitlines()]
    pairs = [(e["scores"][p], e["anchor_scores"][p]) for e in evals for p in e["scores"]]
    assert pairs and all(s == pytest.approx(a, abs=1e-4) for s, a in pairs if None not in (s, a))

    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["eval"]["judge_scores"]) == {"harmless", "helpful", "honest", "polite"}
    assert all(v is not None for v in metrics["eval"]["judge_scores"].values())

    code, out, _ = run_cli("rounds", "--json")
    assert code == 0 and json.loads(out)[0]["status"] == "complete"
    assert attempts == []
