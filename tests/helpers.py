"""Helpers the tests share: the repository root, a tree digest, and `loop` run in-process."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def tree_digest(folder: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under a folder: equal digests mean byte-identical trees."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def start_round_two(command: list[str], workspace: Path, env: dict[str, str]):
    """`command` started in the workspace and returned (a Popen) once round 2 has written training
    records: the moment to kill it mid-round."""
    import subprocess
    import time

    proc = subprocess.Popen(command, cwd=workspace, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = workspace / "runs" / "main" / "round-002.partial" / "critiques.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and not (log.exists() and log.stat().st_size > 0) and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "round 2 finished before it could be killed; make it longer"
    return proc


def run_cli(*args: str) -> tuple[int, str, str]:
    """Run `loop ARGS` in-process; returns (exit code, stdout, stderr)."""
    import contextlib

    from loop.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def shipped_version() -> str:
    """The shipped constitution's version, so tests follow it when it is bumped."""
    import tomllib

    return tomllib.loads((REPO / "constitution/constitution.toml").read_text())["version"]


SHIPPED = shipped_version()
