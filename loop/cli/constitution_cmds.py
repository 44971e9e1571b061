"""loop constitution show | diff."""

from __future__ import annotations

from pathlib import Path

from loop.cli import command
from loop.views.console import make_console


def show(args) -> int:
    """Show the workspace constitution, one line per principle: id, title, weight, how it is rewarded.

    For a judged principle, how well the judge read its labeled pairs in the run's latest complete
    round that measured it (accuracy [95% interval], n pairs), and the weight that earned. A run
    records it from its round 0 on (`loop run --rounds 0`). With --full, each principle's text, rubric
    and the question its judge is asked (as prompts/judge.jinja words it)."""
    from loop.judging.prompts import judge_question
    from loop.views.constitution_view import render_constitution
    from loop.views.reliability_view import latest_reliability
    from loop.ledger.queries import open_run
    from loop.workspace import open_workspace

    ws = open_workspace(args.workspace)
    constitution = ws.constitution()
    templates = ws.templates(constitution)
    questions = {p.id: judge_question(templates, p) for p in constitution.principles if not p.is_rule}
    ledger = open_run(args.workspace, args.run)
    render_constitution(constitution, make_console(), latest_reliability(ledger), questions=questions,
                        full=args.full, run=ledger.run)
    return 0


def _snapshot(path: str) -> tuple[dict[str, str], str]:
    """{relative file: text} for a constitution directory or a single principle file."""
    from loop.constitution import load_constitution, load_principle
    from loop.errors import LoopError

    p = Path(path)
    if p.is_dir():
        c = load_constitution(p)
        return c.files, c.version
    if p.is_file():
        load_principle(p)  # validate it, so a broken file is named as such
        return {p.name: p.read_text("utf-8")}, ""
    raise LoopError("not found; give two constitution directories or two principle files", path=p)


def diff(args) -> int:
    """Show what changed between two constitutions (two directories or two principle files).

    With --rounds A B, compare the constitutions and templates two rounds of the current run used.
    """
    from loop.errors import LoopError
    from loop.views.constitution_view import render_diff

    console = make_console()
    if args.rounds:
        from loop.views.round_diff import diff_rounds
        from loop.ledger.queries import open_run, require_run

        return diff_rounds(require_run(open_run(args.workspace, args.run)), *args.rounds, console)
    if not args.a or not args.b:
        raise LoopError("give two paths (loop constitution diff A B) or --rounds A B")
    (files_a, version_a), (files_b, version_b) = _snapshot(args.a), _snapshot(args.b)
    headers = None
    if len(files_a) == 1 and len(files_b) == 1:  # two single files: compare them under one name,
        files_b = {next(iter(files_a)): next(iter(files_b.values()))}
        headers = (args.a, args.b)  # each side headed by the path it was given as
    render_diff(files_a, files_b, console, label_a=args.a, label_b=args.b, version_a=version_a, version_b=version_b,
                headers=headers)
    return 0


def register(subparsers) -> None:
    group = subparsers.add_parser("constitution", help="show or diff constitutions")
    sub = group.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = command(sub, "show", show)
    p.add_argument("--run", default=None, help="the run whose judge measurements to show (default: from loop.toml)")
    p.add_argument("--full", action="store_true",
                   help="each principle's text, rubric and the judge's question, in a long table")
    p = command(sub, "diff", diff)
    p.add_argument("a", nargs="?", help="first constitution directory or principle file")
    p.add_argument("b", nargs="?", help="second constitution directory or principle file")
    p.add_argument("--rounds", nargs=2, type=int, metavar=("A", "B"), help="compare two rounds of the run")
    p.add_argument("--run", default=None, help="run name (default: from loop.toml)")
