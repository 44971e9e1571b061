"""`-C DIR` works before and after the command, on every command and sub-command the CLI registers."""

from __future__ import annotations

import argparse
import json

import pytest
from tests.fixture_ledger import copy_fixture_ledger
from tests.helpers import SHIPPED, run_cli

from loop.cli import build_parser


def filler(parser: argparse.ArgumentParser) -> list[str]:
    """The least a command needs to parse: a value for each required option and positional."""
    args: list[str] = []
    for action in parser._actions:
        positional = not action.option_strings
        if not (positional or action.required) or action.nargs in ("?", "*") or action.dest == "help":
            continue
        count = action.nargs if isinstance(action.nargs, int) else 1
        value = str(next(iter(action.choices))) if action.choices else "1"
        args += ([] if positional else [action.option_strings[0]]) + [value] * count
    return args


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list:
    """(path, parser) of every command that runs something, found by walking the parser tree."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, (*path, name))
    return found or [(path, parser)]


COMMANDS = commands(build_parser())


def test_every_command_is_walked():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"init", "check", "rounds", "log", "export", "constitution show", "constitution diff",
            "model info", "prompts render", "judge-check", "bench"} <= names


@pytest.mark.parametrize("path, parser", COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_dash_c_is_accepted_before_and_after_the_command(path, parser):
    rest = filler(parser)
    top = build_parser()
    assert top.parse_args(["-C", "elsewhere", *path, *rest]).workspace == "elsewhere"
    assert top.parse_args([*path, *rest, "-C", "elsewhere"]).workspace == "elsewhere"
    assert top.parse_args([*path, "--workspace", "elsewhere", *rest]).workspace == "elsewhere"
    assert top.parse_args([*path, *rest]).workspace == "."


def test_rounds_reads_the_workspace_named_after_the_command(workspace, tmp_path, monkeypatch):
    copy_fixture_ledger(workspace / "runs")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("rounds", "-C", str(workspace), "--json")
    assert (code, err) == (0, "") and len(json.loads(out)) == 4


def test_constitution_show_reads_the_workspace_named_after_the_verb(workspace, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("constitution", "show", "-C", str(workspace))
    assert (code, err) == (0, "") and f"default v{SHIPPED}" in out


def test_init_makes_its_folder_inside_the_workspace_flag(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "projects").mkdir()
    code, _, err = run_cli("init", "demo", "-C", "projects")
    assert (code, err) == (0, "") and (tmp_path / "projects" / "demo" / "loop.toml").exists()
