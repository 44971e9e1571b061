"""loop cache info | clear | export | import."""

from __future__ import annotations

import os

from loop.cli import command


def _open(args):
    """(the workspace's cache, why it is off or None). Reads loop.toml's [run] directly: loading the
    whole config imports TRL, seconds for a look."""
    from loop.cache import OFF_ENV, Cache
    from loop.config import CONFIG_FILE, RunSection
    from loop.datafile import read_toml
    from loop.workspace import open_workspace

    ws = open_workspace(args.workspace)
    data, _ = read_toml(ws.root / CONFIG_FILE, "config file")
    limit = (data.get("run") or {}).get("cache_mb", RunSection.cache_mb)
    limit = limit if isinstance(limit, (int, float)) else RunSection.cache_mb  # `loop check` says what is wrong
    off = (f"{OFF_ENV} is set" if os.environ.get(OFF_ENV, "") not in ("", "0")
           else "[run] cache_mb = 0" if limit <= 0 else None)
    return Cache(ws.cache_dir, limit if limit > 0 else RunSection.cache_mb), off


def _latest_reuse(args):
    """(run, round, {kind: {hits, misses}}) of the run's latest complete round that recorded its reuse."""
    from loop.ledger.queries import open_run

    ledger = open_run(args.workspace, args.run)
    if not ledger.exists():
        return None
    for n in reversed(ledger.complete_rounds()):
        # The judge's readings of labeled pairs are in round.json, the answers and judgments in metrics.json.
        reuse = {**ledger.round_info(n).get("cache", {}), **ledger.metrics(n).get("cache", {})}
        if reuse:
            return ledger.run, n, reuse
    return None


def info(args) -> int:
    """Where the content cache is, how many entries it holds by kind and their size, and what the
    run's latest round read back from it.

    The cache (<workspace>/.loop/cache/) keeps readings under a key of everything that decides them
    (model and adapter, templates, principle, the text read, settings, library versions): a second
    run, another seed's round 0 or a benchmark reads back what nothing changed. [run] cache_mb bounds
    its size (0: off); LOOP_NO_CACHE=1 turns it off for one command.
    """
    import json

    cache, off = _open(args)
    facts, reuse = cache.info(), _latest_reuse(args)
    if args.json:
        print(json.dumps({**facts, "off": off, "latest_round": None if reuse is None else
                          {"run": reuse[0], "round": reuse[1], "reuse": reuse[2]}}))
        return 0
    lines = [f"cache     {facts['where']}" + (f" (off: {off})" if off else ""),
             f"entries   {facts['entries']}, {facts['bytes'] / 2**20:.1f} MB of {facts['limit_bytes'] / 2**20:.0f} MB"]
    lines += [f"  {kind:<9} {k['entries']} entries, {k['bytes'] / 2**20:.1f} MB"
              for kind, k in sorted(facts["kinds"].items())]
    if reuse is not None:
        run, n, counts = reuse
        read = ", ".join(f"{kind} {c['hits']} of {c['hits'] + c['misses']}" for kind, c in sorted(counts.items()))
        lines.append(f"read back in round {n} of run '{run}': {read}")
    print("\n".join(lines))
    return 0


def clear(args) -> int:
    """Remove every entry of the content cache; the next run measures everything again."""
    cache, _ = _open(args)
    removed = cache.clear()
    print(f"removed {removed} entries from {cache.root}")
    return 0


def export(args) -> int:
    """Write the content cache's readings to FILE (JSONL), for another workspace's `loop cache import`.

    Every kind but "weights" (model folder digests, tied to this machine's paths) unless --kind names
    some. Readings are keyed by everything that decides them, the library versions and the thread
    count included, so another machine reads back only those its setup would compute alike.
    """
    from loop.cache_share import export_readings

    cache, _ = _open(args)
    count = export_readings(cache, args.file, args.kind or ())
    print(f"wrote {count} readings to {args.file}")
    return 0


def import_(args) -> int:
    """Read readings that `loop cache export` wrote into this workspace's content cache.

    A file made with other library versions or another thread count than this machine's is left
    out, and said so: its readings would never be read back here. An entry that does not check out
    (edited or cut) is an error naming the line.
    """
    from loop.cache_share import import_readings

    cache, off = _open(args)
    if off:
        print(f"the cache is off ({off}); nothing read in")
        return 0
    added, why = import_readings(cache, args.file)
    print(f"read in nothing: {args.file} was made with {why}" if why else f"read in {added} readings from {args.file}")
    return 0


def register(subparsers) -> None:
    group = subparsers.add_parser("cache", help="the content cache: readings nothing changed, read back")
    sub = group.add_subparsers(dest="verb", metavar="VERB", required=True)
    p = command(sub, "info", info)
    p.add_argument("--run", help="the run whose latest round's reuse is shown (default: loop.toml's [run] name)")
    p.add_argument("--json", action="store_true", help="print JSON")
    command(sub, "clear", clear)
    p = command(sub, "export", export)
    p.add_argument("file", metavar="FILE", help="the JSONL file to write")
    p.add_argument("--kind", nargs="+", metavar="KIND", help="only these kinds (pair, probe, gate, heldout, judgment)")
    p = command(sub, "import", import_)
    p.add_argument("file", metavar="FILE", help="a file `loop cache export` wrote")
