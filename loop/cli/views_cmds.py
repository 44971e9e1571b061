"""loop log, loop compare, loop rounds: reading a run's ledger in the terminal."""

from __future__ import annotations

from loop.cli import command
from loop.views.console import make_console


def log(args) -> int:
    """Read the critiques: one panel per completion with each principle's score, critique and reward.

    Without --round, shows the latest round (the running one too). Filters combine:
      --principle ID          only that principle's critiques (score filters then apply to it)
      --contains TEXT         prompt, answer or critique contains TEXT (any case)
      --min-score/--max-score the principle's score, or the completion's mean score
      --disagree [T]          round judge and anchor judge differ by at least T (default 0.3)
      --worst N / --best N    the N completions with the lowest / highest total reward
    --heldout shows the round's held-out answers instead (greedy, never trained on), scored by the
    round judge and the anchor judge. The anchor judge scores only those unless the round ran with
    [judge] anchor_on_training = true, so --disagree reads the held-out answers too unless the
    round's training completions carry anchor scores. A round without training completions (round 0,
    the warm start) shows its held-out answers.
    --json prints the matching ledger records as JSON Lines (held-out answers: one record per answer
    and principle). --follow prints a running round's new completions as they are written, until the
    round completes (or Ctrl-C).
    --preferences shows a DPO round's preference pairs instead: each prompt's chosen answer against
    the rejected one, every principle's score for both, the totals and the margin (--round and
    --contains apply; without --round, the latest round that has pairs).
    --revisions shows a warm start's revisions instead ([train] warm_start_data): each answer the model
    rewrote, its critique, every principle's score for both, and whether it was kept and why
    (--round, --contains and --kept apply).
    """
    from loop.views.critique_records import LogFilter
    from loop.views.log_view import show_log
    from loop.ledger.queries import open_run, require_run

    ledger = require_run(open_run(args.workspace, args.run))
    if args.preferences or args.revisions:
        return _whole_records(args, ledger)
    log_filter = LogFilter(principle=args.principle, contains=args.contains, min_score=args.min_score,
                           max_score=args.max_score, disagree=args.disagree, worst=args.worst, best=args.best,
                           heldout=args.heldout)
    return show_log(ledger, make_console(), round_number=args.round, log_filter=log_filter, follow=args.follow,
                    as_json=args.json, pager=not args.no_pager)


def _whole_records(args, ledger) -> int:
    """--preferences (a DPO round's pairs) or --revisions (a warm start's revisions): whole records,
    which the completion filters do not apply to."""
    from loop.errors import LoopError
    from loop.views.preferences_view import show_preferences
    from loop.views.revisions_view import show_revisions

    which = "--preferences" if args.preferences else "--revisions"
    flags = {"--principle": args.principle, "--min-score": args.min_score, "--max-score": args.max_score,
             "--disagree": args.disagree, "--worst": args.worst, "--best": args.best, "--follow": args.follow or None,
             "--heldout": args.heldout or None,
             # --kept belongs to --revisions, and the two kinds of record do not mix
             "--kept": (args.kept or None) if args.preferences else None,
             "--revisions": (args.revisions or None) if args.preferences else None}
    given = [flag for flag, value in flags.items() if value is not None]
    if given:
        takes = "--round, --contains and --json" if args.preferences else "--round, --contains, --kept and --json"
        raise LoopError(f"{which} shows whole records; it takes {takes}, not {', '.join(given)}")
    show = show_preferences if args.preferences else show_revisions
    extra = {} if args.preferences else {"kept_only": args.kept}
    return show(ledger, make_console(), round_number=args.round, contains=args.contains, as_json=args.json,
                pager=not args.no_pager, **extra)


def compare(args) -> int:
    """Show two rounds' answers to the same held-out prompts side by side, with score changes.

    Scores come from the anchor judge (the same round-0 judge for both rounds, so a change is the
    answers' change, not the judge's) and rules; --judge round uses each round's own judge. Ends with
    per-principle means, wins and losses.
    """
    from loop.views.compare_view import compare_rounds
    from loop.ledger.queries import open_run, require_run

    a, b = args.rounds
    return compare_rounds(require_run(open_run(args.workspace, args.run)), a, b, make_console(), judge=args.judge,
                          principle=args.principle, as_json=args.json, pager=not args.no_pager)


def rounds(args) -> int:
    """List the run's rounds with their metrics, trends across rounds, and judge vs anchor per principle.

    Where rounds answered a gate set, each shows the gate's verdict (accepted or rejected, with its mean
    pass rate), and a line under the table says why a round was rejected and where the next one
    started. Self-rewarding rounds show their samples' rule pass rate per behaviour next to their
    start policy's greedy probe pass rate ("samples vs greedy").
    --json prints a JSON list: one object per round with round, status, started, finished, the
    summary metrics (reward, reward_std, frac_zero_std, judge_score, anchor_score, anchor_gap,
    rule_pass, completion_words, seconds, gate) and, for complete rounds, the held-out "eval"
    metrics, probes and "sampling".
    """
    from loop.views.rounds_view import show_rounds
    from loop.ledger.queries import open_run, require_run

    ledger = require_run(open_run(args.workspace, args.run), unless_no_runs=True)
    return show_rounds(ledger, make_console(), as_json=args.json, pager=not args.no_pager)


def _common(parser, pager: bool = True) -> None:
    parser.add_argument("--run", default=None, help="run name (default: run.name in loop.toml)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    if pager:
        parser.add_argument("--no-pager", action="store_true", help="never page, even on a terminal")


def register(subparsers) -> None:
    p = command(subparsers, "log", log)
    p.add_argument("--round", type=int, default=None, metavar="N", help="round to read (default: the latest)")
    p.add_argument("--principle", default=None, metavar="ID", help="only this principle")
    p.add_argument("--contains", default=None, metavar="TEXT", help="prompt, answer or critique contains TEXT")
    p.add_argument("--min-score", type=float, default=None, metavar="S", help="score at least S")
    p.add_argument("--max-score", type=float, default=None, metavar="S", help="score at most S")
    p.add_argument("--disagree", type=float, nargs="?", const=0.3, default=None, metavar="T",
                   help="round judge and anchor judge differ by at least T (default 0.3); reads the held-out "
                        "answers unless the round's anchor judge scored training completions too")
    p.add_argument("--heldout", action="store_true", help="the round's held-out answers, scored by both judges")
    rank = p.add_mutually_exclusive_group()
    rank.add_argument("--worst", type=int, default=None, metavar="N", help="the N lowest total rewards")
    rank.add_argument("--best", type=int, default=None, metavar="N", help="the N highest total rewards")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing a running round's new completions")
    p.add_argument("--preferences", action="store_true",
                   help="a DPO round's preference pairs: chosen against rejected, with scores and margin")
    p.add_argument("--revisions", action="store_true",
                   help="a warm start's revisions of the model's own answers: critique, original against revision")
    p.add_argument("--kept", action="store_true", help="with --revisions: only the revisions kept as training data")
    _common(p)

    p = command(subparsers, "compare", compare)
    p.add_argument("--rounds", nargs=2, type=int, required=True, metavar=("A", "B"), help="the two rounds")
    p.add_argument("--principle", default=None, metavar="ID", help="only this principle")
    p.add_argument("--judge", choices=("anchor", "round"), default="anchor",
                   help="whose scores to compare (default: anchor)")
    _common(p)

    p = command(subparsers, "rounds", rounds)
    _common(p)
