"""Readings carried from one content cache to another as a file (`loop cache export` / `import`).

A first run has nothing cached, so round 0 would read every labeled pair, probe and gate prompt
with the base model. loop ships the embedded model's round-0 readings of the shipped data
(loop/defaults/readings.jsonl) and `loop init` reads them into the new workspace's cache: they are
keyed like every entry (loop/cache.py), so they are read back only where nothing that decides
them differs (the same model, data, templates, settings, library versions and thread count);
anywhere else they are never used and round 0 measures as before.

The file: a header line {"loop_readings": 1, "environment": {...}} (the maker's library versions
and thread count), then one entry a line {"kind", "key", "checksum", "value"}, as the cache
stores it. An entry that does not check out is refused, never trusted.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Sequence

from loop.cache import DEFAULT_MB, MISS, OFF_ENV, Cache, digest, environment
from loop.datafile import atomic_write, iter_jsonl
from loop.errors import LoopError

FORMAT = 1
SHIPPED = "readings.jsonl"  # in loop/defaults
ENTRY_KEYS = {"kind", "key", "checksum", "value"}
_KEY = re.compile(r"^[0-9a-f]{64}$")
_KIND = re.compile(r"^[a-z_]+$")
NOT_CARRIED = ("weights",)  # keyed by where a model folder is on this machine: of no use elsewhere


def export_readings(cache: Cache, path: str | Path, kinds: Sequence[str] = ()) -> int:
    """Write the cache's entries (of `kinds`, or every kind that can serve elsewhere) that check out to
    `path`; returns how many."""
    lines = [json.dumps({"loop_readings": FORMAT, "environment": environment()}, sort_keys=True)]
    for entry in sorted(cache.entries(), key=lambda e: (e.kind, e.path.name)):
        if (kinds and entry.kind not in kinds) or (not kinds and entry.kind in NOT_CARRIED):
            continue
        key = entry.path.stem
        value = cache.get(entry.kind, key)
        if value is not MISS:  # an entry that does not check out is not carried
            lines.append(json.dumps({"kind": entry.kind, "key": key, "checksum": digest(value), "value": value},
                                    ensure_ascii=False, sort_keys=True))
    atomic_write(path, "\n".join(lines) + "\n")
    return len(lines) - 1


def import_readings(cache: Cache, path: str | Path) -> tuple[int, str | None]:
    """Read a readings file into `cache`: (entries added, None), or (0, why none apply here) when the
    file was made with other library versions or another thread count than this machine's."""
    added, made_with = 0, None
    for number, obj in iter_jsonl(path, "readings file"):
        if made_with is None:
            made_with = _header(obj, path, number)
            here = environment()
            differs = sorted(k for k in set(made_with) | set(here) if made_with.get(k) != here.get(k))
            if differs:
                return 0, ", ".join(f"{k} {made_with.get(k)} (here {here.get(k)})" for k in differs)
            continue
        kind, key, value = _entry(obj, path, number)
        if cache.get(kind, key) is MISS:
            cache.put(kind, key, value)
            added += 1
    if made_with is None:
        raise LoopError("an empty readings file; write it with `loop cache export FILE`", path=path)
    return added, None


def _header(obj: dict, path, number: int) -> dict:
    if obj.get("loop_readings") != FORMAT or not isinstance(obj.get("environment"), dict):
        raise LoopError(f'not a loop readings file: the first line must be {{"loop_readings": {FORMAT}, '
                        '"environment": {...}}; write the file with `loop cache export FILE`', path=path, line=number)
    return obj["environment"]


def _entry(obj: dict, path, number: int) -> tuple[str, str, object]:
    if set(obj) != ENTRY_KEYS:
        raise LoopError(f"a reading has the keys {', '.join(sorted(ENTRY_KEYS))} (this line: "
                        f"{', '.join(sorted(obj)) or 'none'}); export the file again", path=path, line=number)
    kind, key = obj["kind"], obj["key"]
    if not (isinstance(kind, str) and _KIND.match(kind) and isinstance(key, str) and _KEY.match(key)):
        raise LoopError("a reading's kind is a lower-case word and its key 64 hex digits; export the file again",
                        path=path, line=number)
    if obj["checksum"] != digest(obj["value"]):
        raise LoopError("this reading does not match its checksum (the file was edited or cut); export the file "
                        "again", path=path, line=number)
    return kind, key, obj["value"]


def seed_workspace(workspace) -> str | None:
    """Read the shipped readings into a new workspace's cache; one line saying what happened (None:
    nothing shipped, or the cache is off)."""
    from loop.workspace import defaults_dir

    shipped = defaults_dir() / SHIPPED
    if not shipped.exists() or os.environ.get(OFF_ENV, "") not in ("", "0"):
        return None
    added, why = import_readings(Cache(workspace.cache_dir, DEFAULT_MB), shipped)
    if why is not None:
        return f"the embedded model's shipped readings were made with {why}: round 0 measures them here"
    return f"{added} readings the embedded model made of the shipped data are in .loop/cache/: round 0 reads them back"
