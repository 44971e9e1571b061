"""The policy a complete round left: the base model plus the round's adapter, answering in the
conversation it was trained in (the system template of the round's own snapshot).

`loop probes --round N` answers with it. A round without an adapter (round 0, the starting model
evaluated before any training) is the base model itself. Like `loop export`, this only reads what
the round left in the ledger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from loop.constitution import load_constitution
from loop.errors import LoopError
from loop.ledger.store import Ledger
from loop.templates import load_templates, policy_messages


@dataclass
class RoundPolicy:
    model: Any
    tokenizer: Any
    conversation: Callable[[str], list[dict[str, str]]]  # a user prompt -> the messages the policy sees
    model_id: str  # the base model the round trained on
    adapter: Path | None  # None: the base model itself
    config: dict[str, Any]  # the round's resolved config (config.json), {} when it has none


def load_round_policy(ledger: Ledger, n: int, dtype: str, fallback_model: str) -> RoundPolicy:
    """Round n's policy. `fallback_model` names the base model when round.json does not."""
    from loop.model import load_model

    if n not in ledger.complete_rounds():
        done = ledger.complete_rounds()
        raise LoopError(f"round {n} of run '{ledger.run}' is not complete; complete rounds: "
                        f"{', '.join(map(str, done)) or 'none'}", path=ledger.path)
    folder = ledger.round_dir(n)
    info = ledger.round_info(n)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text("utf-8")) if config_path.exists() else {}
    constitution = load_constitution(folder / "constitution")
    templates = load_templates(folder / "prompts", constitution)
    model_id = info.get("model") or fallback_model
    model, tokenizer, _ = load_model(model_id, dtype)
    adapter = folder / "adapter"
    if adapter.is_dir():
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    return RoundPolicy(model, tokenizer, lambda prompt: policy_messages(templates, constitution, prompt), model_id,
                       adapter if adapter.is_dir() else None, config)
