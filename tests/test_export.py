"""`loop export`: a merged model directory with a model card that carries its provenance, and a chat
template that defaults to the system prompt the policy was trained with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fixture_ledger import add_gate_and_sampling, copy_fixture_ledger, snapshot_files
from tests.helpers import run_cli

from loop.ledger.export import with_default_system
from loop.ledger.model_card import model_card

TRAINED = "You are a helpful assistant. Answer clearly and briefly."  # the shipped prompts/system.jinja
PROBES = {"arithmetic": {"rate": 0.4, "low": 0.28, "high": 0.53, "n": 60},
          "refusal": {"rate": 0.75, "low": 0.63, "high": 0.84, "n": 60}}
RELIABILITY = {"honest": {"accuracy": 0.69, "low": 0.51, "high": 0.83, "n": 32}}
# SmolLM2's template in miniature: it writes its own default system prompt when none is given.
SMOLLM_LIKE = ("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
               "{{ '<|im_start|>system\nYou are SmolLM.<|im_end|>\n' }}{% endif %}"
               "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{% endfor %}"
               "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def edit_json(path: Path, **fields) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


@pytest.fixture
def ledger(workspace):
    return copy_fixture_ledger(workspace / "runs")


def make_exportable(ledger, n: int, tiny_model_dir: Path) -> Path:
    """Round n of the fixture ledger made exportable: trained from the tiny model, with a LoRA adapter."""
    from peft import LoraConfig, get_peft_model

    from loop.model import load_model

    folder = ledger.complete_dir(n)
    edit_json(folder / "round.json", model=str(tiny_model_dir), starts_from=f"round {n - 1} adapter")
    model, _, _ = load_model(str(tiny_model_dir))
    get_peft_model(model, LoraConfig(r=2, target_modules="all-linear", task_type="CAUSAL_LM")).save_pretrained(
        str(folder / "adapter"))
    return folder


@pytest.fixture
def tiny_round(ledger, tiny_model_dir):
    """Round 3 of the fixture ledger made exportable, with probes and judge reliability in its metrics."""
    folder = make_exportable(ledger, 3, tiny_model_dir)
    metrics = json.loads((folder / "metrics.json").read_text())
    (folder / "metrics.json").write_text(json.dumps({**metrics, "probes": PROBES, "reliability": RELIABILITY}))
    return folder


@pytest.fixture
def exported(tiny_round, tmp_path) -> Path:
    code, out, err = run_cli("export", "--round", "3", str(tmp_path / "out"))
    assert code == 0 and "round 3 exported to" in out, err
    return tmp_path / "out"


def card_of(folder: Path):
    from huggingface_hub import ModelCard

    return ModelCard.load(folder / "README.md")


def test_export_writes_a_model_card_with_hugging_face_metadata(exported):
    card = card_of(exported)
    assert card.data.library_name == "transformers" and "loop" in card.data.tags
    assert card.data.pipeline_tag == "text-generation"


def test_the_card_carries_run_round_constitution_and_templates(exported, ledger):
    text = (exported / "README.md").read_text()
    info = json.loads((ledger.complete_dir(3) / "round.json").read_text())
    assert "run `main`, round 3" in text
    assert f"| constitution | default {info['constitution']['version']} |" in text
    assert info["constitution"]["sha256"] in text
    for name, sha in info["templates"].items():
        assert f"| `{name}.jinja` | `{sha}` |" in text


def test_the_card_carries_the_training_settings_of_the_round(exported, ledger):
    text = (exported / "README.md").read_text()
    settings = json.loads((ledger.complete_dir(3) / "config.json").read_text())
    assert json.dumps(settings, indent=2) in text


def test_the_card_carries_heldout_scores_probes_and_reliability(exported, ledger):
    text = (exported / "README.md").read_text()
    ev = json.loads((ledger.complete_dir(3) / "metrics.json").read_text())["eval"]
    assert f"| helpful | {ev['judge_scores']['helpful']:.2f} | {ev['anchor_scores']['helpful']:.2f} |" in text
    assert "| arithmetic | 0.40 | 0.28–0.53 | 60 |" in text and "| refusal | 0.75 | 0.63–0.84 | 60 |" in text
    assert "| honest | 0.69 | 0.51–0.83 | 32 |" in text


def test_the_card_leaves_out_what_the_round_did_not_measure(ledger):
    text = model_card(ledger.complete_dir(2), "main")
    assert "## Held-out evaluation" in text
    assert "## Probes" not in text and "## Judge reliability" not in text


def test_the_card_of_a_dpo_round_names_dpo_and_its_trl_config(ledger):
    from huggingface_hub import ModelCard

    folder = ledger.complete_dir(2)
    (folder / "adapter").mkdir(exist_ok=True)  # the card reads only whether the round left an adapter
    edit_json(folder / "round.json", kind="dpo", method="dpo")
    settings = json.loads((folder / "config.json").read_text())
    edit_json(folder / "config.json", train={**settings.get("train", {}), "method": "dpo"})
    text = model_card(folder, "main")
    assert "dpo" in ModelCard(text).data.tags and "grpo" not in ModelCard(text).data.tags
    assert "with DPO on rewards" in text and "`dpo` is passed to TRL's `DPOConfig`" in text


def test_the_card_names_the_embedded_base_by_its_hub_id_and_license(ledger):
    from huggingface_hub import ModelCard

    card = ModelCard(model_card(ledger.complete_dir(2), "main"))  # the fixture's rounds train "embedded"
    assert card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct" and card.data.license == "apache-2.0"


def test_the_exported_chat_template_defaults_to_the_trained_system_prompt(exported):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(exported))
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                         add_generation_prompt=True)
    assert TRAINED in text and text.index(TRAINED) < text.index("Hi")


def test_a_system_message_given_replaces_the_trained_default(exported):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(exported))
    text = tokenizer.apply_chat_template([{"role": "system", "content": "Be terse."},
                                          {"role": "user", "content": "Hi"}], tokenize=False)
    assert "Be terse." in text and TRAINED not in text


def test_the_trained_prompt_replaces_a_base_templates_own_default(tiny):
    _, tokenizer = tiny
    tokenizer.chat_template = with_default_system(SMOLLM_LIKE, 'Say "hi",\nthen café.')
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False)
    assert text.startswith('<|im_start|>system\nSay "hi",\nthen café.<|im_end|>\n') and "SmolLM" not in text


def test_the_card_gives_the_system_prompt_the_policy_was_trained_with(exported):
    assert f"```text\n{TRAINED}\n```" in (exported / "README.md").read_text()


def test_a_round_without_an_adapter_exports_the_base_weights(tiny_round, tmp_path):
    import shutil

    shutil.rmtree(tiny_round / "adapter")
    code, _, err = run_cli("export", "--round", "3", str(tmp_path / "base"))
    assert code == 0, err
    text = (tmp_path / "base" / "README.md").read_text()
    assert "no adapter" in text and (tmp_path / "base" / "config.json").exists()


def test_snapshot_system_prompt_is_the_shipped_one():
    """Guards TRAINED above: the fixture's rounds snapshot the shipped system.jinja."""
    assert TRAINED in snapshot_files(3)[1]["system.jinja"]


def test_export_best_takes_the_best_accepted_round_and_says_why(ledger, tiny_model_dir, tmp_path):
    add_gate_and_sampling(ledger)  # round 3 has the highest gate pass rate (0.85) but the gate rejected it
    for n in (2, 3):
        make_exportable(ledger, n, tiny_model_dir)
    code, out, err = run_cli("export", "--best", str(tmp_path / "best"))
    assert code == 0, err
    assert out.splitlines()[0] == "best accepted round by the gate set: 2, gate pass 0.70"
    assert "round 2 exported to" in out
    assert "run `main`, round 2" in (tmp_path / "best" / "README.md").read_text()


def test_without_a_gate_the_best_round_is_the_best_by_probes(workspace):
    from loop.cli.run_cmds import pick_best
    from loop.datafile import atomic_write_json
    from loop.ledger import Ledger

    ledger = Ledger(workspace / "runs", "main")
    atomic_write_json(ledger.path / "index.json", {"run": "main", "rounds": [
        {"round": n, "status": "complete", "summary": {"probe_pass": p}} for n, p in ((0, 0.4), (1, 0.7), (2, 0.6))]})
    assert pick_best(ledger) == (1, "best round by probes (no gate set answered): 1, probe pass 0.70")
