"""Arrows point down: cli -> views / bench -> training -> measure -> judging / ledger -> the ground floor.

Read from the source (the imports each module names), so a test fails the moment a module reaches
up a floor: the round reports progress through a callback and never imports views; measurement is
called by the round and knows nothing of training; the judge knows nothing of either; the ledger is
files on disk; the view commands start without torch.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import loop

PACKAGE = Path(loop.__file__).parent
# Every module directly in loop/ is on the ground floor, but `python -m loop`'s entry point (the CLI).
GROUND = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__main__")
FOLDERS = ("cli", "views", "bench", "training", "measure", "judging", "ledger")


def imported(path: Path) -> set[str]:
    """Every loop module a source file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name == "loop" or name.startswith("loop.")}


def modules(*parts: str) -> list[Path]:
    paths = []
    for part in parts:
        target = PACKAGE / part
        paths += sorted(target.glob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    return paths


def reaching(paths: list[Path], floors: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(PACKAGE)} imports {name}" for path in paths for name in sorted(imported(path))
            if name.startswith(floors)]


@pytest.mark.parametrize("floor, above", [
    ("views", ("loop.bench", "loop.training", "loop.measure", "loop.judging", "loop.cli")),
    ("bench", ("loop.views", "loop.cli")),
    ("training", ("loop.bench", "loop.views", "loop.cli")),
    ("measure", ("loop.training", "loop.bench", "loop.views", "loop.cli")),
    ("judging", ("loop.measure", "loop.training", "loop.bench", "loop.views", "loop.cli", "loop.ledger")),
    ("ledger", ("loop.judging", "loop.measure", "loop.training", "loop.bench", "loop.views", "loop.cli")),
])
def test_no_folder_imports_a_floor_above_it(floor, above):
    assert reaching(modules(floor), above) == []


def test_the_ground_floor_imports_nothing_above_it():
    assert "rules" in GROUND and "criteria" in GROUND
    assert reaching(modules(*GROUND), tuple(f"loop.{folder}" for folder in FOLDERS)) == []


def test_every_folder_is_a_package():
    folders = [p for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__") and p.name != "defaults"]
    assert {p.name for p in folders} == set(FOLDERS)
    assert all((p / "__init__.py").is_file() for p in folders)


def test_the_view_commands_start_without_torch():
    script = ("import sys, loop.cli, loop.cli.views_cmds, loop.views.log_view, loop.views.rounds_view, "
              "loop.views.compare_view, loop.views.round_diff, loop.ledger.queries; loop.cli.build_parser(); "
              "print(sorted(m for m in ('torch', 'transformers', 'trl', 'peft', 'datasets') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
