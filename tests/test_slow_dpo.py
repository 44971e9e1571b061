"""One real DPO round on the embedded SmolLM2-135M model, small: 2 prompts x 4 samples of 24 tokens."""

from __future__ import annotations

import json

import pytest
from tests.helpers import run_cli

pytestmark = pytest.mark.slow


def test_one_real_dpo_round_on_the_embedded_model(workspace):
    from safetensors.torch import load_file

    toml = workspace / "loop.toml"
    # Small, to finish in minutes on a CPU: no warm start, two held-out prompts, two probes per family.
    text = toml.read_text().replace("warm_start = true", "warm_start = false").replace("heldout_size = 6",
                                                                                       "heldout_size = 2")
    text = text.replace('gate_dir = "prompts/gate"', 'gate_dir = ""')  # the gate is tested on its own
    toml.write_text(text.replace("dpo_margin = 0.1", "dpo_margin = 0.0").replace("per_round = 20", "per_round = 2"))
    written = toml.read_text()
    assert all(s in written for s in ("warm_start = false", "heldout_size = 2", "dpo_margin = 0.0",
                                      "per_round = 2\n", 'gate_dir = ""'))
    code, out, err = run_cli("run", "--method", "dpo", "--prompts-per-round", "2", "--num-generations", "4",
                             "--max-completion-length", "24", "--json")
    assert code == 0, err
    assert [(s["round"], s["kind"]) for s in map(json.loads, out.splitlines())] == [(0, "baseline"), (1, "dpo")]

    folder = workspace / "runs" / "main" / "round-001"
    counts = json.loads((folder / "metrics.json").read_text())["preferences"]
    assert counts["prompts"] == 2 and counts["pairs"] >= 1  # a real judge rarely scores four answers alike
    pairs = [json.loads(line) for line in (folder / "preferences.jsonl").read_text().splitlines()]
    for pair in pairs:
        # Chosen by the value the round ranks by (rules first: the rules, then the judges' tie-break).
        assert pair["chosen_value"] > pair["rejected_value"] and pair["chosen"].strip()
        assert all(0.0 <= v <= 1.0 for v in pair["chosen_scores"].values() if v is not None)
    weights = load_file(folder / "adapter" / "adapter_model.safetensors")
    assert any(t.abs().sum() > 0 for name, t in weights.items() if "lora_B" in name)  # DPO moved the policy
