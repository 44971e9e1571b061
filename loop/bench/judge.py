"""`loop bench judge`: pairs (prompt, response) judged per second on one principle of the shipped
constitution, in both score modes, with and without the shared-prefix key/value cache.
"""

from __future__ import annotations

import time


def bench_judge(model: str = "embedded", n: int = 32, batch_size: int = 16) -> tuple[str, list[dict]]:
    """(the principle judged, one timing per mode and cache setting). Critique mode judges n/4 pairs (at
    least 4): it writes a critique before each score."""
    from loop.constitution import load_constitution
    from loop.judging.judge import Judge
    from loop.model import load_model
    from loop.templates import load_templates
    from loop.workspace import defaults_dir

    constitution = load_constitution(defaults_dir() / "constitution")
    templates = load_templates(defaults_dir() / "prompts", constitution)
    loaded, tokenizer, _ = load_model(model)
    principle = next(p for p in constitution.principles if not p.is_rule)
    examples = [(ex.prompt, r) for p in constitution.principles for ex in p.examples for r in (ex.good, ex.bad)]
    rows = []
    for mode, count in (("score", n), ("critique", max(4, n // 4))):
        items = [examples[i % len(examples)] for i in range(count)]
        for cache in (True, False):
            judge = Judge(loaded, tokenizer, constitution, templates, mode=mode, calibrate=False,
                          batch_size=batch_size, prefix_cache=cache, model_id=model)
            judge.score([items[0][0]], [items[0][1]], principle.id)  # warm-up: first-call allocations
            start = time.perf_counter()
            judge.score([p for p, _ in items], [r for _, r in items], principle.id)
            seconds = time.perf_counter() - start
            rows.append({"mode": mode, "prefix_cache": cache, "pairs": count, "seconds": round(seconds, 3),
                         "pairs_per_second": round(count / seconds, 2)})
    return principle.id, rows
