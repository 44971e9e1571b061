"""`loop --version` and `python -m loop --version`: the package version on stdout, exit 0."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import pytest
from tests.helpers import REPO

import loop
from loop.cli import main, package_version


def test_version_prints_the_package_version(monkeypatch):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and out.getvalue() == f"loop {package_version()}\n"


def test_version_falls_back_to_the_package_attribute_when_not_installed(monkeypatch):
    from importlib import metadata

    def missing(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", missing)
    assert package_version() == loop.__version__


def test_python_dash_m_loop_prints_it_too():
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "loop", "--version"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"loop {package_version()}"
