"""loop bench TARGET: timings measured on this machine, never asserted in tests.

Timed tests fail on a busy CI runner and pass on a fast laptop; they say nothing. So speed is a
benchmark a person runs and reads, with the machine printed next to the numbers.
"""

from __future__ import annotations

import json
import os
import platform
import time

from loop.cli import command
from loop.config import METHODS, SCORE_MODES


def machine() -> dict:
    """What the numbers were measured on."""
    import torch

    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "device": "cpu"}
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
    return info


def bench_judge(args) -> dict:
    """Pairs (prompt, response) judged per second on one principle: both modes, with and without
    the shared-prefix key/value cache."""
    from loop.constitution import load_constitution
    from loop.judging.judge import Judge
    from loop.model import load_model
    from loop.templates import load_templates
    from loop.workspace import defaults_dir

    constitution = load_constitution(defaults_dir() / "constitution")
    templates = load_templates(defaults_dir() / "prompts", constitution)
    name = args.model or "embedded"
    model, tokenizer, _ = load_model(name)
    principle = next(p for p in constitution.principles if not p.is_rule)
    examples = [(ex.prompt, r) for p in constitution.principles for ex in p.examples for r in (ex.good, ex.bad)]
    rows = []
    for mode, n in (("score", args.n), ("critique", max(4, args.n // 4))):
        items = [examples[i % len(examples)] for i in range(n)]
        for cache in (True, False):
            judge = Judge(model, tokenizer, constitution, templates, mode=mode, calibrate=False,
                          batch_size=args.batch_size, prefix_cache=cache, model_id=name)
            judge.score([items[0][0]], [items[0][1]], principle.id)  # warm-up: first-call allocations
            start = time.perf_counter()
            judge.score([p for p, _ in items], [r for _, r in items], principle.id)
            seconds = time.perf_counter() - start
            rows.append({"mode": mode, "prefix_cache": cache, "pairs": n, "seconds": round(seconds, 3),
                         "pairs_per_second": round(n / seconds, 2)})
    return {"target": "judge", "model": name, "principle": principle.id, "batch_size": args.batch_size,
            "machine": machine(), "results": rows}


def bench_round_target(args) -> dict:
    """One real round (the same code as `loop run`) in a throwaway workspace: seconds, the judge's
    share, seconds per training step, peak memory."""
    from loop.training.bench import bench_round

    result = bench_round(args.model or "embedded", args.prompts_per_round, args.num_generations,
                         args.max_completion_length, args.judge_mode)
    return {"target": "round", "machine": machine(), **result}


def efficacy(args) -> int:
    """GRPO against DPO in this workspace: runs efficacy-<method>-s<seed> until --rounds training rounds
    are complete (resuming), then the report; with --report, the report alone, from the runs as they are."""
    from loop.training.head_to_head import run_head_to_head, run_name
    from loop.views.console import make_console
    from loop.views.efficacy_view import show_efficacy
    from loop.views.progress import RoundProgress
    from loop.views.run_ledger import open_run
    from loop.workspace import open_workspace

    ws = open_workspace(args.workspace)
    console = None if args.json else make_console()
    if not args.report:
        _check_efficacy(args)
        overrides = {"model": {"name": args.model} if args.model else {}, "judge": {}, "run": {}, "grpo": {}}
        for flag, section, key in (("prompts_per_round", "run", "prompts_per_round"),
                                   ("num_generations", "grpo", "num_generations"),
                                   ("max_completion_length", "grpo", "max_completion_length"),
                                   ("judge_mode", "judge", "mode")):
            if getattr(args, flag) is not None:
                overrides[section][key] = getattr(args, flag)

        def on_run(plan, copied):
            if console is not None:
                shared = f"; round{'s' * (len(copied) > 1)} {', '.join(map(str, copied))} copied (the same start)" \
                    if copied else ""
                console.print(f"[bold]{plan.ledger.run}[/]: method {plan.config.train.method}, seed "
                              f"{plan.config.run.seed}, {args.rounds} training rounds{shared}")

        progress = None if console is None else (lambda r: RoundProgress(console, r))
        run_head_to_head(ws, args.methods, args.seeds, args.rounds, overrides, progress=progress, on_run=on_run)
    runs = [(open_run(ws.root, run_name(m, s)), m, s) for m in args.methods for s in args.seeds]
    return show_efficacy(runs, console or make_console(), rounds=args.rounds, as_json=args.json)


def _check_efficacy(args) -> None:
    from loop.errors import LoopError

    if args.rounds < 1:
        raise LoopError(f"--rounds must be at least 1 training round for a head to head, got {args.rounds}")
    for name, values in (("--methods", args.methods), ("--seeds", args.seeds)):
        if len(set(values)) != len(values):
            raise LoopError(f"{name} names one twice: {' '.join(map(str, values))}")


TARGETS = {"judge": bench_judge, "round": bench_round_target}


def bench(args) -> int:
    """Measure speed on this machine and print it with the machine's description.

    Targets: judge (pairs per second in score and critique mode, with and without the shared-prefix
    cache, on the embedded model unless --model says otherwise); round (one real round's time, the
    judge's share, peak memory); efficacy (GRPO against DPO: `loop bench efficacy --methods grpo dpo
    --seeds 0 1 --rounds 3` runs each method from the same start on each seed in this workspace, as
    runs efficacy-<method>-s<seed>, resuming where it stopped, and prints the probe changes from
    round 0 with their intervals, the KL to the base model and the time, side by side; --report
    prints that table again without training).
    """
    from rich.table import Table

    from loop.views.console import make_console

    if args.target == "efficacy":
        return efficacy(args)
    result = TARGETS[args.target](args)
    if args.json:
        print(json.dumps(result))
        return 0
    console = make_console()
    m = result["machine"]
    console.print(f"[bold]machine[/] {m['processor']} · {m['cpu_count']} CPUs · torch {m['torch']} "
                  f"({m['torch_threads']} threads) · device {m['device']}")
    if result["target"] == "round":
        console.print(_round_table(result))
        return 0
    table = Table(title=f"bench {result['target']} · {result['model']} · principle {result['principle']} · "
                        f"batch {result['batch_size']}", title_justify="left")
    for name in ("mode", "prefix cache", "pairs", "seconds", "pairs/s"):
        table.add_column(name, justify="left" if name == "mode" else "right")
    for r in result["results"]:
        table.add_row(r["mode"], "yes" if r["prefix_cache"] else "no", str(r["pairs"]), f"{r['seconds']:.2f}",
                      f"{r['pairs_per_second']:.2f}")
    console.print(table)
    return 0


def _round_table(result: dict):
    """One round's timings as a two-column table, in the order a reader asks about them."""
    from rich.table import Table

    settings = result["settings"]
    table = Table(title=f"bench round · {result['model']} · {settings['prompts_per_round']} prompts × "
                        f"{settings['num_generations']} completions × {settings['max_completion_length']} tokens · "
                        f"{settings['judge_mode']}-mode judge", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    step = result["seconds_per_step"]
    rows = [("round", f"{result['round_seconds']:.1f} s"),
            ("training steps", f"{result['train_steps']} ({'-' if step is None else f'{step:.1f}'} s each)"),
            ("judge", f"{result['judge_seconds']:.1f} s ({result['judge_share_of_round']:.0%} of the round, "
                      f"{result['judge_calls']} calls)"),
            ("first model load (cache build)", f"{result['first_model_load_seconds']:.1f} s"),
            ("peak memory (resident)", f"{result['peak_rss_mb'] / 1024:.1f} GB")]
    for name, value in rows:
        table.add_row(name, value)
    return table


def register(subparsers) -> None:
    p = command(subparsers, "bench", bench)
    targets = sorted([*TARGETS, "efficacy"])
    p.add_argument("target", choices=targets, help="what to measure: " + ", ".join(targets))
    p.add_argument("--model", default=None,
                   help="model name, HF id or directory (default: embedded; efficacy: the workspace's)")
    p.add_argument("--n", type=int, default=32, help="pairs per score-mode timing (critique mode uses n/4)")
    p.add_argument("--batch-size", type=int, default=16, help="pairs per forward pass")
    p.add_argument("--prompts-per-round", type=int, help="round: training prompts (default: loop.toml's default)")
    p.add_argument("--num-generations", type=int, help="round: completions per prompt")
    p.add_argument("--max-completion-length", type=int, help="round: max new tokens per completion")
    p.add_argument("--judge-mode", choices=SCORE_MODES, help="round: judge mode")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), metavar="METHOD",
                   help="efficacy: the methods, in order (default: grpo dpo)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1], metavar="SEED",
                   help="efficacy: the seeds (default: 0 1)")
    p.add_argument("--rounds", type=int, default=3,
                   help="efficacy: training rounds per run, round 0 not counted (default 3)")
    p.add_argument("--report", action="store_true",
                   help="efficacy: print the report of the runs as they are; train nothing")
    p.add_argument("--json", action="store_true", help="print JSON")
