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
    # Round 0 measures the base model, round 1 is the warm start, round 2 the first self-rewarding round.
    code, out, err = run_cli("run", "--rounds", "2", "--prompts-per-round", "2", "--num-generations", "2",
                             "--max-completion-length", "24", "--json")
    assert code == 0, err
    summaries = [json.loads(line) for line in out.splitlines()]
    assert [(s["round"], s["kind"], s["status"]) for s in summaries] == [
        (0, "baseline", "complete"), (1, "warm-start", "complete"), (2, "grpo", "complete")]

    folder = workspace / "runs" / "main" / "round-002"
    records = [json.loads(line) for line in (folder / "critiques.jsonl").read_text().splitlines()]
    judged = [r for r in records if r["kind"] == "judge"]
    # Rules first: the judge reads a training answer only where its judged score can move a value (with 2
    # answers a prompt, maybe none); every other answer of a judged principle is recorded as not judged.
    unjudged = [r for r in records if r["kind"] == "unjudged"]
    assert judged or unjudged, "the judged principles recorded the training completions"
    assert all(r["critique"].startswith("not judged") and r["score"] is None for r in unjudged)
    # A real model answers and the judge reads a verdict for nearly everything it is shown (the held-out
    # answers below, always); a principle whose template needs a column the prompt's row lacks (faithful's
    # reference answer) is not judged there: None.
    shown = [r for r in judged if not r["critique"].startswith("not judged")]
    assert sum(r["score"] is not None for r in shown) >= 0.9 * len(shown)
    assert all(0.0 <= r["score"] <= 1.0 for r in judged if r["score"] is not None)
    assert any(r["completion"].strip() for r in records)
    # The anchor scores the held-out answers, not the training completions ([judge] anchor_on_training).
    assert all(r["anchor_score"] is None for r in judged)
    evals = [json.loads(line) for line in (folder / "eval.jsonl").read_text().splitlines()]
    assert evals and all(set(e["anchor_scores"]) == set(e["scores"]) for e in evals)
    # In the warm start the round's judge (the round start: the base) is the anchor: one set of scores.
    warm = [json.loads(line) for line in (workspace / "runs/main/round-001/eval.jsonl").read_text().splitlines()]
    assert all(e["scores"] == e["anchor_scores"] for e in warm)

    metrics = json.loads((folder / "metrics.json").read_text())
    assert set(metrics["eval"]["judge_scores"]) == {"faithful", "harmless", "helpful", "honest", "polite"}
    assert all(v is not None for v in metrics["eval"]["judge_scores"].values())

    code, out, _ = run_cli("rounds", "--json")
    assert code == 0 and json.loads(out)[0]["status"] == "complete"
    assert attempts == []
