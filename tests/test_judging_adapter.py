"""The judging adapter (loop/training/judging_adapter.py, [judge] adapter_every): a second LoRA adapter
trained on labeled judgments on top of the judge's frozen copy of the round start, so the policy adapter
never trains on a judgment; stacked for judging, recorded, reused between refreshes, and refused with
[train] judgment_epochs."""

from __future__ import annotations

import json

import pytest
import torch
from tests.helpers import run_cli
from tests.scripted_judge import ScriptedJudge
from tests.test_judge_train import small_splits
from tests.test_parts import lora_state
from tests.test_round import plan_for

from loop.training.round import run_rounds

ON = {"judge": {"reliability_weights": False, "adapter_every": 1, "adapter_epochs": 1.0}}


@pytest.fixture
def judged_round(workspace, tiny_model_dir):
    """(ctx, judging, policy, folder): the judge of a self-rewarding round on the tiny model, with a judging
    adapter trained on top of its frozen copy of the round start; the policy adapter was moved first, so the
    round start is not the base."""
    from loop.model import load_model
    from loop.training.parts import judge_copy
    from loop.training.round import split_pool
    from loop.training.steps import RoundContext, policy_model

    small_splits(workspace)
    plan = plan_for(workspace, tiny_model_dir, **ON)
    model, tokenizer, info = load_model(str(tiny_model_dir))
    ctx = RoundContext(plan, split_pool(plan), model, tokenizer, info.name, 1)
    folder = plan.ledger.path / "parts"
    folder.mkdir(parents=True)
    policy = policy_model(ctx)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)
    start = lora_state(policy, "default")
    return ctx, judge_copy(ctx, policy, folder), policy, folder, start


def test_the_judging_adapter_trains_on_top_of_the_judge_copy_and_leaves_the_policy_alone(judged_round):
    ctx, judging, policy, folder, start = judged_round
    assert judging.judging_adapter is not None and judging.judging_adapter.name == "judging"
    after, judge = lora_state(policy, "default"), lora_state(policy, "judge")
    assert all(torch.equal(after[k], start[k]) and torch.equal(judge[k], start[k]) for k in start)
    trained = lora_state(policy, "judging")
    assert any(v.abs().sum() > 0 for k, v in trained.items() if "lora_B" in k)  # it learned something
    # The policy trains on; nothing of the judge does.
    assert policy.active_adapter == "default"
    assert all(p.requires_grad == (".default." in n) for n, p in policy.named_parameters() if "lora_" in n)
    record = judging.judging_adapter.record
    assert record["trained_in"] == 1 and record["examples"] == 20 and record["epochs"] == 1.0
    assert len(record["data_sha256"]) == 12 and record["lora"]["r"] == ctx.config.lora.r and record["learning_rate"] > 0
    assert (folder / "judging_adapter" / "adapter_config.json").is_file()
    assert not (folder / "judging_adapter" / "trainer").exists()
    assert judging.judge.settings.few_shot is False  # trained without few-shots, it judges without them
    assert judging.anchor_judge.settings.few_shot is ctx.config.judge.few_shot  # the anchor reads as in round 0


def test_the_judge_acts_as_the_sum_of_its_copy_and_the_judging_adapter(judged_round):
    from loop.cache import adapter_weights
    from loop.training.steps import adapter_view

    ctx, judging, policy, _, _ = judged_round
    pair = ctx.constitution.pairs("honest")[0]
    with adapter_view(policy, "judge"):
        alone = judging.judge.score([pair.prompt], [pair.chosen], "honest")[0].score
        copy_only = adapter_weights(policy)
    with judging.judge_view():
        stacked = judging.judge.score([pair.prompt], [pair.chosen], "honest")[0].score
        both = adapter_weights(policy)
        assert not any(p.requires_grad for p in policy.parameters())  # inference mode: no gradients
    assert alone != stacked and copy_only != both  # another judge, and another cache identity
    assert policy.active_adapter == "default"


def test_drift_is_measured_from_the_round_start_without_the_judging_adapter(judged_round):
    from loop.measure.outside_view import token_kl

    ctx, judging, policy, _, _ = judged_round
    pairs = [([{"role": "user", "content": "Name a colour."}], "Blue is a colour.")]
    with torch.no_grad():  # a judging adapter that clearly moved (one tiny epoch barely moves it)
        for name, p in policy.named_parameters():
            if "lora_B" in name and ".judging." in name:
                p.fill_(0.05)
    # The policy has not trained since the round started: it is exactly M_t, the judging adapter is not.
    assert token_kl(policy, ctx.tokenizer, pairs, judging.start_view) == pytest.approx(0.0, abs=1e-9)
    assert token_kl(policy, ctx.tokenizer, pairs, judging.judge_view) > 1e-3


def test_rounds_train_a_judging_adapter_every_k_and_reuse_it_between(workspace, tiny_model_dir):
    small_splits(workspace)
    plan = plan_for(workspace, tiny_model_dir, judge={**ON["judge"], "adapter_every": 2})
    run_rounds(plan, 3, make_judge=ScriptedJudge)
    info = {n: json.loads((workspace / "runs" / "main" / f"round-00{n}" / "round.json").read_text()) for n in (1, 2, 3)}
    assert [info[n]["judging_adapter"]["trained_in"] for n in (1, 2, 3)] == [1, 1, 3]
    assert info[1]["judging_adapter"]["sha256"] == info[2]["judging_adapter"]["sha256"] != info[3]["judging_adapter"]["sha256"]
    assert [(workspace / "runs" / "main" / f"round-00{n}" / "judging_adapter").is_dir() for n in (1, 2, 3)] == \
        [True, False, True]
    # A new judging adapter is a new judge: it reads every pair, with nothing carried from the judge before.
    pairs = sum(len(ctx_pairs) for ctx_pairs in
                (plan.constitution.pairs(p.id) for p in plan.constitution.principles if not p.is_rule))
    assert info[3]["pairs_read"] == pairs and not info[3]["consistency"]
    code, out, _ = run_cli("rounds")
    assert code == 0 and "round 3's judge wore the judging adapter trained in round 3" in " ".join(out.split())
    code, out, _ = run_cli("constitution", "show")
    assert code == 0 and "round 3's judge (run main), wearing the judging adapter trained in round 3, scored" \
        in " ".join(out.split())


