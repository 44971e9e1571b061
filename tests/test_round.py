"""Rounds on a tiny model with a scripted judge: training changes the policy, the ledger is complete,
and a crashed run resumes without touching completed rounds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.helpers import tree_digest
from tests.scripted_judge import ScriptedJudge

from loop.errors import LoopError
from loop.ledger import CRITIQUE_KEYS, EVAL_KEYS, Ledger
from loop.training.rewards import JudgeReward
from loop.training.round import plan_run, run_rounds
from loop.workspace import Workspace

# Two prompts x two completions of 8 tokens: the smallest round that still forms GRPO groups.
# The warm start is tested on its own (tests/test_warm_start.py): here round 1 is a GRPO round.
# The scripted judge scores by length, which reads the labeled pairs at about chance: weighted by its
# reliability it would be zeroed, and training would have nothing to learn (tests/test_trust.py).
SMALL = {"run": {"prompts_per_round": 2, "heldout_size": 3},
         "grpo": {"num_generations": 2, "max_completion_length": 8}, "train": {"warm_start": False},
         "probes": {"per_round": 2, "max_new_tokens": 8}, "judge": {"reliability_weights": False}}


def plan_for(workspace: Path, tiny_model_dir: Path, **extra):
    overrides = {k: dict(v) for k, v in SMALL.items()}
    overrides["model"] = {"name": str(tiny_model_dir)}
    for section, values in extra.items():
        overrides.setdefault(section, {}).update(values)
    return plan_run(Workspace(workspace), overrides)


@pytest.fixture(scope="module")
def one_round(tmp_path_factory, tiny_model_dir):
    """(workspace, plan, summaries) of one round on the tiny model, run once for the tests that read it."""
    from loop.workspace import init_workspace

    root = init_workspace(tmp_path_factory.mktemp("round") / "ws").root
    plan = plan_for(root, tiny_model_dir)
    return root, plan, run_rounds(plan, 1, make_judge=ScriptedJudge)


def round_one(one_round) -> Path:
    return one_round[0] / "runs" / "main" / "round-001"


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_rounds_returns_the_summary_of_each_round_it_ran(one_round):
    _, _, summaries = one_round
    assert [s["round"] for s in summaries] == [0, 1]  # round 0, the baseline, comes first


def test_a_complete_round_has_every_file_and_no_partial_folder(one_round):
    workspace, folder = one_round[0], round_one(one_round)
    for name in ("round.json", "config.json", "critiques.jsonl", "eval.jsonl", "metrics.json", "summary.txt",
                 "adapter/adapter_model.safetensors", "constitution/constitution.toml", "prompts/judge.jinja"):
        assert (folder / name).is_file(), name
    assert not (workspace / "runs" / "main" / "round-001.partial").exists()


def test_training_moves_the_policy(one_round):
    from safetensors.torch import load_file

    # LoRA B starts at zero: any non-zero B means the optimizer moved the policy.
    weights = load_file(round_one(one_round) / "adapter" / "adapter_model.safetensors")
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)


def test_only_the_adapter_is_stored(one_round):
    from safetensors.torch import load_file

    # Only the adapter is stored: far smaller than the model.
    weights = load_file(round_one(one_round) / "adapter" / "adapter_model.safetensors")
    assert sum(t.numel() for t in weights.values()) < 32096


def test_round_json_names_the_constitution_and_templates_it_used(one_round):
    workspace, plan, _ = one_round
    folder = round_one(one_round)
    info = json.loads((folder / "round.json").read_text())
    assert info["status"] == "complete"
    assert info["constitution"]["sha256"] == plan.constitution.sha256
    assert set(info["templates"]) == {"system", "judge", "critique", "verdict", "lift", "revise", "judge_reference"}
    assert (folder / "prompts" / "judge.jinja").read_text() == (workspace / "prompts" / "judge.jinja").read_text()


def test_critiques_hold_one_record_per_completion_and_principle(one_round):
    _, plan, _ = one_round
    records = read_lines(round_one(one_round) / "critiques.jsonl")
    n_principles = len(plan.constitution.principles)
    assert len(records) == 2 * 2 * n_principles  # prompts x generations x principles
    for record in records:
        assert set(CRITIQUE_KEYS) <= set(record)
        assert isinstance(record["advantage"], float)


def test_rule_principles_are_rewarded_by_the_rule_and_the_rest_by_the_judge(one_round):
    records = read_lines(round_one(one_round) / "critiques.jsonl")
    kinds = lambda pid: {r["kind"] for r in records if r["principle"] == pid}  # noqa: E731
    assert kinds("concise") == {"rule"} and "judge" in kinds("helpful")
    assert kinds("helpful") <= {"judge", "unjudged"}
    # Rules first: an answer its rules decide is not judged, and its record says so.
    assert all(r["critique"] == JudgeReward.NOT_NEEDED and r["score"] is None
               for r in records if r["principle"] == "helpful" and r["kind"] == "unjudged")


def test_critiques_record_where_the_length_limit_cut_an_answer(one_round):
    records = read_lines(round_one(one_round) / "critiques.jsonl")
    # 8 tokens from a random tiny model almost never end on the stop token: cut at the limit, 8.
    assert {r["cut_tokens"] for r in records} <= {8, None} and any(r["cut_tokens"] == 8 for r in records)


def test_could_not_score_stays_none_in_the_critiques(one_round):
    records = read_lines(round_one(one_round) / "critiques.jsonl")
    # "could not score" stays None: the correct rule on prompts without an answer.
    assert any(r["principle"] == "correct" and r["reward"] is None for r in records) or \
        all(r["principle"] != "correct" for r in records)


def test_the_heldout_prompts_are_evaluated_and_never_trained_on(one_round):
    workspace = one_round[0]
    records = read_lines(round_one(one_round) / "critiques.jsonl")
    evals = read_lines(round_one(one_round) / "eval.jsonl")
    assert len(evals) == 3 and all(set(EVAL_KEYS) <= set(e) for e in evals)
    heldout = {row["prompt"] for row in read_lines(workspace / "runs/main/heldout.jsonl")}
    assert {r["prompt"] for r in records}.isdisjoint(heldout)  # never trained on held-out prompts


def test_the_anchor_judges_the_heldout_answers_and_not_the_training_completions(one_round):
    _, plan, _ = one_round
    judged = [p.id for p in plan.constitution.principles if not p.is_rule]
    records = read_lines(round_one(one_round) / "critiques.jsonl")
    assert all(r["anchor_score"] is None for r in records)
    evals = read_lines(round_one(one_round) / "eval.jsonl")
    assert all(set(e["anchor_scores"]) == set(judged) for e in evals)


def test_anchor_on_training_scores_every_training_completion_with_the_anchor_too(workspace, tiny_model_dir):
    plan = plan_for(workspace, tiny_model_dir, judge={"anchor_on_training": True})
    judge = ScriptedJudge()
    run_rounds(plan, 0, make_judge=lambda *args, **kwargs: judge)  # round 0: its judge is the anchor
    judge.views.clear()
    run_rounds(plan, 1, make_judge=lambda *args, **kwargs: judge)
    records = read_lines(workspace / "runs/main/round-001/critiques.jsonl")
    judged = [r for r in records if r["kind"] == "judge"]
    assert judged and all(r["anchor_score"] is not None for r in judged if r["completion"].strip())
    n_judged = len({r["principle"] for r in judged})
    # Each judged principle is scored in the judge view and the anchor view, per training batch and held out.
    # One step (it averages both prompts' groups) + the held-out set.
    assert judge.views.count("anchor") == judge.views.count("judge") == n_judged * 2


def test_metrics_and_the_run_index_record_the_round(one_round):
    workspace = one_round[0]
    metrics = json.loads((round_one(one_round) / "metrics.json").read_text())
    assert metrics["train"] and "rewards/principle_helpful/mean" in metrics["train"][0]
    assert set(metrics["eval"]["judge_scores"]) == {"faithful", "harmless", "helpful", "honest", "polite"}
    index = Ledger(workspace / "runs", "main").index()
    assert index["rounds"][0]["status"] == "complete" and "anchor_gap" in index["rounds"][0]["summary"]


def test_metrics_say_where_the_round_time_went(one_round):
    metrics = json.loads((round_one(one_round) / "metrics.json").read_text())
    phases = metrics["phases"]
    assert {"generation", "rewards", "training", "held-out", "probes", "reliability", "other"} <= set(phases)
    assert all(seconds >= 0 for seconds in phases.values())
    # The phases and what no phase counted add up to the round's own time (each rounded to 0.1 s).
    assert sum(phases.values()) == pytest.approx(metrics["summary"]["seconds"], abs=0.1 * len(phases) + 0.05)
    round_zero = json.loads((one_round[0] / "runs" / "main" / "round-000" / "metrics.json").read_text())
    assert "generation" not in round_zero["phases"] and "probes" in round_zero["phases"]


def test_critique_log_loads_with_datasets(workspace, tiny_model_dir):
    from datasets import load_dataset

    run_rounds(plan_for(workspace, tiny_model_dir), 1, make_judge=ScriptedJudge)
    path = workspace / "runs" / "main" / "round-001" / "critiques.jsonl"
    dataset = load_dataset("json", data_files=str(path), split="train")
    assert {"round", "step", "prompt", "completion", "principle", "critique", "score", "reward",
            "advantage"} <= set(dataset.column_names)


def test_crash_mid_round_resumes_and_keeps_completed_rounds(workspace, tiny_model_dir, monkeypatch):
    import loop.measure.evaluate

    plan = plan_for(workspace, tiny_model_dir)
    run_rounds(plan, 1, make_judge=ScriptedJudge)
    round_one = workspace / "runs" / "main" / "round-001"
    before = tree_digest(round_one)

    real = loop.measure.evaluate.evaluate_heldout

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash during round 2")

    monkeypatch.setattr(loop.measure.evaluate, "evaluate_heldout", crash)
    with pytest.raises(RuntimeError):
        run_rounds(plan_for(workspace, tiny_model_dir), 2, make_judge=ScriptedJudge)
    partial = workspace / "runs" / "main" / "round-002.partial"
    assert partial.is_dir() and (partial / "critiques.jsonl").exists()

    monkeypatch.setattr(loop.measure.evaluate, "evaluate_heldout", real)
    summaries = run_rounds(plan_for(workspace, tiny_model_dir), 2, make_judge=ScriptedJudge)
    assert [s["round"] for s in summaries] == [2]  # round 1 was not redone
    assert tree_digest(round_one) == before
    assert not partial.exists() and (workspace / "runs" / "main" / "round-002" / "adapter").is_dir()
    statuses = [(r["round"], r["status"]) for r in Ledger(workspace / "runs", "main").index()["rounds"]]
    assert statuses == [(0, "complete"), (1, "complete"), (2, "complete")]
    # Round 2 starts from round 1's adapter.
    info = json.loads((workspace / "runs/main/round-002/round.json").read_text())
    assert info["starts_from"] == "round 1 adapter"


def test_complete_rounds_are_not_rerun(workspace, tiny_model_dir):
    plan = plan_for(workspace, tiny_model_dir)
    run_rounds(plan, 1, make_judge=ScriptedJudge)
    assert run_rounds(plan_for(workspace, tiny_model_dir), 1, make_judge=ScriptedJudge) == []


def test_a_second_run_in_the_same_workspace_is_refused(workspace, tiny_model_dir):
    plan = plan_for(workspace, tiny_model_dir)
    with plan.ledger.lock():
        with pytest.raises(LoopError, match="in use by pid"):
            run_rounds(plan_for(workspace, tiny_model_dir), 1, make_judge=ScriptedJudge)


def test_a_changed_pool_is_refused_for_an_existing_run(workspace, tiny_model_dir):
    run_rounds(plan_for(workspace, tiny_model_dir), 1, make_judge=ScriptedJudge)
    pool = workspace / "prompts" / "pool.jsonl"
    pool.write_text(pool.read_text() + json.dumps({"prompt": "A new prompt?", "answer": None, "category": "x"}) + "\n")
    with pytest.raises(LoopError, match="prompt pool changed"):
        run_rounds(plan_for(workspace, tiny_model_dir), 2, make_judge=ScriptedJudge)


def test_heldout_size_must_leave_training_prompts(workspace, tiny_model_dir):
    with pytest.raises(LoopError, match="heldout_size"):
        plan_for(workspace, tiny_model_dir, run={"heldout_size": 10_000})


def test_grpo_settings_rejected_by_trl_are_one_line_errors(workspace, tiny_model_dir):
    # 3 completions per device step cannot hold whole groups of 2: TRL refuses; we name the file.
    with pytest.raises(LoopError, match=r"loop.toml.*\[grpo\]"):
        plan_for(workspace, tiny_model_dir, grpo={"per_device_train_batch_size": 3})


def test_settings_loop_decides_are_refused_from_flags_too(workspace, tiny_model_dir):
    with pytest.raises(LoopError, match=r"'sync_ref_model' is loop's to set"):
        plan_for(workspace, tiny_model_dir, grpo={"sync_ref_model": True})


def test_grpo_settings_the_trainer_rejects_are_one_line_errors(workspace, tiny_model_dir):
    # GRPOConfig accepts a router loss coefficient; the trainer, holding a model without a router, refuses it.
    plan = plan_for(workspace, tiny_model_dir, grpo={"router_aux_loss_coef": 0.1})
    with pytest.raises(LoopError) as info:
        run_rounds(plan, 1, make_judge=ScriptedJudge)
    message = str(info.value)
    assert message.startswith(str(workspace / "loop.toml")) or "loop.toml" in message.split(":")[0]
    assert "[grpo] settings rejected by TRL's GRPOTrainer" in message and "\n" not in message
    assert not (workspace / "runs" / "main" / "round-001").exists()  # no round claims to be complete


def test_stop_on_regression_ends_the_run_after_a_round_whose_probes_fell(tmp_path, tiny_model_dir, monkeypatch):
    import loop.measure.outside_view
    from loop.workspace import init_workspace

    fell = {"benign": {"delta": -0.5, "low": -0.8, "high": -0.2, "n": 10}}
    monkeypatch.setattr(loop.measure.outside_view, "probe_changes", lambda records, baseline: fell)
    root = init_workspace(tmp_path / "ws").root
    plan = plan_for(root, tiny_model_dir, train={"stop_on_regression": True})
    summaries = run_rounds(plan, 3, make_judge=ScriptedJudge)
    assert [s["round"] for s in summaries] == [0, 1] and summaries[-1]["probe_regressed"] == ["benign"]
    assert any(line.startswith("probes benign: pass rate fell") for line in summaries[-1]["warnings"])


def test_without_stop_on_regression_a_fallen_probe_is_a_warning_only(tmp_path, tiny_model_dir, monkeypatch):
    import loop.measure.outside_view
    from loop.workspace import init_workspace

    fell = {"benign": {"delta": -0.5, "low": -0.8, "high": -0.2, "n": 10}}
    monkeypatch.setattr(loop.measure.outside_view, "probe_changes", lambda records, baseline: fell)
    root = init_workspace(tmp_path / "ws").root
    summaries = run_rounds(plan_for(root, tiny_model_dir), 2, make_judge=ScriptedJudge)
    assert [s["round"] for s in summaries] == [0, 1, 2]


def test_the_training_order_deals_each_category_out_evenly():
    from loop.training.round import interleave

    pool = [{"prompt": str(i), "category": "rare" if i % 10 == 0 else "common"} for i in range(40)]
    order = interleave(list(range(40)), pool)
    assert sorted(order) == list(range(40))  # the same prompts, each once
    for start in range(0, 40, 10):  # every slice of 10 holds one rare prompt
        assert sum(pool[i]["category"] == "rare" for i in order[start:start + 10]) == 1


def test_a_pool_without_categories_keeps_its_shuffled_order():
    from loop.training.round import interleave

    assert interleave([3, 1, 2, 0], [{"prompt": str(i)} for i in range(4)]) == [3, 1, 2, 0]
