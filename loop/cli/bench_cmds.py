"""loop bench TARGET: timings measured on this machine, never asserted in tests.

Timed tests fail on a busy CI runner and pass on a fast laptop; they say nothing. So speed is a
benchmark a person runs and reads, with the machine printed next to the numbers.
"""

from __future__ import annotations

import json

from loop.cli import command
from loop.cli.flags import flag_overrides
from loop.config import METHODS, SCORE_MODES
from loop.errors import LoopError


# The flags each target passes on as settings (loop/cli/flags.py); --model is the round's own argument.
ROUND_FLAGS = ("prompts_per_round", "num_generations", "max_completion_length", "judge_mode")
STEP_FLAGS = ("model", "num_generations", "max_completion_length", "judge_mode")
EFFICACY_FLAGS = ("model", *ROUND_FLAGS)


def bench_judge_target(args) -> dict:
    """Pairs (prompt, response) judged per second on one principle: both modes, with and without
    the shared-prefix key/value cache."""
    from loop.bench.judge import bench_judge
    from loop.bench.timing import machine

    name = args.model or "embedded"
    principle, rows = bench_judge(name, args.n, args.batch_size)
    return {"target": "judge", "model": name, "principle": principle, "batch_size": args.batch_size,
            "machine": machine(), "results": rows}


def bench_round_target(args) -> dict:
    """One real round (the same code as `loop run`) in a throwaway workspace: seconds, the judge's
    share, seconds per training step, peak memory."""
    from loop.bench.round import bench_round
    from loop.bench.timing import machine

    result = bench_round(args.model or "embedded", flag_overrides(args, ROUND_FLAGS, zero_is_unset=True))
    return {"target": "round", "machine": machine(), **result}


def step_overrides(args) -> dict:
    """The flags that change a step, as plan overrides (unset flags keep the workspace's values)."""
    return flag_overrides(args, STEP_FLAGS, zero_is_unset=True)


def step_flags(args) -> list[str]:
    """The same flags again, for the inference baseline's own process."""
    flags = ["--repeats", str(args.repeats), "--warmup", str(args.warmup)]
    for name in ("model", "num_generations", "max_completion_length"):
        if getattr(args, name):
            flags += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return flags


def bench_step_target(args) -> dict:
    """A plain TRL GRPO step and loop's self-judged step on the same model, prompts and batch: means,
    their ratio, the judge's share, peak memory against inference only."""
    from loop.bench.step import bench_step, inference_in_another_process
    from loop.bench.timing import machine

    if args.repeats < 1 or args.warmup < 0:
        raise LoopError(f"--repeats must be at least 1 and --warmup at least 0, got {args.repeats} and {args.warmup}")
    inference_rss = lambda: inference_in_another_process(args.workspace, step_flags(args))  # noqa: E731
    result = bench_step(args.workspace, step_overrides(args), args.repeats, args.warmup, inference_rss=inference_rss,
                        weights=args.weights)
    return {"target": "step", "machine": machine(), **result}


def bench_inference_target(args) -> dict:
    """Inference only: load the model and sample the step benchmark's batches; peak memory."""
    from loop.bench.step import bench_inference
    from loop.bench.timing import machine

    return {"target": "inference", "machine": machine(),
            **bench_inference(args.workspace, step_overrides(args), args.repeats, args.warmup)}


def efficacy(args) -> int:
    """GRPO against DPO in this workspace: runs efficacy-<method>-s<seed> until --rounds training rounds
    are complete (resuming), then the report; with --report, the report alone, from the runs as they are."""
    from loop.bench.head_to_head import run_head_to_head, run_name
    from loop.views.console import make_console
    from loop.views.efficacy_view import show_efficacy
    from loop.views.progress import RichRoundProgress
    from loop.ledger.queries import open_run
    from loop.workspace import open_workspace

    ws = open_workspace(args.workspace)
    console = None if args.json else make_console()
    if not args.report:
        _check_efficacy(args)
        overrides = flag_overrides(args, EFFICACY_FLAGS)

        def on_run(plan, copied):
            if console is not None:
                shared = f"; round{'s' * (len(copied) > 1)} {', '.join(map(str, copied))} copied (the same start)" \
                    if copied else ""
                console.print(f"[bold]{plan.ledger.run}[/]: method {plan.config.train.method}, seed "
                              f"{plan.config.run.seed}, {args.rounds} training rounds{shared}")

        progress = None if console is None else (lambda r: RichRoundProgress(console, r))
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


