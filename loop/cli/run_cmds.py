"""loop run, loop export."""

from __future__ import annotations

import json
import sys

from loop.cli import command
from loop.cli.flags import flag_overrides
from loop.config import METHODS, SCORE_MODES
from loop.views.console import make_console


def run(args) -> int:
    """Run until round 0 and --rounds training rounds are complete.

    Round 0 measures the starting model (no training). Round 1 is the warm start when [train]
    warm_start is on (fine-tuning on demonstrations). Every later round is self-rewarding: the frozen
    round-start model judges the policy's answers against the constitution, GRPO trains on those
    self-rewards (with --method dpo: DPO, on the best and the worst answer to each prompt), and the
    round is recorded under runs/<run>/round-NNN/. After a crash or a kill, the same command restarts
    the interrupted round; completed rounds are kept as they are. With --json: no progress bars, one
    JSON object per completed round on stdout.
    """
    from loop.dist import is_main
    from loop.training.round import plan_run, run_rounds
    from loop.views.progress import RichRoundProgress
    from loop.workspace import open_workspace

    overrides = flag_overrides(args)
    _check_positive(args)
    plan = plan_run(open_workspace(args.workspace), overrides, args.run)
    speaks = is_main()  # with several processes (torchrun), rank 0 alone speaks; the others train quietly
    console = None if args.json or not speaks else make_console()
    if console is not None:
        done = plan.ledger.complete_rounds()
        trained = len([r for r in done if r > 0])
        console.print(f"run [bold]{plan.ledger.run}[/]: round 0 {'complete' if 0 in done else 'to measure'}, "
                      f"{trained} of {args.rounds} training rounds complete; "
                      f"model {plan.config.model.name}, constitution {plan.constitution.name} "
                      f"v{plan.constitution.version}, judge mode {plan.config.judge.mode}, "
                      f"method {plan.config.train.method}")
    progress = None if console is None else (lambda r: RichRoundProgress(console, r))
    summaries = run_rounds(plan, args.rounds, progress=progress)
    stopped = bool(summaries) and plan.config.train.stop_on_regression and summaries[-1].get("probe_regressed")
    if not speaks:
        return 0
    if args.json:
        for summary in summaries:
            print(json.dumps(summary))
    elif summaries:
        from rich.markup import escape

        from loop.ledger.summary import moved_line

        last = summaries[-1]["round"]
        console.print(escape(moved_line(last, plan.ledger.metrics(last))))
    else:
        console.print(f"nothing to do: round 0 and {args.rounds} training round(s) already complete "
                      "(see `loop rounds`)")
    if stopped and summaries[-1]["round"] < args.rounds:
        families = ", ".join(summaries[-1]["probe_regressed"])
        message = (f"stopped after round {summaries[-1]['round']}: probes fell below round 0 by more than their "
                   f"interval ({families}); see `loop rounds`, and `loop export --best` for the best round")
        print(f"loop: {message}", file=sys.stderr)
    return 0


def _check_positive(args) -> None:
    from loop.errors import LoopError

    if args.rounds < 0:
        raise LoopError(f"--rounds must be 0 (round 0 only) or more, got {args.rounds}")
    for flag in ("prompts_per_round", "num_generations", "max_completion_length"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise LoopError(f"--{flag.replace('_', '-')} must be at least 1, got {value}")
    if args.num_generations is not None and args.num_generations < 2:
        raise LoopError("--num-generations must be at least 2: GRPO and DPO compare samples within a group")


def export(args) -> int:
    """Write the model of a completed round as a merged Hugging Face model directory, with a model card.

    The round's LoRA adapter is merged into the base weights; the directory loads with
    AutoModelForCausalLM.from_pretrained and works as --model for a new run. README.md is its model
    card: base model, run, round, constitution version and hash, template hashes, training settings,
    held-out scores (and probes and judge reliability where the round measured them). Its chat
    template defaults to the system prompt the policy was trained with. --best takes the round with
    the highest mean gate pass rate among those the gate accepted (never a rejected one), or, in a run
    without a gate set, the round whose probes pass most often; it says which and why.
    """
    from loop.ledger.export import export_round
    from loop.ledger.queries import open_run, require_run
    from loop.workspace import open_workspace

    from loop.errors import LoopError

    ws = open_workspace(args.workspace)
    config = ws.config()
    ledger = require_run(open_run(ws.root, args.run or config.run.name))  # a mistyped --run names the runs
    if (args.round is None) == (not args.best):
        raise LoopError("give --round N or --best (the best round the gate accepted, else by probes)")
    console = make_console()
    number = args.round
    if args.best:
        number, why = pick_best(ledger)
        console.print(why)  # before the model loads: what is about to be written, and why
    path = export_round(ws, ledger.run, number, args.dir, config.model.dtype)
    console.print(f"round {number} exported to [bold]{path}[/] (model card: {path / 'README.md'})")
    return 0


def pick_best(ledger) -> tuple[int, str]:
    """The round `loop export --best` takes (Ledger.best_round: by the gate set where rounds answered it,
    never a rejected round; else by probes), and a line saying why."""
    from loop.errors import LoopError

    number = ledger.best_round()
    if number is None:
        raise LoopError(f"run '{ledger.run}' has no round with probes yet; give --round N", path=ledger.path)
    summary = next(r.get("summary") or {} for r in ledger.index()["rounds"] if r["round"] == number)
    if ledger.best_accepted() == number:
        return number, f"best accepted round by the gate set: {number}, gate pass {summary['gate']['rate']:.2f}"
    return number, f"best round by probes (no gate set answered): {number}, probe pass {summary['probe_pass']:.2f}"


def register(subparsers) -> None:
    p = command(subparsers, "run", run)
    p.add_argument("--rounds", type=int, default=1,
                   help="run until this many training rounds are complete, round 0 not counted (default 1)")
    p.add_argument("--prompts-per-round", type=int, help="training prompts per round")
    p.add_argument("--num-generations", type=int, help="completions per prompt (the GRPO group)")
    p.add_argument("--max-completion-length", type=int, help="max new tokens per completion")
    p.add_argument("--model", help="model: 'embedded', a Hugging Face id or a local directory")
    p.add_argument("--judge-mode", choices=SCORE_MODES, help="judge mode for this run")
    p.add_argument("--method", choices=METHODS, help="how self-rewarding rounds train (default: [train] method)")
    p.add_argument("--run", help="run name (default: [run] name in loop.toml)")
    p.add_argument("--stop-on-regression", action="store_true",
                   help="stop after a round whose probes fell below round 0 by more than their interval")
    p.add_argument("--json", action="store_true", help="no progress bars; JSON lines on stdout")
    p = command(subparsers, "export", export)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--round", type=int, help="a completed round (0: the base model)")
    which.add_argument("--best", action="store_true",
                       help="the best round the gate accepted (the highest gate pass rate), else the best by probes")
    p.add_argument("dir", help="output directory (must not exist or be empty)")
    p.add_argument("--run", help="run name (default: [run] name in loop.toml)")
