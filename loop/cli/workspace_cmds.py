"""loop init, loop check."""

from __future__ import annotations

from loop.cli import command
from loop.views.console import make_console


def init(args) -> int:
    """Create a workspace: constitution/, prompts/, loop.toml and a .gitignore for runs/.

    The constitution and templates are copies of the shipped defaults: edit them freely. The
    embedded model's round-0 readings of the shipped data go into the workspace's cache, so a first
    run's round 0 reads back what this machine would measure alike (README "The cache"). DIR is
    read from -C DIR when given (as `git -C`): `loop -C projects init demo` makes projects/demo.
    """
    from pathlib import Path

    from loop.cache_share import seed_workspace
    from loop.workspace import init_workspace

    ws = init_workspace(Path(args.workspace) / args.dir)
    console = make_console()
    console.print(f"Initialized a loop workspace in [bold]{ws.root}[/]: constitution/, prompts/, loop.toml")
    seeded = seed_workspace(ws)
    if seeded:
        console.print(seeded)
    console.print("Next: [bold]loop check[/], then [bold]loop run[/].")
    return 0


def check(args) -> int:
    """Validate the workspace (config, constitution, templates, prompt pool, probes) before any model loads.

    Exit 0 when everything is valid; otherwise exit 2 with one line per error found, each naming the
    file, the line and the fix: every key of loop.toml (types against our sections and TRL's classes,
    ranges, [run] heldout_size against the pool), every principle, pool row (labels and answers as the
    rules read them), demonstration file and probe.

    It also warns (exit 0) about data that is valid but skewed: a behaviour label of the warm start's
    demonstrations where more than half open with the same two words, and harmful requests of the
    pool without their benign twin in it.

    A principle's custom check (type = "custom") imports the module its path names, and importing runs
    that module's code: only modules listed in loop.toml's [checks] allow (e.g. allow = ["mychecks"],
    which also allows mychecks.calm) are imported; any other is refused, here and by every command.
    """
    import sys

    from loop.errors import LoopErrors
    from loop.templates import TEMPLATE_VARIABLES
    from loop.views.check_warnings import opening_lines, twin_lines
    from loop.workspace import open_workspace

    ws = open_workspace(args.workspace)
    try:
        config, constitution, templates, pool, probes = ws.check()
    except LoopErrors as err:
        for one in err.errors:
            print(f"loop: error: {one}", file=sys.stderr)
        return err.exit_code
    console = make_console()
    console.print(f"[green]ok[/] config: loop.toml (model: {config.model.name}, judge: {config.judge.mode})")
    console.print(f"[green]ok[/] constitution: {constitution.name} v{constitution.version} "
                  f"({len(constitution.principles)} principles, sha256 {constitution.short_hash})")
    for name in (n for n in TEMPLATE_VARIABLES if n in templates.sources):
        console.print(f"[green]ok[/] template: prompts/{name}.jinja (sha256 {templates.sha256(name)[:12]})")
    console.print(f"[green]ok[/] prompt pool: {config.run.pool} ({len(pool)} prompts)")
    for line in twin_lines(pool):
        console.print(line)
    if config.train.warm_start:
        from loop.demonstrations import read_demonstrations

        demonstrations = read_demonstrations(ws.root / config.train.demonstrations)
        console.print(f"[green]ok[/] warm start: {config.train.demonstrations} ({len(demonstrations)} demonstrations)")
        for line in opening_lines(demonstrations):
            console.print(line)
    counts = probes.counts()
    console.print(f"[green]ok[/] probes: {config.probes.dir} ({sum(counts.values())} probes, none trained on, "
                  f"sha256 {probes.short_hash})")
    console.print("   " + " · ".join(f"{name} {n}" for name, n in counts.items()))
    return 0


def register(subparsers) -> None:
    p = command(subparsers, "init", init)
    p.add_argument("dir", nargs="?", default=".", help="directory to initialize (default: current directory)")
    command(subparsers, "check", check)
