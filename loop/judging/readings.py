"""What decides a judge's reading: the part of the content-cache key (loop/cache.py) that every judge
reading shares, of labeled pairs at a round's start (loop/training/judge_trust.py) and of held-out
answers at its end (loop/measure/evaluate.py), and the count of unscored readings read back.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from loop.cache import Cache, model_identity
from loop.templates import template_name

JUDGE_TEMPLATES = ("judge", "critique", "verdict", "lift")  # the templates a judge's score depends on
# [judge] settings that decide which pairs a round reads and how it weighs them, not what a reading is.
# The judging adapter's settings are not either: its weights are part of the model the key names.
NOT_READING = ("reliability_weights", "consistency_confidence", "reliability_sample", "anchor_on_training",
               "adapter_every", "adapter_epochs")


def judge_sources(plan, principle) -> list[str]:
    """The texts a judge's reading against a principle depends on: the principle's file (question,
    few-shots, signals, its own templates' names) and the judge's templates, its own among them."""
    own = [template_name(file) for file in principle.template_files]
    return [plan.constitution.files.get(f"principles/{Path(principle.path).name}", principle.text),
            *(plan.templates.sources.get(name, "") for name in (*JUDGE_TEMPLATES, *own))]


def row_part(templates, principle, row: dict) -> dict:
    """The part of a pool row a judge's reading depends on: the columns its templates read (and the
    category, where the principle picks its template by it). {} for the others, so their readings are
    shared by every row with the same prompt and answer."""
    if templates is None or not row:
        return {}
    names = ["judge", "critique", "verdict", *(template_name(f) for f in principle.template_files)]
    columns = {c for name in names for part in templates.reads.get(name, ()) for c in part}
    columns |= {"category"} if principle.templates else set()
    return {c: row[c] for c in sorted(columns) if row.get(c) not in (None, "")}


def reading_key(plan, judge, model, principle, cache: Cache | None = None) -> dict[str, Any]:
    """Everything that decides a judge's score of an answer against `principle`, but the answer: the
    judge (its class, its settings but those in NOT_READING), the model as it stands now (inside a
    view, that view's adapter; loop/cache.py), `judge_sources`. The shared part of the cache key of
    every judge reading, of labeled pairs and of held-out answers alike."""
    settings = getattr(judge, "settings", None) or plan.config.judge
    return {"judge": {"class": f"{type(judge).__module__}.{type(judge).__qualname__}",
                      "settings": {k: v for k, v in asdict(settings).items() if k not in NOT_READING},
                      **{name: getattr(judge, name, None) for name in ("system", "min_mass", "prefix_cache")}},
            "model": model_identity(model, getattr(judge, "tokenizer", None), cache),
            "principle": principle.id, "sources": judge_sources(plan, principle)}


def count_unscored(judge, scores) -> None:
    """Count the None scores among readings read back from the cache as the judge counts its own (a
    round's `unscored`), so a round counts alike with the cache and without. A wrapper that forwards
    the count (a benchmark's timed judge) is left alone: setting it there would hide the judge's own."""
    if "unscored" in getattr(judge, "__dict__", {}):
        judge.unscored += sum(score is None for score in scores)