TARGETS = {"judge": bench_judge_target, "round": bench_round_target, "step": bench_step_target,
           "inference": bench_inference_target}


def bench(args) -> int:
    """Measure speed on this machine and print it with the machine's description.

    Targets:
      step       a plain TRL GRPO step (constant reward) and loop's self-judged step, on the same model,
                 prompts and batch, with the workspace's constitution and loop.toml (the shipped defaults
                 outside a workspace): means of --repeats steps after --warmup, their ratio, the
                 judge's share of the self-judged step (judge_share_of_round in --json), and its peak
                 resident memory against inference only (loading the model and sampling the same
                 batches, measured in a separate process)
      round      one real round in a throwaway workspace: seconds, the judge's share, memory
      judge      pairs per second in score and critique mode, with and without the shared-prefix cache
      inference  the inference-only baseline of `step` on its own
    The embedded model unless --model (or, for step and inference, the workspace's [model]) says otherwise.
      efficacy   GRPO against DPO: `loop bench efficacy --methods grpo dpo --seeds 0 1 --rounds 3` runs
                 each method from the same start on each seed in this workspace, as runs
                 efficacy-<method>-s<seed>, resuming where it stopped, and prints the probe changes from
                 round 0 with their intervals, the KL to the base model and the time, side by side;
                 --report prints that table again without training
    """
    from loop.views.bench_view import print_bench
    from loop.views.console import make_console

    if args.target == "efficacy":
        return efficacy(args)
    result = TARGETS[args.target](args)
    if args.json:
        print(json.dumps(result))
        return 0
    print_bench(result, make_console())
    return 0


def register(subparsers) -> None:
    p = command(subparsers, "bench", bench)
    targets = sorted([*TARGETS, "efficacy"])
    p.add_argument("target", choices=targets, help="what to measure: " + ", ".join(targets))
    p.add_argument("--model", default=None, help="model name, HF id or directory (default: embedded; step, inference "
                                                 "and efficacy: the workspace's [model])")
    p.add_argument("--n", type=int, default=32, help="pairs per score-mode timing (critique mode uses n/4)")
    p.add_argument("--batch-size", type=int, default=16, help="pairs per forward pass")
    p.add_argument("--prompts-per-round", type=int, help="round: training prompts (default: loop.toml's default)")
    p.add_argument("--num-generations", type=int, help="round, step: completions per prompt")
    p.add_argument("--max-completion-length", type=int, help="round, step: max new tokens per completion")
    p.add_argument("--judge-mode", choices=SCORE_MODES, help="round, step: judge mode")
    p.add_argument("--repeats", type=int, default=3, help="step: timed steps of each kind (their mean is kept)")
    p.add_argument("--warmup", type=int, default=1, help="step: untimed steps first (first-call allocations)")
    p.add_argument("--weights", choices=("declared", "measured"), default="declared",
                   help="step: judge every judged principle at its weight as written (declared), or at the "
                        "weights a first round trains with: the judge reads the labeled pairs first, untimed, "
                        "and a principle it reads at chance is not judged (measured)")
    p.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS), metavar="METHOD",
                   help="efficacy: the methods, in order (default: grpo dpo)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1], metavar="SEED",
                   help="efficacy: the seeds (default: 0 1)")
    p.add_argument("--rounds", type=int, default=3,
                   help="efficacy: training rounds per run, round 0 not counted (default 3)")
    p.add_argument("--report", action="store_true",
                   help="efficacy: print the report of the runs as they are; train nothing")
    p.add_argument("--json", action="store_true", help="print JSON")
