"""`loop bench`'s tables: the machine a benchmark ran on, then what it measured (a round's timings, the
plain and the self-judged step, the inference baseline, the judge's speed). Takes the plain result dicts
of loop/bench/."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from loop.views.charts import MISSING


def print_bench(result: dict, console: Console) -> None:
    """The machine line, then the target's table."""
    m = result["machine"]
    console.print(f"[bold]machine[/] {m['processor']} · {m['cpu_count']} CPUs · torch {m['torch']} "
                  f"({m['torch_threads']} threads) · device {m['device']}")
    console.print(SUMMARIES.get(result["target"], _judge_table)(result))


def _judge_table(result: dict) -> Table:
    """Pairs per second, per mode and prefix-cache setting."""
    table = Table(title=f"bench {result['target']} · {result['model']} · principle {result['principle']} · "
                        f"batch {result['batch_size']}", title_justify="left")
    for name in ("mode", "prefix cache", "pairs", "seconds", "pairs/s"):
        table.add_column(name, justify="left" if name == "mode" else "right")
    for r in result["results"]:
        table.add_row(r["mode"], "yes" if r["prefix_cache"] else "no", str(r["pairs"]), f"{r['seconds']:.2f}",
                      f"{r['pairs_per_second']:.2f}")
    return table


def _round_table(result: dict) -> Table:
    """One round's timings as a two-column table, in the order a reader asks about them."""
    settings = result["settings"]
    table = Table(title=f"bench round · {result['model']} · {settings['prompts_per_round']} prompts × "
                        f"{settings['num_generations']} completions × {settings['max_completion_length']} tokens · "
                        f"{settings['judge_mode']}-mode judge", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    step = result["seconds_per_step"]
    rows = [("round", f"{result['round_seconds']:.1f} s"),
            ("training steps", f"{result['train_steps']} ({MISSING if step is None else f'{step:.1f}'} s each)"),
            ("judge", f"{result['judge_seconds']:.1f} s ({result['judge_share_of_round']:.0%} of the round, "
                      f"{result['judge_calls']} calls)"),
            ("first model load (cache build)", f"{result['first_model_load_seconds']:.1f} s"),
            ("peak memory (resident)", f"{result['peak_rss_mb'] / 1024:.1f} GB")]
    total = result["round_seconds"] or 1.0
    rows[1:1] = [(f"  {name}", f"{seconds:.1f} s ({seconds / total:.0%})")
                 for name, seconds in sorted(result.get("phases", {}).items(), key=lambda kv: -kv[1])]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _step_table(result: dict) -> Table:
    """The plain and the self-judged step, their ratio, the judge's share, memory against inference."""
    s = result["settings"]
    table = Table(title=f"bench step · {result['model']}", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("batch", f"{s['num_generations']} completions × {s['max_completion_length']} tokens; "
                           f"mean of {s['repeats']} steps after {s['warmup']} warm-up")
    table.add_row("judge", f"{s['judge_mode']} mode · constitution {s['constitution']} ({s['workspace']}) · "
                           f"{s['weights']} weights")
    table.add_row("judged principles", ", ".join(s["judged_principles"]) or "none")
    each = ", ".join(f"{x:.1f}" for x in result["plain_steps_s"])
    table.add_row("plain TRL GRPO step (constant reward)", f"{result['plain_step_s']:.2f} s ({each})")
    each = ", ".join(f"{x:.1f}" for x in result["steps_s"])
    table.add_row("self-judged step", f"{result['step_s']:.2f} s ({each})")
    table.add_row("ratio", f"{result['ratio']:.2f}×")
    table.add_row("judge", f"{result['judge_s']:.2f} s ({result['judge_share_of_round']:.0%} of the self-judged step)")
    table.add_row("CPU time: plain, self-judged, ratio, judge",
                  f"{result['plain_step_cpu_s']:.2f} s, {result['step_cpu_s']:.2f} s, {result['cpu_ratio']:.2f}×, "
                  f"{result['judge_cpu_s']:.2f} s")
    versus = (f" ({result['memory_ratio']:.2f}× inference only)" if result["inference_rss_mb"] is not None else "")
    table.add_row("peak memory, self-judged step", f"{result['peak_rss_mb'] / 1024:.2f} GB{versus}")
    table.add_row("peak memory, plain step", f"{result['plain_peak_rss_mb'] / 1024:.2f} GB")
    if result["inference_rss_mb"] is not None:
        table.add_row("peak memory, inference only (own process)", f"{result['inference_rss_mb'] / 1024:.2f} GB")
    return table


def _inference_table(result: dict) -> Table:
    s = result["settings"]
    table = Table(title=f"bench inference · {result['model']} · {s['num_generations']} completions × "
                        f"{s['max_completion_length']} tokens", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("sampling one batch (median)", f"{result['generate_s']:.2f} s")
    table.add_row("peak memory (resident)", f"{result['peak_rss_mb'] / 1024:.2f} GB")
    return table


SUMMARIES = {"round": _round_table, "step": _step_table, "inference": _inference_table}
