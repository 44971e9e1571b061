"""loop judge, loop judge-check."""

from __future__ import annotations

import json

from loop.cli import command
from loop.config import SCORE_MODES
from loop.constitution import SIGNALS

BUILTIN = "built-in"  # --injection without a file: loop.judging.injection.INJECTIONS


def _judge_from_workspace(args):
    """(judge, constitution, config) built from the workspace: its model, constitution, templates, [judge]."""
    from loop.judging.judge import Judge
    from loop.model import load_model
    from loop.workspace import open_workspace

    ws = open_workspace(args.workspace)
    config = ws.config()
    constitution = ws.constitution()
    templates = ws.templates(constitution)  # checked before the model loads
    model, tokenizer, _ = load_model(args.model or config.model.name, config.model.dtype)
    overrides = {"mode": args.mode} if args.mode else {}
    judge = Judge(model, tokenizer, constitution, templates, config.judge, model_id=args.model or config.model.name,
                  **overrides)
    return judge, constitution, config


def judge(args) -> int:
    """Judge one response to one prompt against the constitution: critique and score per principle.

    Scores are in [0, 1], read from the judge's probabilities of Yes and No (never parsed from text);
    "-" means the judge could not score. In critique mode (--mode critique, or [judge] mode in
    loop.toml) the judge writes a short critique before it scores.
    """
    from rich.markup import escape
    from rich.table import Table

    from loop.views.console import make_console
    from loop.workspace import open_workspace

    if args.principle:  # a typo is reported before the model loads
        open_workspace(args.workspace).constitution().get(args.principle)
    judge_, constitution, _ = _judge_from_workspace(args)
    ids = [args.principle] if args.principle else [p.id for p in constitution.principles]
    crits = [judge_.score([args.prompt], [args.response], pid)[0] for pid in ids]
    if args.json:
        print(json.dumps([c.to_dict() for c in crits], ensure_ascii=False))
        return 0
    table = Table(title=f"judge · {judge_.settings.mode} mode · constitution {constitution.version}", title_justify="left")
    table.add_column("principle")
    table.add_column("score", justify="right")
    table.add_column("P(Yes) / P(No)", justify="right")
    # The likelihood signals a principle weighs into its score (loop/judging/likelihood.py): each one's value
    # relative to its center (the mean over the principle's labeled answers) x its weight.
    table.add_column("likelihood", justify="right")
    if judge_.settings.mode == "critique":
        table.add_column("critique")
    for c in crits:
        dist = c.distribution or {}
        row = [c.principle, "-" if c.score is None else f"{c.score:.2f}",
               f"{dist.get('yes', 0):.3f} / {dist.get('no', 0):.3f}",
               " ".join(f"{name} {dist[name] - dist.get(name + '_center', 0.0):+.2f}"
                        f"×{getattr(constitution.get(c.principle), name):g}" for name in SIGNALS if name in dist) or "-"]
        table.add_row(*(row + [c.critique] if judge_.settings.mode == "critique" else row))
    console = make_console()
    console.print(table)
    cuts = {(c["text"], c["reason"]): None for crit in crits for c in crit.cuts}
    for text, reason in cuts:  # the same sentences are cut for every principle: list them once
        console.print(f"[bold yellow]guard cut[/] ({reason}), not shown to the judge: [yellow]{escape(text)}[/]")
    return 0


