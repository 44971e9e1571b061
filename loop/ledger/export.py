"""Export a round's model as a plain, merged Hugging Face model directory, with its model card.

It lives with the ledger, not with training: an export only reads what a complete round left there
(round.json, its snapshots and its adapter) and trains nothing; everything it says about where a
model came from (run, round, constitution, templates, scores) is ledger data (model_card.py).

The exported chat template defaults to the system prompt the policy was trained with: without it,
a conversation with no system message would get the base model's own default (SmolLM2's "You are a
helpful AI assistant named SmolLM…"), which the trained policy never saw.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from loop.datafile import atomic_write
from loop.errors import LoopError
from loop.ledger import Ledger
from loop.ledger.model_card import model_card, trained_system_prompt
from loop.workspace import Workspace


def with_default_system(template: str, system: str) -> str:
    """A chat template that renders as `template` on a conversation given a system message, and on
    one without, as if it began with `system`. Template-agnostic: one Jinja line in front of it."""
    # json.dumps writes a string literal Jinja reads back exactly (quotes, backslashes, newlines).
    literal = json.dumps(system, ensure_ascii=False)
    return ("{%- if not messages or messages[0]['role'] != 'system' -%}"
            "{%- set messages = [{'role': 'system', 'content': " + literal + "}] + messages -%}"
            "{%- endif -%}" + template)


def default_system(tokenizer, system: str) -> None:
    """Make the tokenizer's chat template default to `system`; refuse to export one that would drop it."""
    templates = tokenizer.chat_template
    if isinstance(templates, dict):  # several named templates: each gets the default
        tokenizer.chat_template = {name: with_default_system(t, system) for name, t in templates.items()}
    else:
        tokenizer.chat_template = with_default_system(templates, system)
    shown = tokenizer.apply_chat_template([{"role": "user", "content": "?"}], tokenize=False)
    if system not in shown:
        raise LoopError("the base model's chat template does not show a system message, so the exported model "
                        "could not default to the system prompt it was trained with; export with a model whose "
                        "chat template takes one")


def export_round(ws: Workspace, run: str, round_number: int, out_dir: str | Path, dtype: str = "float32") -> Path:
    """Write complete round `round_number` of `run` to `out_dir`: weights (the adapter merged into the base,
    or the base alone for a round without one), tokenizer with the trained system prompt as default,
    README.md (the model card). The directory appears whole or not at all."""
    from loop.model import load_model

    ledger = Ledger(ws.runs_dir, run)
    folder = ledger.require_complete_round(round_number)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise LoopError("output directory exists and is not empty; choose a new one", path=out)
    info = json.loads((folder / "round.json").read_text("utf-8"))
    card = model_card(folder, run)  # before the model loads: a broken snapshot fails in a second
    system = trained_system_prompt(folder)
    model, tokenizer, _ = load_model(info["model"], dtype)
    if (folder / "adapter").is_dir():
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(folder / "adapter")).merge_and_unload()
    if system is not None:
        default_system(tokenizer, system)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        atomic_write(tmp / "README.md", card)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)  # the directory appears whole or not at all
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
