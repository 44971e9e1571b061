"""Export a round's model as a plain, merged Hugging Face model directory.

It lives with the ledger, not with training: an export only reads what a complete round left there
(round.json and its adapter) and trains nothing; everything it will say about where a model came
from (run, round, constitution, templates) is ledger data.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from loop.errors import LoopError
from loop.ledger import Ledger
from loop.workspace import Workspace


def export_round(ws: Workspace, run: str, round_number: int, out_dir: str | Path, dtype: str = "float32") -> Path:
    from peft import PeftModel

    from loop.model import load_model

    ledger = Ledger(ws.runs_dir, run)
    folder = ledger.require_complete_round(round_number)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise LoopError("output directory exists and is not empty; choose a new one", path=out)
    info = json.loads((folder / "round.json").read_text("utf-8"))
    base, tokenizer, _ = load_model(info["model"], dtype)
    merged = PeftModel.from_pretrained(base, str(folder / "adapter")).merge_and_unload()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        merged.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)  # the directory appears whole or not at all
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
