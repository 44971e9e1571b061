"""A self-rewarding round by DPO on the tiny model with a scripted judge: it samples and rewards as GRPO
does, pairs each prompt's best and worst answer, trains, and leaves the ledger any round leaves."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.scripted_judge import ScriptedJudge
from tests.test_round import plan_for, read_lines

from loop.ledger import CRITIQUE_KEYS, Ledger
from loop.training.round import round_kind, run_rounds

# Three prompts x three samples of 8 tokens, margin 0: the scripted judge scores by length, so groups
# differ and every prompt gives a pair. The weighted aggregation, so the judge's differences count in full
# (rules first is tested on its own below).
DPO = {"train": {"method": "dpo", "dpo_margin": 0.0, "aggregation": "weighted"}, "run": {"prompts_per_round": 3},
       "grpo": {"num_generations": 3}, "dpo": {"learning_rate": 1e-2}}


def dpo_plan(root: Path, tiny_model_dir: Path, **extra):
    sections = {k: dict(v) for k, v in DPO.items()}
    for section, values in extra.items():
        sections.setdefault(section, {}).update(values)
    return plan_for(root, tiny_model_dir, **sections)


@pytest.fixture(scope="module")
def dpo_run(tmp_path_factory, tiny_model_dir):
    """(workspace, summaries) of round 0 and one DPO round, run once for the tests that read it."""
    from loop.workspace import init_workspace

    root = init_workspace(tmp_path_factory.mktemp("dpo") / "ws").root
    return root, run_rounds(dpo_plan(root, tiny_model_dir), 1, make_judge=ScriptedJudge)


def folder(dpo_run) -> Path:
    return dpo_run[0] / "runs" / "main" / "round-001"


def test_with_method_dpo_the_self_rewarding_rounds_are_dpo_rounds():
    plan = SimpleNamespace(config=SimpleNamespace(train=SimpleNamespace(method="dpo", warm_start=True)))
    assert [round_kind(plan, r) for r in range(4)] == ["baseline", "warm-start", "dpo", "dpo"]


def test_a_dpo_round_leaves_every_file_of_a_round_and_its_pairs(dpo_run):
    for name in ("round.json", "config.json", "critiques.jsonl", "eval.jsonl", "metrics.json", "summary.txt",
                 "preferences.jsonl", "adapter/adapter_model.safetensors", "constitution/constitution.toml"):
        assert (folder(dpo_run) / name).is_file(), name
    assert not (dpo_run[0] / "runs" / "main" / "round-001.partial").exists()


def test_round_json_records_the_method(dpo_run):
    info = json.loads((folder(dpo_run) / "round.json").read_text())
    assert (info["kind"], info["method"], info["status"]) == ("dpo", "dpo", "complete")


def test_the_policy_trained_on_the_pairs(dpo_run):
    from safetensors.torch import load_file

    weights = load_file(folder(dpo_run) / "adapter" / "adapter_model.safetensors")
    lora_b = [t for name, t in weights.items() if "lora_B" in name]
    assert lora_b and any(t.abs().sum() > 0 for t in lora_b)  # B starts at 0: the optimizer moved it
    assert json.loads((folder(dpo_run) / "metrics.json").read_text())["train"][0]["loss"] > 0


def test_every_sampled_answer_is_recorded_as_grpo_records_it(dpo_run):
    records = read_lines(folder(dpo_run) / "critiques.jsonl")
    principles = {r["principle"] for r in records}
    assert len(records) == 3 * 3 * len(principles)  # prompts x num_generations x principles
    assert all(set(CRITIQUE_KEYS) <= set(r) and r["advantage"] is None and r["step"] == 0 for r in records)
    assert {r["sample"] for r in records} == {0, 1, 2} and {r["cut_tokens"] for r in records} <= {8, None}


def test_a_dpo_rounds_samples_do_not_depend_on_what_the_process_did_before(dpo_run, tmp_path, tiny_model_dir):
    # The round's seed decides its samples, as TRL's seed decides a GRPO round's: another run of the same
    # round after other random draws in this process samples the same answers.
    import torch

    from loop.workspace import init_workspace

    torch.manual_seed(12345)
    torch.rand(1000)
    root = init_workspace(tmp_path / "ws").root
    run_rounds(dpo_plan(root, tiny_model_dir), 1, make_judge=ScriptedJudge)
    texts = lambda ws: [(r["group"], r["sample"], r["completion"])  # noqa: E731
                        for r in read_lines(ws / "runs" / "main" / "round-001" / "critiques.jsonl")]
    assert texts(root) == texts(dpo_run[0])


def test_each_pair_is_the_best_and_the_worst_answer_of_its_group(dpo_run):
    records = read_lines(folder(dpo_run) / "critiques.jsonl")
    totals: dict[int, dict[int, float]] = {}
    for r in records:
        totals.setdefault(r["group"], {})[r["sample"]] = r["total_reward"]
    pairs = read_lines(folder(dpo_run) / "preferences.jsonl")
    assert len(pairs) == 3
    for pair in pairs:
        group = totals[pair["group"]]
        # Ranked as GRPO's advantage ranks (normalize_then_sum: each principle z-scored in the group,
        # then weighted); the totals are the records' weighted sums of the same two answers.
        assert pair["chosen_total"] == pytest.approx(group[pair["chosen_sample"]])
        assert pair["rejected_total"] == pytest.approx(group[pair["rejected_sample"]])
        assert pair["margin"] == pytest.approx(pair["chosen_value"] - pair["rejected_value"]) and pair["margin"] > 0
        assert pair["chosen"] != pair["rejected"]


def test_a_pair_keeps_both_answers_per_principle_scores(dpo_run):
    pair = read_lines(folder(dpo_run) / "preferences.jsonl")[0]
    records = read_lines(folder(dpo_run) / "critiques.jsonl")
    assert set(pair["chosen_scores"]) == set(pair["rejected_scores"]) == {r["principle"] for r in records}
    chosen = {r["principle"]: r["reward"] for r in records
              if (r["group"], r["sample"]) == (pair["group"], pair["chosen_sample"])}
    assert pair["chosen_scores"] == chosen


def test_metrics_count_the_pairs_and_the_summary_the_sampled_reward(dpo_run):
    metrics = json.loads((folder(dpo_run) / "metrics.json").read_text())
    assert metrics["preferences"] == {"prompts": 3, "pairs": 3, "ties": 0, "too_few_scored": 0,
                                      "unscored_answers": 0, "margin": 0.0, "ranked_by": "normalize_then_sum"}
    summary = Ledger(dpo_run[0] / "runs", "main").index()["rounds"][1]["summary"]
    assert summary["kind"] == "dpo" and summary["pairs"] == 3 and summary["reward"] > 0


def test_ties_within_the_margin_are_skipped_and_counted(workspace, tiny_model_dir):
    from safetensors.torch import load_file

    run_rounds(dpo_plan(workspace, tiny_model_dir, train={"dpo_margin": 100.0}), 1, make_judge=ScriptedJudge)
    done = workspace / "runs" / "main" / "round-001"
    metrics = json.loads((done / "metrics.json").read_text())
    assert (metrics["preferences"]["pairs"], metrics["preferences"]["ties"]) == (0, 3)
    assert read_lines(done / "preferences.jsonl") == [] and metrics["train"] == []
    weights = load_file(done / "adapter" / "adapter_model.safetensors")
    assert all(t.abs().sum() == 0 for name, t in weights.items() if "lora_B" in name)  # nothing trained
    summary = Ledger(workspace / "runs", "main").index()["rounds"][1]["summary"]
    assert any("3 of 3 prompts gave no preference pair" in w and "DPO did not train" in w
               for w in summary["warnings"])


def test_answers_nothing_could_score_are_in_no_pair(workspace, tiny_model_dir):
    class Unscoring(ScriptedJudge):
        """Scores nothing: a rule-free constitution then has no scorable answer at all."""

        def score(self, prompts, responses, *args, **kwargs):
            critiques = super().score(prompts, responses, *args, **kwargs)
            for c in critiques:
                c.score = None
            return critiques

    for principle in (workspace / "constitution" / "principles").glob("*.toml"):
        if "\n[check]" in principle.read_text():  # a rule: it would score every answer
            principle.unlink()
    run_rounds(dpo_plan(workspace, tiny_model_dir), 1, make_judge=Unscoring)
    metrics = json.loads((workspace / "runs/main/round-001/metrics.json").read_text())
    assert metrics["preferences"]["too_few_scored"] == 3 and metrics["preferences"]["unscored_answers"] == 9
    assert metrics["preferences"]["pairs"] == 0


def test_the_reward_functions_get_trls_arguments_and_the_pools_columns(tiny, tmp_path):
    from loop.config import Config
    from loop.trl_tables import grpo_args
    from loop.training.dpo_round import sample_and_reward
    from loop.training.progress import Silent

    model, tokenizer = tiny
    config = Config()
    config.grpo.update(num_generations=2, max_completion_length=5)
    calls = []

    def reward(prompts, completions, **kwargs):
        calls.append((prompts, completions, kwargs))
        return [1.0, 0.0]

    class Recorder:
        def flush(self, *args, **kwargs):
            pass

    row = {"prompt": [{"role": "user", "content": "What is 2 + 2?"}], "answer": "4", "slot": 0, "pool_index": 7}
    ctx = SimpleNamespace(tokenizer=tokenizer, progress=Silent(), config=config)
    group = sample_and_reward(ctx, model, row, grpo_args(config, tmp_path), lambda **call: [reward(**call)],
                              Recorder(),
                              rank=lambda rewards: [r[0] for r in rewards])
    prompts, completions, kwargs = calls[0]
    assert prompts == [row["prompt"]] * 2 and [c[0]["role"] for c in completions] == ["assistant"] * 2
    assert kwargs["answer"] == ["4", "4"] and kwargs["pool_index"] == [7, 7]
    assert len(kwargs["completion_ids"]) == 2 and all(len(ids) <= 5 for ids in kwargs["completion_ids"])
    assert group["rewards"] == [[1.0], [0.0]] and group["values"] == [1.0, 0.0]


def test_rules_first_pairs_never_prefer_an_answer_the_rules_score_lower(workspace, tiny_model_dir):
    from loop.quotas import behaviour  # noqa: F401  (the pool's labels decide the rules)

    plan = dpo_plan(workspace, tiny_model_dir, train={"aggregation": "rules_first"})
    run_rounds(plan, 1, make_judge=ScriptedJudge)
    rules = [p.id for p in plan.constitution.principles if p.is_rule]
    weights = {p.id: p.weight for p in plan.constitution.principles}

    def rule_total(scores):
        return sum(weights[pid] * scores[pid] for pid in rules if scores.get(pid) is not None)

    pairs = read_lines(workspace / "runs/main/round-001/preferences.jsonl")
    assert all(rule_total(p["chosen_scores"]) >= rule_total(p["rejected_scores"]) for p in pairs)
    counts = plan.ledger.metrics(1)["preferences"]
    assert counts["ranked_by"] == "rules_first"


def test_a_crash_mid_round_resumes_and_finishes_the_dpo_round(workspace, tiny_model_dir, monkeypatch):
    import loop.training.dpo_round

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash before DPO trains")

    real = loop.training.dpo_round.dpo_trainer
    monkeypatch.setattr(loop.training.dpo_round, "dpo_trainer", crash)
    with pytest.raises(RuntimeError):
        run_rounds(dpo_plan(workspace, tiny_model_dir), 1, make_judge=ScriptedJudge)
    partial = workspace / "runs" / "main" / "round-001.partial"
    assert (partial / "preferences.jsonl").exists()
    monkeypatch.setattr(loop.training.dpo_round, "dpo_trainer", real)
    summaries = run_rounds(dpo_plan(workspace, tiny_model_dir), 1, make_judge=ScriptedJudge)
    assert [s["round"] for s in summaries] == [1]  # round 0 was complete and is not redone
    assert not partial.exists() and len(read_lines(workspace / "runs/main/round-001/preferences.jsonl")) == 3


def test_loop_run_method_dpo_then_the_views_read_the_dpo_round(workspace, tiny_model_dir):
    from tests.helpers import run_cli

    toml = workspace / "loop.toml"
    toml.write_text(toml.read_text().replace("warm_start = true", "warm_start = false"))
    code, out, err = run_cli("run", "--method", "dpo", "--model", str(tiny_model_dir), "--prompts-per-round", "2",
                             "--num-generations", "2", "--max-completion-length", "8")
    assert code == 0, err
    # The run ends with one line: what moved on the probes since round 0, and where to read on.
    assert "round 1 against round 0, probes" in " ".join(out.split()) and "`loop rounds`" in out
    code, out, _ = run_cli("rounds", "--json")
    assert [r["kind"] for r in json.loads(out)] == ["baseline", "dpo"]
    for args in (("rounds", "--no-pager"), ("log", "--round", "1", "--no-pager"),
                 ("compare", "--rounds", "0", "1", "--no-pager"), ("log", "--preferences", "--no-pager")):
        code, out, err = run_cli(*args)
        assert code == 0 and out and not err, args


def test_a_dpo_group_begins_with_the_greedy_answer(tiny_model_dir):
    from types import SimpleNamespace

    from loop.generation import greedy_answers
    from loop.model import load_model
    from loop.training.dpo_round import sample_group

    model, tokenizer, _ = load_model(str(tiny_model_dir))
    sampling = SimpleNamespace(num_generations=4, max_completion_length=12, temperature=0.7, top_p=1.0, top_k=0,
                               min_p=None, repetition_penalty=1.0, generation_kwargs=None)  # GRPOConfig's fields
    messages = [{"role": "user", "content": "Why is the sky blue?"}]
    greedy = greedy_answers(model, tokenizer, [messages], 12)[0].text
    texts = [tokenizer.decode(ids, skip_special_tokens=True).strip()
             for ids in sample_group(model, tokenizer, messages, sampling, greedy_member=True)]
    assert len(texts) == 4 and texts[0] == greedy and any(t != greedy for t in texts[1:])
    plain = sample_group(model, tokenizer, messages, sampling)
    assert len(plain) == 4
