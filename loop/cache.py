"""The content cache (`<workspace>/.loop/cache/`): a reading whose inputs did not change is read back,
not measured twice.

A reading (the judge's scores of a labeled pair or of a held-out answer, a greedy answer to a probe
or a held-out prompt) is stored under the sha256 of a canonical JSON of everything that decides it:
its kind, what the caller names (the model as it stands: weight files, the active adapter's weights,
dtype, device, tokenizer; the text read; the templates and principle; the settings that change the
value), the versions of torch and transformers (and peft's where an adapter acts) and torch's thread
count. An edit to any of them is another key, so nothing has to be told what changed, and a second run,
another seed's round 0 or a benchmark reads back what an earlier one measured.

Why a read-back can be trusted:
- each entry is one JSON file holding its own key digest and a checksum of its value; one that does
  not parse or check out (a crash mid-write, a full disk, an edit by hand) is a miss, and is rewritten;
- writes go to a temporary file renamed into place (loop/datafile.py): two processes writing one
  entry leave one whole entry;
- a folder that cannot be written (read-only, full) turns writing off with one warning line; the run
  goes on measuring what it cannot read back, with the same results;
- with several processes (torchrun) rank 0 alone writes.
A reading is kept per item, not per batch: the padding of a batch moves a judge's score by about
1e-6, so a reading read back from another batch equals a fresh one to that precision, not to the bit.
The batch size is in the key; a reading read back is always the one the same model gave.

Size: at most `[run] cache_mb` (0: no cache; `LOOP_NO_CACHE=1` too); past it the entries read least
recently go first (a read touches its entry).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from loop.datafile import atomic_write
from loop.dist import is_main

OFF_ENV = "LOOP_NO_CACHE"
DEFAULT_MB = 200
# What computes every reading: torch's kernels and transformers' model code. peft's version joins a
# model's identity only where an adapter acts (model_identity); TRL trains but never reads.
LIBRARIES = ("torch", "transformers")
_MISS = object()
MISS = _MISS  # what Cache.get returns where it holds no entry, or one that does not check out
_warned: set[str] = set()  # cache folders already warned about in this process: one line each
_folders: dict[str, str] = {}  # weight folder digests known to this process, by the files' names, sizes, times


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(obj: Any) -> str:
    return hashlib.sha256(canonical(obj).encode("utf-8")).hexdigest()


@dataclass
class Entry:
    path: Path
    kind: str
    size: int
    mtime: int


class Cache:
    """JSON values under content keys in one folder (`root` None: off, every value is computed).

    `counts` says, per kind, how many values were read back (hits) and computed (misses)."""

    def __init__(self, root: str | Path | None, limit_mb: float = DEFAULT_MB,
                 warn: Callable[[str], None] | None = None):
        self.root = Path(root) if root is not None and limit_mb > 0 else None
        self.limit = int(limit_mb * 2**20)
        self.warn = warn or logging.getLogger("loop.cache").warning
        self.writable = is_main()  # under torchrun rank 0 alone writes
        self.counts: dict[str, dict[str, int]] = {}
        self._size: int | None = None  # bytes held, counted on the first write

    @property
    def on(self) -> bool:
        return self.root is not None

    def reuse(self, kind: str, common: Callable[[], dict], items: list[dict],
              compute: Callable[[list[int]], list], on_hits: Callable[[list], None] | None = None) -> list:
        """The value of each item: read back where the cache holds it, else computed and stored.

        `common()` gives the key parts all items share (called only when the cache is on: a model's
        identity costs a hash); `compute(indices)` the values of the items at those indices, in order,
        in one call; `on_hits(values)` hears of the values read back. Every value comes back as JSON
        gives it, read back or not, so a hit is exactly what a fresh computation returns."""
        keys = self._keys(kind, common, items)
        values = [self.get(kind, key) if key else _MISS for key in keys]
        missing = [i for i, value in enumerate(values) if value is _MISS]
        hits = [value for value in values if value is not _MISS]
        fresh = compute(missing) if missing else []
        if len(fresh) != len(missing):
            raise ValueError(f"{kind}: {len(missing)} values asked, {len(fresh)} computed")
        for i, value in zip(missing, fresh):
            values[i] = json.loads(json.dumps(value))
            if keys[i]:
                self.put(kind, keys[i], values[i])
        tally = self.counts.setdefault(kind, {"hits": 0, "misses": 0})
        tally["hits"] += len(hits)
        tally["misses"] += len(missing)
        if hits and on_hits is not None:
            on_hits(hits)
        return values

    def _keys(self, kind: str, common: Callable[[], dict], items: list[dict]) -> list[str | None]:
        """Each item's key (None: the cache is off, or the keys could not be made: a warning, and every
        value is computed)."""
        if not (self.on and items):
            return [None] * len(items)
        try:
            shared = digest({"kind": kind, "env": environment(), "common": common()})
            return [digest({"shared": shared, "item": item}) for item in items]
        except Exception as err:  # a model whose identity cannot be read: measure it, never fail on it
            self._warn_once(f"cache keys of {kind} readings could not be made ({type(err).__name__}: {err}); "
                            "measuring them")
            return [None] * len(items)

    def _warn_once(self, line: str) -> None:
        if str(self.root) not in _warned:
            _warned.add(str(self.root))
            self.warn(line)

    # ---- entries ------------------------------------------------------------------------------

    def path(self, kind: str, key: str) -> Path:
        assert self.root is not None
        return self.root / kind / key[:2] / f"{key}.json"

    def get(self, kind: str, key: str) -> Any:
        """The stored value, or _MISS where there is none or the entry does not check out."""
        path = self.path(kind, key)
        try:
            entry = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):  # absent, unreadable, not UTF-8, not JSON (truncated)
            return _MISS
        if not (isinstance(entry, dict) and entry.get("key") == key and entry.get("kind") == kind
                and "value" in entry and entry.get("checksum") == digest(entry["value"])):
            return _MISS
        try:
            os.utime(path)  # read now: the last to be evicted
        except OSError:
            pass
        return entry["value"]

    def put(self, kind: str, key: str, value: Any) -> None:
        if not (self.on and self.writable):
            return
        text = json.dumps({"key": key, "kind": kind, "checksum": digest(value), "value": value}, ensure_ascii=False)
        try:
            atomic_write(self.path(kind, key), text)
        except OSError as err:  # read-only, full, or not a folder: go on without writing
            self.writable = False
            self._warn_once(f"cache {self.root} cannot be written ({err.strerror or err}); going on without it")
            return
        # Bytes held: counted once (this entry included), then added to; evict() counts again.
        self._size = self.size() if self._size is None else self._size + len(text.encode("utf-8"))
        if self._size > self.limit:
            self.evict(int(self.limit * 0.9))

    # ---- the folder ---------------------------------------------------------------------------

    def entries(self) -> list[Entry]:
        out = []
        for path in self.root.glob("*/*/*.json") if self.on and self.root.is_dir() else []:
            try:
                stat = path.stat()
            except OSError:  # evicted by another process meanwhile
                continue
            out.append(Entry(path, path.parent.parent.name, stat.st_size, stat.st_mtime_ns))
        return out

    def size(self) -> int:
        return sum(entry.size for entry in self.entries())

    def evict(self, target: int) -> int:
        """Remove the entries read least recently until at most `target` bytes are held; returns how many."""
        entries = sorted(self.entries(), key=lambda e: e.mtime)
        held, removed = sum(e.size for e in entries), 0
        for entry in entries:
            if held <= target:
                break
            entry.path.unlink(missing_ok=True)
            held -= entry.size
            removed += 1
        self._size = held
        return removed

    def clear(self) -> int:
        """Remove every entry; returns how many there were."""
        count = len(self.entries())
        if self.root is not None and self.root.exists():
            shutil.rmtree(self.root)
        self._size = 0
        return count

    def info(self) -> dict[str, Any]:
        """Where the cache is, how big, and its entries by kind."""
        kinds: dict[str, dict[str, int]] = {}
        for entry in self.entries():
            kind = kinds.setdefault(entry.kind, {"entries": 0, "bytes": 0})
            kind["entries"] += 1
            kind["bytes"] += entry.size
        return {"where": str(self.root) if self.root else None, "on": self.on, "limit_bytes": self.limit,
                "entries": sum(k["entries"] for k in kinds.values()), "bytes": sum(k["bytes"] for k in kinds.values()),
                "kinds": kinds}


def workspace_cache(workspace, config, warn: Callable[[str], None] | None = None) -> Cache:
    """The cache of a workspace (Workspace.cache_dir) under its config's [run] cache_mb; off with
    LOOP_NO_CACHE set (to anything but 0)."""
    off = os.environ.get(OFF_ENV, "") not in ("", "0")
    return Cache(None if off else workspace.cache_dir, config.run.cache_mb, warn)


# -------------------------------------------------------------------------------------------------
# What decides a model's outputs, besides its input.

def environment() -> dict[str, Any]:
    """The library versions and the torch thread count (a CPU's sums can differ by thread count)."""
    import torch

    return {**_versions(), "threads": torch.get_num_threads()}


def _versions() -> dict[str, str | None]:
    return {name: _version(name) for name in LIBRARIES}


@lru_cache(maxsize=None)
def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def model_identity(model, tokenizer=None, cache: Cache | None = None) -> dict[str, Any]:
    """The model as it stands now: its base weights, the adapter active now (None: none, or one that
    adds nothing yet), dtype and device, and the tokenizer's template and size. `cache` keeps the
    digest of a weight folder, so a large model's files are hashed once, not once a process."""
    device = getattr(model, "device", None)
    named = str(device) if device is not None else ""
    if named.startswith("cuda"):
        import torch

        named += f" {torch.cuda.get_device_name(device)}"
    adapter = adapter_weights(model)
    out = {"weights": base_weights(model, cache), "adapter": adapter,
           "dtype": str(getattr(model, "dtype", "")), "device": named}
    if adapter is not None:  # peft computes what the adapter adds; without one its layers pass the base through
        out["peft"] = _version("peft")
    if tokenizer is not None:
        out["tokenizer"] = digest([getattr(tokenizer, "chat_template", None), len(tokenizer),
                                   getattr(tokenizer, "padding_side", None)])
    return out


def base_weights(model, cache: Cache | None = None) -> str:
    """A digest of the base weights: of the files in the folder they were loaded from, of the hub
    commit, or (neither known) of the parameters in memory, adapters left out. loop trains adapters
    only, so the base in memory is the base on disk."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    where = str(getattr(base, "name_or_path", "") or "")
    if where and Path(where).is_dir():
        return folder_digest(Path(where).resolve(), cache)
    commit = getattr(getattr(base, "config", None), "_commit_hash", None)
    if commit:
        return f"{where}@{commit}"
    return _parameters_digest((n, p) for n, p in base.named_parameters() if "lora_" not in n)


def folder_digest(folder: Path, cache: Cache | None = None) -> str:
    """sha256 over the files in a model folder (weights, config, tokenizer), known by the files' names,
    sizes and modification times (files rewritten in place are hashed again): kept in the cache and in
    this process, so a large model is hashed once."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    stamp = {"folder": str(folder), "files": [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]}
    key = digest(stamp)
    stored = cache.get("weights", key) if cache is not None and cache.on else _MISS
    known = stored if isinstance(stored, str) else _folders.get(key) or _files_digest(files)
    if cache is not None and known is not stored:
        cache.put("weights", key, known)
    _folders[key] = known
    return known


def _files_digest(files: list[Path]) -> str:
    total = hashlib.sha256()
    for path in files:
        one = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                one.update(block)
        total.update(f"{path.name}\0{one.hexdigest()}\n".encode())
    return total.hexdigest()


def adapter_weights(model) -> str | None:
    """A digest of the adapter weights active now (with their scaling); None when no adapter acts:
    none is loaded, they are disabled (the anchor's view), or LoRA's B is still all zero. The
    adapter's name is left out: a frozen copy of an adapter is the same judge."""
    active, configs = _active_adapters(model)
    if active is not None and not active:
        return None
    groups: dict[str, list] = {}  # adapter -> its (unnamed parameter name, parameter)
    for n, p in model.named_parameters():
        if "lora_" in n and (active is None or set(n.split(".")) & active):
            groups.setdefault(_adapter_of(n), []).append((_unnamed(n), p))
    lora = [item for group in groups.values() for item in group]
    dora = any(c.get("use_dora") for c in configs)
    if not lora or (not dora and all(_all_zero(p) for n, p in lora if "lora_B" in n or "lora_embedding_B" in n)):
        return None
    # Several adapters acting at once (a judge copy with a judging adapter) act as their sum: one digest
    # each, in an order of their own, so the stack's order does not matter.
    each = sorted(_parameters_digest(sorted(group, key=lambda item: item[0])) for group in groups.values())
    return digest([each[0] if len(each) == 1 else each, configs])


def _active_adapters(model) -> tuple[set[str] | None, list[dict]]:
    """(names of the adapters acting now, their scaling settings); None: not a peft model, count every
    LoRA parameter."""
    try:
        from peft.tuners.tuners_utils import BaseTunerLayer
    except ImportError:
        return None, []
    if not hasattr(model, "modules"):
        return None, []
    active: set[str] = set()
    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            active.update(module.merged_adapters)
            if not module.disable_adapters:
                active.update(module.active_adapters)
    configs = getattr(model, "peft_config", {})
    keep = ("r", "lora_alpha", "use_rslora", "use_dora")
    return active, [{k: getattr(configs[name], k, None) for k in keep} for name in sorted(active) if name in configs]


def _adapter_of(name: str) -> str:
    """The adapter a LoRA parameter belongs to ("...lora_A.default.weight" -> "default")."""
    parts = name.split(".")
    at = next((i for i, part in enumerate(parts) if part.startswith("lora_")), None)
    return parts[at + 1] if at is not None and at + 1 < len(parts) else ""


def _unnamed(name: str) -> str:
    """A LoRA parameter's name without its adapter's ("...lora_A.default.weight" -> "...lora_A.weight")."""
    parts = name.split(".")
    at = next((i for i, part in enumerate(parts) if part.startswith("lora_")), None)
    return ".".join(parts[:at + 1] + parts[at + 2:]) if at is not None else name


def _all_zero(p) -> bool:
    import torch

    return bool(torch.count_nonzero(p) == 0)


def _parameters_digest(named) -> str:
    import torch

    total = hashlib.sha256()
    for name, p in named:
        total.update(name.encode() + b"\0" + str(p.dtype).encode() + b"\0")
        # The raw bytes, whatever the dtype (numpy has no bfloat16).
        total.update(p.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return total.hexdigest()
