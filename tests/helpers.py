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
