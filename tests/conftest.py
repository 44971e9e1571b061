from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

# Fast tests never touch a hub; the embedded model is cached under the user cache unless set.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests read what they compute: the content cache (loop/cache.py) is on only where a test turns it on.
os.environ.setdefault("LOOP_NO_CACHE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random chat model directory, built once per test session."""
    from tests.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def tiny(tiny_model_dir):
    """(model, tokenizer) of the tiny model, loaded the way loop loads any local model."""
    from loop.model import load_model

    model, tokenizer, _ = load_model(str(tiny_model_dir))
    return model, tokenizer


@pytest.fixture(scope="session")
def shipped_parts():
    """(constitution, templates) as the repository ships them, loaded once."""
    from loop.constitution import load_constitution
    from loop.templates import load_templates
    from tests.helpers import REPO

    constitution = load_constitution(REPO / "constitution")
    return constitution, load_templates(REPO / "prompts", constitution)


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """A fresh `loop init` workspace, as the current directory."""
    from loop.workspace import init_workspace

    init_workspace(tmp_path / "ws")
    monkeypatch.chdir(tmp_path / "ws")
    return tmp_path / "ws"


@pytest.fixture
def console():
    """A fixed-width, colourless rich console whose text the test reads with console.file.getvalue()."""
    from rich.console import Console

    return Console(width=80, file=io.StringIO(), color_system=None, force_terminal=False)