def set_keys(workspace, section: str, **values) -> None:
    """Set keys at the top of a loop.toml section (the file lists every key, so replace those it has)."""
    import re

    path = workspace / "loop.toml"
    text = path.read_text()
    for key, value in values.items():
        text = re.sub(rf"(?m)^{key} = .*\n", "", text)
        text = text.replace(f"[{section}]\n", f"[{section}]\n{key} = {value}\n", 1)
    path.write_text(text)


def test_the_judging_adapter_does_not_go_with_judgment_epochs(workspace):
    set_keys(workspace, "judge", adapter_every=1)
    code, _, err = run_cli("check")
    assert code == 0, err
    set_keys(workspace, "train", judgment_epochs=1)
    code, _, err = run_cli("check")
    assert code == 2 and "adapter_every and [train] judgment_epochs" in err and "loop.toml" in err
    assert len(err.strip().splitlines()) == 1


def test_the_judging_adapter_needs_labeled_judgments(workspace):
    set_keys(workspace, "judge", adapter_every=1)
    for path in (workspace / "constitution" / "pairs").glob("*.train.jsonl"):
        path.unlink()
    code, _, err = run_cli("check")
    assert code == 2 and "no judged principle has labeled training pairs" in err and "loop.toml:" in err
    assert len(err.strip().splitlines()) == 1


def test_a_negative_adapter_every_is_refused(workspace):
    set_keys(workspace, "judge", adapter_every=-1)
    code, _, err = run_cli("check")
    assert code == 2 and "adapter_every must be 0" in err


def test_judge_check_reads_a_judge_with_its_judging_adapter(judged_round, tiny_model_dir, workspace):
    ctx, _, policy, folder, _ = judged_round
    policy.save_pretrained(str(workspace / "policy"))  # the round start, as a round saves its adapter
    args = ["judge-check", "--model", str(tiny_model_dir), "--no-few-shot", "--json"]
    code, out, err = run_cli(*args, "--adapter", "policy", "--adapter", str(folder / "judging_adapter"))
    assert code == 0, err
    stacked = json.loads(out)
    code, out, err = run_cli(*args, "--adapter", "policy")
    assert code == 0, err
    alone = json.loads(out)
    assert stacked["pairs"] != alone["pairs"]


def test_a_resumed_run_reuses_the_judging_adapter_it_saved(workspace, tiny_model_dir):
    small_splits(workspace)
    plan = plan_for(workspace, tiny_model_dir, judge={**ON["judge"], "adapter_every": 2})
    run_rounds(plan, 1, make_judge=ScriptedJudge)
    run_rounds(plan_for(workspace, tiny_model_dir, judge={**ON["judge"], "adapter_every": 2}), 2,
               make_judge=ScriptedJudge)  # a new process: round 2 finds round 1's adapter on disk
    info = {n: json.loads((workspace / "runs" / "main" / f"round-00{n}" / "round.json").read_text()) for n in (1, 2)}
    assert info[2]["judging_adapter"] == info[1]["judging_adapter"] and info[2]["judging_adapter"]["trained_in"] == 1


def test_the_weights_follow_the_readings_of_the_judge_with_its_judging_adapter(judged_round):
    from loop.judging.judge_check import judge_scores, principle_pairs
    from loop.training.parts import assess_trust
    from loop.training.steps import adapter_view

    ctx, judging, policy, folder, _ = judged_round
    trust = assess_trust(ctx, folder, judging)
    pairs = principle_pairs(ctx.constitution, ctx.constitution.get("honest"))
    recorded = {(r["chosen"], r["rejected"]) for r in map(json.loads, (folder / "reliability.jsonl").open())
                if r["principle"] == "honest"}
    with judging.judge_view():
        stacked = {tuple(s) for s in judge_scores(judging.judge, pairs)}
    with adapter_view(policy, "judge"):
        alone = {tuple(s) for s in judge_scores(judging.judge, pairs)}
    assert recorded == stacked != alone
    assert trust.judging_adapter == judging.judging_adapter.record
    assert json.loads((folder / "round.json").read_text())["judging_adapter"]["sha256"] == judging.judging_adapter.sha256


def test_judge_check_refuses_an_adapter_for_another_model(judged_round, tiny_model_dir, workspace):
    import shutil

    _, _, _, folder, _ = judged_round
    shutil.copytree(folder / "judging_adapter", workspace / "other")
    config = json.loads((workspace / "other" / "adapter_config.json").read_text())
    (workspace / "other" / "adapter_config.json").write_text(json.dumps({**config, "target_modules": ["w_gate"]}))
    code, _, err = run_cli("judge-check", "--model", str(tiny_model_dir), "--adapter", "other")
    errors = [line for line in err.splitlines() if line.startswith("loop: error: ")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err
    assert "not a LoRA adapter for this model" in errors[0] and "other" in errors[0]
