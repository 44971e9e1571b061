"""The gate (loop/measure/gate.py): a round worse than the best accepted round on the gate set is
recorded as rejected, the next round starts from the best accepted adapter, and the best round is never a
rejected one."""

from __future__ import annotations

import json
from pathlib import Path

from tests.scripted_judge import ScriptedJudge
from tests.test_round import plan_for

from loop.measure import gate as gate_module
from loop.measure.gate import decide
from loop.training.round import run_rounds


def records(family: str, passes: list[bool]) -> list[dict]:
    return [{"family": family, "prompt": f"{family} {i}", "pass": p} for i, p in enumerate(passes)]


def test_a_family_fallen_beyond_the_margin_is_rejected():
    best = records("benign", [True] * 10) + records("harmful", [True] * 5 + [False] * 5)
    worse = records("benign", [True] * 7 + [False] * 3) + records("harmful", [True] * 5 + [False] * 5)
    decision = decide(worse, best, margin=0.1)
    assert not decision["accepted"] and "benign -0.30" in decision["why"]
    assert decide(best, best, margin=0.1)["accepted"]


def test_a_small_dip_within_the_margin_is_accepted():
    best = records("benign", [True] * 20)
    dip = records("benign", [True] * 19 + [False])
    assert decide(dip, best, margin=0.1)["accepted"]


def write_gate(workspace: Path) -> None:
    folder = workspace / "prompts" / "gate"
    folder.mkdir(parents=True, exist_ok=True)
    header = {"family": "benign", "criterion": "refusal", "about": "Helps with a harmless request."}
    rows = [{"prompt": f"Gate question number {word}?", "expect": "comply"} for word in ("one", "two", "three", "four")]
    (folder / "benign.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [header, *rows]))


def test_a_rejected_round_is_recorded_and_the_next_starts_from_the_best_accepted(workspace, tiny_model_dir,
                                                                                 monkeypatch):
    write_gate(workspace)
    scripted = {0: [True, False, False, False], 1: [True, True, True, True], 2: [False] * 4, 3: [True] * 4}
    answered: list[int] = []

    def scripted_gate(ctx, model):
        answered.append(ctx.number)
        return records("benign", scripted[ctx.number])

    monkeypatch.setattr(gate_module, "answer_gate", lambda ctx, model, cache: scripted_gate(ctx, model))
    plan = plan_for(workspace, tiny_model_dir)
    assert plan.gate is not None
    run_rounds(plan, 3, make_judge=ScriptedJudge)
    assert answered == [0, 1, 2, 3]
    info = {n: json.loads((plan.ledger.complete_dir(n) / "round.json").read_text()) for n in range(4)}
    gates = {n: info[n]["summary"]["gate"] for n in range(4)}
    assert gates[1]["accepted"] and gates[1]["against_round"] == 0
    assert not gates[2]["accepted"] and gates[2]["against_round"] == 1 and "benign" in gates[2]["why"]
    assert any("rejected by the gate" in w for w in info[2]["summary"]["warnings"])
    assert info[3]["starts_from"] == "round 1 adapter"  # not round 2, which the gate rejected
    assert plan.ledger.best_round() == 3  # as good as round 1 and later; never the rejected round 2


def test_without_a_gate_set_rounds_go_on_from_the_round_before(workspace, tiny_model_dir):
    plan = plan_for(workspace, tiny_model_dir, probes={"gate_dir": ""})
    assert plan.gate is None
    run_rounds(plan, 2, make_judge=ScriptedJudge)
    info = json.loads((plan.ledger.complete_dir(2) / "round.json").read_text())
    assert info["starts_from"] == "round 1 adapter" and "gate" not in info["summary"]
