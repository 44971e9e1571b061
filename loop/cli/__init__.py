"""The `loop` command line. Thin: each command parses its flags and calls the library.

Commands are grouped by noun, one module per group; a command's docstring is its --help; the flags
that change a setting map to it through one table (`flags.py`). Any `LoopError` (bad input a person
can fix) becomes one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
from typing import Callable

from loop.dist import EchoedError, shut_down
from loop.errors import LoopError

# One module per command group; each has register(subparsers).
GROUPS = ["workspace", "constitution", "prompts", "model", "judge", "run", "views", "probes", "bench", "cache"]


def command(subparsers, name: str, func: Callable, **kwargs) -> argparse.ArgumentParser:
    """Add a subcommand whose help is the function's docstring (first line short, rest long)."""
    doc = inspect.getdoc(func) or ""
    parser = subparsers.add_parser(name, help=doc.split("\n")[0], description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
    parser.set_defaults(func=func)
    return parser


def package_version() -> str:
    """The installed distribution's version; the package's own `__version__` when run from a checkout
    that is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("loop-cai")
    except PackageNotFoundError:
        import loop

        return loop.__version__


class VersionAction(argparse.Action):
    """`--version`: the version is looked up only when asked for, so every other command starts as fast."""

    def __init__(self, option_strings, dest, help=None):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"loop {package_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loop", description=__import__("loop").__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=VersionAction, help="print the version of loop and exit")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in GROUPS:
        try:
            module = importlib.import_module(f"loop.cli.{group}_cmds")
        except ModuleNotFoundError as err:
            if err.name != f"loop.cli.{group}_cmds":
                raise
            continue  # a group not built yet
        module.register(subparsers)
    add_workspace_flag(parser)
    return parser


def add_workspace_flag(parser: argparse.ArgumentParser, default: str = ".") -> None:
    """`-C DIR` on this parser and, walking the tree, on every command and sub-command under it.

    One flag added in one place, so `loop -C DIR rounds`, `loop rounds -C DIR` and `loop constitution
    show -C DIR` all work and a new command gets it without asking. Below the top the default is
    SUPPRESS: argparse copies a sub-command's values over the top-level ones, and a flag not given
    after the command must leave the one given before it alone.
    """
    parser.add_argument("-C", "--workspace", default=default, metavar="DIR",
                        help="workspace directory (default: current directory)")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):  # argparse keeps its sub-commands here
            for sub in action.choices.values():
                add_workspace_flag(sub, argparse.SUPPRESS)


def quiet_libraries() -> None:
    """Library progress bars and warnings would drown our own output."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    # TRL's trainers report usage to the Hugging Face hub; loop never talks to a hub on its own.
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    import warnings

    warnings.filterwarnings("ignore")


def main(argv: list[str] | None = None) -> int:
    quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        result = args.func(args)
    except LoopError as err:
        if not isinstance(err, EchoedError):  # one line, not one per process
            print(f"loop: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("loop: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `loop log | head`
        return 0
    shut_down()
    return int(result or 0)
