"""Reading the files people edit (TOML, JSONL) with errors that name the file and the line.

Every loader in loop goes through here, so a missing file, bytes that are not UTF-8 or broken
syntax always come out the same way: one line, exit code 2, the place and the fix.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from loop.errors import LoopError, Problems


def read_text(path: str | Path, what: str = "file") -> str:
    p = Path(path)
    if not p.exists():
        raise LoopError(f"{what} not found; create it or fix the path (`loop init` writes the defaults)", path=p)
    if p.is_dir():
        raise LoopError(f"expected a {what}, found a directory", path=p)
    data = p.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        raise LoopError(
            f"byte 0x{data[err.start]:02x} is not UTF-8; save the file as UTF-8", path=p, line=line
        ) from None


def read_toml(path: str | Path, what: str = "TOML file") -> tuple[dict[str, Any], str]:
    """Parse a TOML file; returns (data, text) so callers can point at the line of a bad key."""
    text = read_text(path, what)
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        match = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(match.group(1)) if match else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        raise LoopError(f"TOML syntax error: {msg}; fix the syntax there", path=path, line=line) from None


def iter_jsonl(path: str | Path, what: str = "JSONL file",
               problems: Problems | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; a line that is not a JSON object is an error,
    raised, or with `problems` added there and skipped (so the lines after it are read too)."""
    text = read_text(path, what)
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            obj = LoopError(f"not valid JSON ({err.msg}); write one JSON object per line", path=path, line=number)
        if not isinstance(obj, (dict, LoopError)):
            obj = LoopError("expected a JSON object ({...}) on each line", path=path, line=number)
        if isinstance(obj, LoopError):
            if problems is None:
                raise obj
            problems.add(obj)
            continue
        yield number, obj


def atomic_write(path: str | Path, data: str | bytes) -> None:
    """Write a file so that readers see the old content or the new, never half of it (temp file, fsync, rename)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
