"""The warm start on a tiny model: round 1 fine-tunes the policy adapter on demonstrations, and the
self-rewarding round after it starts from that adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.scripted_judge import ScriptedJudge
from tests.test_round import plan_for, read_lines

from loop.errors import LoopError
from loop import generation
from loop.generation import Answer
from loop.training import warm_start
from loop.training.round import run_rounds

DEMOS = [{"prompt": "How do I pick a lock to get into my neighbour's flat?",
          "response": "I can't help with that: it would be breaking in."},
         {"prompt": "What is 3 + 4?", "response": "3 + 4 = 7."}]


def with_demos(root: Path) -> Path:
    path = root / "prompts" / "demonstrations.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in DEMOS))
    return root


@pytest.fixture(scope="module")
def warm(tmp_path_factory, tiny_model_dir):
    from loop.workspace import init_workspace

    root = with_demos(init_workspace(tmp_path_factory.mktemp("warm") / "ws").root)
    plan = plan_for(root, tiny_model_dir, train={"warm_start": True, "judgment_epochs": 1, "replay": 1.0},
                    sft={"learning_rate": 1e-2})
    seen = []  # (rows, epochs) of each SFTTrainer the warm start builds

    def spy(ctx, model, rows, folder, epochs=None):
        seen.append((rows, epochs))
        return sft_trainer(ctx, model, rows, folder, epochs)

    sft_trainer = warm_start.sft_trainer
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(warm_start, "sft_trainer", spy)
        summaries = run_rounds(plan, 2, make_judge=ScriptedJudge)
    WARM_ROWS.extend(seen)
    return root, summaries


WARM_ROWS: list[tuple[list[dict], float | None]] = []


def test_round_one_is_the_warm_start_and_round_two_self_rewarding(warm):
    _, summaries = warm
    assert [(s["round"], s["kind"]) for s in summaries] == [(0, "baseline"), (1, "warm-start"), (2, "grpo")]


def test_the_warm_start_records_its_demonstrations_with_the_constitution_examples(warm):
    root, _ = warm
    used = read_lines(root / "runs/main/round-001/demonstrations.jsonl")
    assert [u["prompt"] for u in used[:2]] == [d["prompt"] for d in DEMOS]
    assert any(u["source"].startswith("principle ") for u in used)  # the constitution's good examples
    info = json.loads((root / "runs/main/round-001/round.json").read_text())
    assert info["demonstrations"]["examples"] == len(used) and len(info["demonstrations"]["sha256"]) == 64


def test_with_judgment_epochs_the_warm_start_then_trains_the_judge_on_the_train_split(warm):
    from loop.training.judge_train import judgment_examples
    from loop.workspace import Workspace

    root, _ = warm
    ws = Workspace(root)
    constitution = ws.constitution()
    expected = judgment_examples(constitution, ws.templates(constitution))
    info = json.loads((root / "runs/main/round-001/round.json").read_text())
    assert info["demonstrations"]["judgments"] == len(expected) > 0
    assert info["demonstrations"]["judgment_epochs"] == 1
    (answers, answer_epochs), (judgments, judgment_epochs) = WARM_ROWS  # answers first, then judgments
    assert len(answers) == len(read_lines(root / "runs/main/round-001/demonstrations.jsonl")) and answer_epochs is None
    # the judgments are the judge's own conversations with the verdict as the only completion
    assert judgments == [{k: row[k] for k in ("prompt", "completion")} for row in expected] and judgment_epochs == 1
    assert {row["completion"][0]["content"] for row in judgments} == {"Yes", "No"}
    train = json.loads((root / "runs/main/round-001/metrics.json").read_text())["train"]
    assert [row["phase"] for row in train] == sorted(row["phase"] for row in train)  # answers, then judgments
    assert {row["phase"] for row in train} == {"answers", "judgments"}


def test_judgments_without_training_pairs_are_refused_before_a_model_loads(tmp_path, tiny_model_dir):
    from loop.workspace import init_workspace

    root = with_demos(init_workspace(tmp_path / "ws").root)
    for path in (root / "constitution" / "pairs").glob("*.train.jsonl"):
        path.unlink()
    plan_for(root, tiny_model_dir, train={"warm_start": True})  # without judgments they are not needed
    with pytest.raises(LoopError, match="no judged principle has labeled training pairs"):
        plan_for(root, tiny_model_dir, train={"warm_start": True, "judgment_epochs": 0.5})


def test_the_warm_start_trains_the_adapter(warm):
    from safetensors.torch import load_file

    weights = load_file(warm[0] / "runs/main/round-001/adapter/adapter_model.safetensors")
    assert any(t.abs().sum() > 0 for name, t in weights.items() if "lora_B" in name)
    train = json.loads((warm[0] / "runs/main/round-001/metrics.json").read_text())["train"]
    assert train and all("loss" in row for row in train)


def test_the_warm_start_is_judged_by_the_anchor_and_measures_its_drift(warm):
    root, _ = warm
    evals = read_lines(root / "runs/main/round-001/eval.jsonl")
    assert all(e["scores"] == e["anchor_scores"] for e in evals)
    movement = json.loads((root / "runs/main/round-001/metrics.json").read_text())["movement"]
    assert isinstance(movement["drift_base"], float) and movement["drift_base"] > 0
    probes = read_lines(root / "runs/main/round-001/probes.jsonl")
    assert movement["changed"]["n"] == len(evals) + len(probes)  # every greedy answer, held-out and probes


def test_the_round_after_the_warm_start_starts_from_its_adapter(warm):
    info = json.loads((warm[0] / "runs/main/round-002/round.json").read_text())
    assert info["kind"] == "grpo" and info["starts_from"] == "round 1 adapter"


def test_the_round_after_the_warm_start_replays_its_rows_in_every_step(warm):
    train = json.loads((warm[0] / "runs/main/round-002/metrics.json").read_text())["train"]
    steps = [row for row in train if "loss" in row]
    assert steps and all(row["replay/nll"] > 0 for row in steps)


def test_a_bad_demonstrations_file_is_refused_before_a_model_loads(tmp_path, tiny_model_dir):
    from loop.workspace import init_workspace

    root = init_workspace(tmp_path / "ws").root
    (root / "prompts" / "demonstrations.jsonl").write_text('{"prompt": "Hi", "answer": "Hello"}\n')
    with pytest.raises(LoopError, match=r"demonstrations.jsonl:1: unknown key 'answer'"):
        plan_for(root, tiny_model_dir, train={"warm_start": True})


def test_without_the_warm_start_the_demonstrations_are_not_read(tmp_path, tiny_model_dir):
    from loop.workspace import init_workspace

    root = init_workspace(tmp_path / "ws").root
    (root / "prompts" / "demonstrations.jsonl").unlink()
    assert plan_for(root, tiny_model_dir).config.train.warm_start is False


def test_every_later_round_pairs_its_probe_answers_with_round_zero(warm):
    root, _ = warm
    for n in (1, 2):
        changes = json.loads((root / f"runs/main/round-00{n}/metrics.json").read_text())["probe_changes"]
        assert set(changes) == {"arithmetic", "benign", "format", "harmful", "unknowable"}
        assert all(c["n"] == 2 and c["low"] <= c["delta"] <= c["high"] for c in changes.values())


@pytest.mark.parametrize("text, kept", [
    ("Water boils at 100 C. At altitude it boils", "Water boils at 100 C."),
    ("Steps:\n1. Open the lid\n2. Pour", ""),  # "1." opens an item, it ends no sentence
    ("Really? Yes! And then", "Really? Yes!"),
    ("no sentence ends here", ""),
])
def test_whole_sentences_drops_the_unfinished_one(text, kept):
    assert generation.whole_sentences(text) == kept


def test_own_answers_keep_the_base_models_answers_that_pass_every_rule(monkeypatch):
    from types import SimpleNamespace

    from loop.config import Config
    from loop.constitution import load_constitution
    from tests.helpers import REPO

    pool = [{"prompt": f"Harmless question {i}?", "expect": "comply"} for i in range(5)]
    pool.append({"prompt": "How do I hurt someone?", "expect": "refuse"})
    replies = [Answer("Here is a plain answer.", cut=False),
               Answer("I can't help with that.", cut=False),  # a refusal of a harmless request
               Answer("Say it. Say it. Say it. Say it.", cut=False),  # a loop
               Answer("It works like this. Then the second part is", cut=True),  # cut: trimmed
               Answer("words " * 30, cut=True)]  # cut, no finished sentence: dropped
    monkeypatch.setattr(warm_start, "greedy_answers", lambda model, tok, chats, limit, batch_size: replies[:len(chats)])
    monkeypatch.setattr(warm_start, "policy_messages", lambda templates, constitution, prompt: [])
    ctx = SimpleNamespace(
        plan=SimpleNamespace(pool=pool, templates=None, constitution=load_constitution(REPO / "constitution")),
        config=Config(), split={"train_order": [5, 0, 1, 2, 3, 4]}, base_model=None, tokenizer=None)
    own = warm_start.own_answers(ctx, taken={"harmless question 4?"})
    assert [(o["prompt"], o["response"]) for o in own] == [("Harmless question 0?", "Here is a plain answer."),
                                                           ("Harmless question 3?", "It works like this.")]
    assert all(o["source"] == "own answer" for o in own)
    ctx.config.train.own_answers = 0
    assert warm_start.own_answers(ctx, taken=set()) == []
