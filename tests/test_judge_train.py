"""Judge fine-tuning (loop/training/judge_train.py, `loop judge-train`): labeled pairs become judgments in
the judge's own conversation, an adapter is trained on them with TRL's SFTTrainer, and the judge is
measured before and after on the split it did not train on."""

from __future__ import annotations

import json

import pytest
from tests.helpers import run_cli

from loop.judging.prompts import judge_conversation
from loop.training.judge_train import judgment_examples


@pytest.fixture(scope="module")
def shipped(shipped_parts):
    return shipped_parts


def test_each_train_pair_gives_a_yes_and_a_no_judgment(shipped):
    constitution, templates = shipped
    rows = judgment_examples(constitution, templates)
    judged = [p.id for p in constitution.principles if not p.is_rule]
    assert len(rows) == 2 * sum(len(constitution.pairs(pid, "train")) for pid in judged)
    assert [r["completion"][0]["content"] for r in rows[:2]] == ["Yes", "No"]
    assert {r["principle"] for r in rows} == set(judged)


def test_a_judgment_is_the_judges_own_conversation(shipped):
    constitution, templates = shipped
    row = judgment_examples(constitution, templates)[0]
    pair = constitution.pairs(row["principle"], "train")[0]
    assert row["prompt"] == judge_conversation(templates, "judge", constitution.get(row["principle"]), pair.prompt,
                                               pair.chosen, few_shot=False, row=pair.row)
    # faithful's judgments show the reference answer its pair carries, as its judge reads it.
    faithful = next(r for r in judgment_examples(constitution, templates) if r["principle"] == "faithful")
    assert "Reference answer: " + constitution.pairs("faithful", "train")[0].row["reference"] in faithful["prompt"][-1]["content"]


def test_few_shot_judgments_carry_the_examples_as_earlier_turns(shipped):
    constitution, templates = shipped
    plain, few = judgment_examples(constitution, templates)[0], judgment_examples(constitution, templates, few_shot=True)[0]
    assert len(plain["prompt"]) == 1 and len(few["prompt"]) > 1 and few["prompt"][-1] == plain["prompt"][-1]


def small_splits(workspace, per_principle: int = 2) -> None:
    """Cut the workspace's pairs files to a few pairs each, so the tiny model trains and judges in seconds."""
    for path in (workspace / "constitution" / "pairs").glob("*.jsonl"):
        path.write_text("".join(path.read_text().splitlines(keepends=True)[:per_principle]))


def test_judge_train_trains_an_adapter_and_reports_before_and_after(workspace, tiny_model_dir):
    from safetensors.torch import load_file

    small_splits(workspace)
    code, out, err = run_cli("judge-train", "--model", str(tiny_model_dir), "--epochs", "1", "--out", "adapter",
                             "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["train_examples"] == 20 and result["before"]["n"] == result["after"]["n"] == 10
    assert set(result["consistency"]) == {"faithful", "harmless", "helpful", "honest", "polite"}
    weights = load_file(workspace / "adapter" / "adapter_model.safetensors")
    assert any(t.abs().sum() > 0 for name, t in weights.items() if "lora_B" in name)  # training moved it
    code, out, err = run_cli("judge-check", "--model", str(tiny_model_dir), "--adapter", "adapter", "--no-few-shot",
                             "--json")
    assert code == 0, err
    assert json.loads(out)["per_principle"]["honest"]["accuracy"] == result["after"]["per_principle"]["honest"]["accuracy"]


def test_judge_train_without_train_pairs_is_a_one_line_error(workspace):
    for path in (workspace / "constitution" / "pairs").glob("*.train.jsonl"):
        path.unlink()
    code, _, err = run_cli("judge-train")
    assert code == 2 and "no judge training pairs" in err and len(err.splitlines()) == 1


def test_judge_check_refuses_a_folder_that_is_not_an_adapter(workspace):
    code, _, err = run_cli("judge-check", "--adapter", "constitution")
    assert code == 2 and "not a LoRA adapter directory" in err