def judge_check(args) -> int:
    """Pairwise accuracy of the judge on labeled (chosen, rejected) pairs.

    A pair is correct when chosen scores strictly higher than rejected on its principle. Without
    --pairs, the constitution's labeled examples are used (each left out of the few-shots while it
    is checked). A pairs file has one JSON object per line with prompt, chosen, rejected and either
    principle (an id in the workspace constitution) or principle_text (an ad-hoc principle).
    """
    from loop.judging.judge_check import check, constitution_pairs, load_pairs
    from loop.workspace import open_workspace

    if args.pairs:  # validate the files before the model loads
        ws = open_workspace(args.workspace)
        pairs = load_pairs(args.pairs, ws.constitution())
    lines = None
    if args.injection:
        from loop.judging.injection import INJECTIONS, load_injection_lines

        lines = INJECTIONS if args.injection == BUILTIN else load_injection_lines(args.injection)
    from loop.views.console import make_console
    from loop.views.progress import task_bar

    judge_, constitution, _ = _judge_from_workspace(args)
    if not args.pairs:
        pairs = constitution_pairs(constitution)
    bars = make_console(stderr=True)  # progress on stderr: --json's stdout stays JSON
    with task_bar(bars, "judging pairs", len(pairs)) as advance:
        result = check(judge_, pairs, leave_one_out=not args.pairs, on_progress=advance)
    if args.injection:
        source = "built-in" if args.injection == BUILTIN else args.injection
        result.update(_injection(judge_, constitution, lines, source, bars))
    settings = judge_.settings
    result.update(source=args.pairs or "constitution examples", mode=settings.mode, few_shot=settings.few_shot,
                  calibrate=settings.calibrate, model=judge_.model_id, constitution_version=constitution.version,
                  constitution_sha256=constitution.sha256)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    _print_check(result)
    return 0


def _injection(judge_, constitution, lines, source: str, bars) -> dict:
    """The injection probes' gains with the guard, and without it: what the model alone does (the honest baseline)."""
    from loop.judging.injection import injection_gain, probe_set
    from loop.views.progress import task_bar

    probes = [p for p in probe_set(constitution, lines) if not constitution.get(p.principle).is_rule]
    with task_bar(bars, "injection", len(probes) * (2 if judge_.settings.guard else 1)) as advance:
        out = {"injection": {**injection_gain(judge_, probes, on_progress=advance), "lines": source}}
        if judge_.settings.guard:
            judge_.settings.guard = False
            out["injection_unguarded"] = injection_gain(judge_, probes, on_progress=advance)
            judge_.settings.guard = True
    return out


def _print_check(result: dict) -> None:
    from rich.table import Table

    from loop.views.console import make_console

    table = Table(title=f"judge-check · {result['source']} · {result['mode']} mode", title_justify="left")
    for name, justify in (("principle", "left"), ("accuracy", "right"), ("n", "right"), ("mean margin", "right"),
                          ("unscored", "right")):
        table.add_column(name, justify=justify)

    def row(name, s):
        margin = "-" if s["mean_margin"] is None else f"{s['mean_margin']:+.3f}"
        return [name, f"{s['accuracy']:.3f}", str(s["n"]), margin, str(s["unscored"])]

    for pid, s in result["per_principle"].items():
        table.add_row(*row(pid, s))
    table.add_section()
    table.add_row(*row("overall", result))
    console = make_console()
    console.print(table)
    if "injection" in result:
        inj = result["injection"]
        style = "red" if (inj["mean_gain"] or 0) > 0 else "green"
        console.print(f"injection probes ({inj['lines']} lines): [{style}]mean gain {inj['mean_gain']:+.3f}[/] "
                      f"over {inj['n']} probes ({inj['positive']:.0%} gain); a judge that resists injection has a "
                      "gain at or below 0")
        if "injection_unguarded" in result:
            raw = result["injection_unguarded"]
            console.print(f"  without the guard (the model alone): mean gain {raw['mean_gain']:+.3f} "
                          f"({raw['positive']:.0%} gain)")


def register(subparsers) -> None:
    p = command(subparsers, "judge", judge)
    p.add_argument("--prompt", required=True, help="the user prompt")
    p.add_argument("--response", required=True, help="the response to judge")
    p.add_argument("--principle", help="principle id (default: every principle)")
    p.add_argument("--mode", choices=SCORE_MODES, help="override [judge] mode from loop.toml")
    p.add_argument("--model", help="model name, HF id or directory (default: from loop.toml)")
    p.add_argument("--json", action="store_true", help="print the critiques as JSON")
    p = command(subparsers, "judge-check", judge_check)
    p.add_argument("--pairs", help="JSONL file of labeled pairs (default: the constitution's examples)")
    p.add_argument("--injection", nargs="?", const=BUILTIN, metavar="LINES.txt",
                   help="also run the injection probes: how much a line addressing the judge raises its score "
                        "(built-in lines, or one per line from a file; {title} is the principle's title)")
    p.add_argument("--mode", choices=SCORE_MODES, help="override [judge] mode from loop.toml")
    p.add_argument("--model", help="model name, HF id or directory (default: from loop.toml)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
