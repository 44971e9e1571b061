"""The built wheel carries the shipped defaults (loop/defaults/ links to the top-level folders), and an
install from it can `loop init` a workspace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from tests.helpers import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the source tree (links kept as links), so the checkout stays untouched."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "runs", "tests", ".venv"))
    assert (source / "loop/defaults/constitution").is_symlink()  # the layout under test
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(source)]
    # Offline and fast with the setuptools at hand; a bare venv (CI's: setuptools 65, no `wheel`) cannot build
    # that way, so then build as `pip install` does, in an isolated environment with setuptools>=68.
    proc = subprocess.run([*command, "--no-build-isolation"], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    [built] = (tmp / "dist").glob("loop_cai-*.whl")
    return built


def shipped_files() -> list[str]:
    files = ["constitution/constitution.toml"]
    files += [f"constitution/principles/{p.name}" for p in sorted((REPO / "constitution/principles").glob("*.toml"))]
    files += [f"constitution/pairs/{p.name}" for p in sorted((REPO / "constitution/pairs").glob("*.jsonl"))]
    files += [f"prompts/{p.name}" for p in sorted((REPO / "prompts").glob("*.jinja"))]
    files += [f"prompts/probes/{p.name}" for p in sorted((REPO / "prompts/probes").glob("*.jsonl"))]
    return files + ["prompts/pool.jsonl"]


def test_wheel_contains_the_shipped_defaults(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = shipped_files()
    assert len([f for f in expected if f.startswith("constitution/principles/")]) >= 5
    assert len([f for f in expected if f.startswith("constitution/pairs/")]) >= 8  # two splits a judged principle
    # system, judge, critique, verdict, lift, revise, and faithful's own judge_reference
    assert len([f for f in expected if f.endswith(".jinja")]) == 7
    assert len([f for f in expected if f.startswith("prompts/probes/")]) >= 5
    for rel in expected:
        assert f"loop/defaults/{rel}" in names, rel


def test_wheel_defaults_are_the_top_level_files(wheel):
    with zipfile.ZipFile(wheel) as archive:
        for rel in shipped_files():
            assert archive.read(f"loop/defaults/{rel}") == (REPO / rel).read_bytes(), rel


def test_installed_wheel_inits_a_checkable_workspace(wheel, tmp_path):
    """Unpacked on its own (a pure-Python wheel installs by unpacking), loop reads its defaults from the wheel."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    script = ("import loop, sys; from loop.workspace import init_workspace; print(loop.__file__); "
              "init_workspace(sys.argv[1]).constitution()")
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "ws")], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == str(site / "loop" / "__init__.py")  # not the editable checkout
    for rel in shipped_files():
        assert (tmp_path / "ws" / rel).read_bytes() == (REPO / rel).read_bytes(), rel
    assert not (tmp_path / "ws/constitution").is_symlink()
