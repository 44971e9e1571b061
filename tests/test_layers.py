"""Arrows point down: cli -> views / bench -> training -> measure -> judging / ledger -> the ground floor.

Read from the source (the imports each module names), so a test fails the moment a module reaches
up a floor: the round reports progress through a callback and never imports views; measurement is
called by the round and knows nothing of training; the judge knows nothing of either; the ledger is
files on disk; the view commands start without torch.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import loop

PACKAGE = Path(loop.__file__).parent
# Every module directly in loop/ is on the ground floor, but `python -m loop`'s entry point (the CLI).
GROUND = sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__main__")
FOLDERS = ("cli", "views", "bench", "training", "measure", "judging", "ledger")
MOVED = "# moved; this path works for one release"  # marks a shim left at a module's old path

# Old path -> where its module went: each shim re-exports the new modules, for one release.
SHIMS = {
    "loop.training.rules": ["loop.rules"],
    "loop.training.measure": ["loop.measure.outside_view"],
    "loop.training.evaluate": ["loop.measure.evaluate"],
    "loop.training.diagnostics": ["loop.measure.diagnostics"],
    "loop.training.probes": ["loop.measure.probes"],
    "loop.training.gate": ["loop.measure.gate"],
    "loop.training.bench": ["loop.bench.round", "loop.bench.step", "loop.bench.timing"],
    "loop.training.head_to_head": ["loop.bench.head_to_head"],
    "loop.views.run_ledger": ["loop.ledger.queries"],
    "loop.ledger.recorder": ["loop.training.recorder"],
}


def imported(path: Path) -> set[str]:
    """Every loop module a source file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return {name for name in names if name == "loop" or name.startswith("loop.")}


def is_shim(path: Path) -> bool:
    return MOVED in path.read_text("utf-8")


def modules(*parts: str) -> list[Path]:
    """The modules of these folders or ground-floor names, without the shims (which point to where a
    module went, up a floor or down)."""
    paths = []
    for part in parts:
        target = PACKAGE / part
        paths += sorted(target.glob("*.py")) if target.is_dir() else [target.with_suffix(".py")]
    return [path for path in paths if not is_shim(path)]


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


def test_every_shim_is_listed_and_only_re_exports():
    shims = {".".join(("loop", *p.relative_to(PACKAGE).with_suffix("").parts)): p
             for p in PACKAGE.rglob("*.py") if is_shim(p)}
    assert sorted(shims) == sorted(SHIMS)
    for name, path in shims.items():
        body = [node for node in ast.parse(path.read_text("utf-8")).body
                if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))]  # the docstring
        assert [(node.module, [a.name for a in node.names]) for node in body if isinstance(node, ast.ImportFrom)] == [
            (target, ["*"]) for target in SHIMS[name]], name
        assert len(body) == len(SHIMS[name]), name


@pytest.mark.parametrize("old", sorted(SHIMS))
def test_an_old_path_gives_the_moved_module_s_names(old):
    shim = importlib.import_module(old)
    for new in SHIMS[old]:
        module = importlib.import_module(new)
        public = [name for name in vars(module) if not name.startswith("_")]
        assert public and all(getattr(shim, name) is getattr(module, name) for name in public), new
