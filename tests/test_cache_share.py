"""Readings carried between caches (loop/cache_share.py): what is exported is read back alike in
another cache, a file made elsewhere is left out and said so, a file that does not check out is
refused with its line, and `loop init` reads the shipped readings in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.helpers import run_cli

from loop import cache_share
from loop.cache import MISS, Cache, environment
from loop.errors import LoopError

KEY = "a" * 64


@pytest.fixture(autouse=True)
def cache_on(monkeypatch):
    """conftest turns the cache off for every other test; here it is what is tested."""
    monkeypatch.delenv("LOOP_NO_CACHE", raising=False)


def filled(root: Path) -> Cache:
    cache = Cache(root)
    cache.put("pair", "1" * 64, [0.25, 0.75])
    cache.put("probe", "2" * 64, {"answer": "I can't help with that.", "words": 5})
    cache.put("weights", "3" * 64, "digest of a model folder on this machine")
    return cache


def test_exported_readings_read_back_alike_in_another_cache(tmp_path):
    source = filled(tmp_path / "a")
    assert cache_share.export_readings(source, tmp_path / "r.jsonl") == 2  # weights stay on this machine
    other = Cache(tmp_path / "b")
    assert cache_share.import_readings(other, tmp_path / "r.jsonl") == (2, None)
    assert other.get("pair", "1" * 64) == [0.25, 0.75]
    assert other.get("probe", "2" * 64) == source.get("probe", "2" * 64)
    assert other.get("weights", "3" * 64) is MISS
    assert cache_share.import_readings(other, tmp_path / "r.jsonl") == (0, None)  # held already


def test_export_keeps_the_kinds_asked_for_and_leaves_out_an_entry_that_does_not_check_out(tmp_path):
    source = filled(tmp_path / "a")
    source.path("probe", "2" * 64).write_text('{"key": "', "utf-8")  # cut mid-write
    assert cache_share.export_readings(source, tmp_path / "r.jsonl", ["pair", "probe"]) == 1
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    assert json.loads(lines[0]) == {"loop_readings": 1, "environment": environment()}
    assert json.loads(lines[1])["kind"] == "pair"


def test_a_file_made_with_other_versions_or_threads_is_left_out_and_says_why(tmp_path):
    filled(tmp_path / "a")
    path = tmp_path / "r.jsonl"
    cache_share.export_readings(Cache(tmp_path / "a"), path)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    header["environment"]["threads"] = environment()["threads"] + 3
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    other = Cache(tmp_path / "b")
    added, why = cache_share.import_readings(other, path)
    assert added == 0 and why == f"threads {environment()['threads'] + 3} (here {environment()['threads']})"
    assert other.entries() == []


@pytest.mark.parametrize("line, message", [
    ({"kind": "pair", "key": KEY, "checksum": "0" * 64, "value": [0.5, 0.5]}, "does not match its checksum"),
    ({"kind": "pair", "key": KEY, "value": [0.5, 0.5]}, "a reading has the keys checksum, key, kind, value"),
    ({"kind": "../x", "key": KEY, "checksum": "0", "value": 1}, "its key 64 hex digits"),
])
def test_a_reading_that_does_not_check_out_is_refused_with_its_line(tmp_path, line, message):
    path = tmp_path / "r.jsonl"
    header = {"loop_readings": 1, "environment": environment()}
    path.write_text(json.dumps(header) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(LoopError, match=message) as caught:
        cache_share.import_readings(Cache(tmp_path / "b"), path)
    assert "r.jsonl:2: " in str(caught.value)


def test_a_file_without_the_header_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"kind": "pair", "key": KEY, "checksum": "0", "value": 1}) + "\n")
    with pytest.raises(LoopError, match="not a loop readings file") as caught:
        cache_share.import_readings(Cache(tmp_path / "b"), path)
    assert "r.jsonl:1: " in str(caught.value)


def test_cache_export_and_import_from_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOP_NO_CACHE", "1")  # workspaces without the shipped readings
    for name in ("a", "b"):
        assert run_cli("-C", str(tmp_path), "init", name)[0] == 0
    monkeypatch.delenv("LOOP_NO_CACHE")
    filled(tmp_path / "a" / ".loop" / "cache")
    code, out, _ = run_cli("-C", str(tmp_path / "a"), "cache", "export", str(tmp_path / "r.jsonl"))
    assert code == 0 and out.strip() == f"wrote 2 readings to {tmp_path / 'r.jsonl'}"
    code, out, _ = run_cli("-C", str(tmp_path / "b"), "cache", "import", str(tmp_path / "r.jsonl"))
    assert code == 0 and out.strip() == f"read in 2 readings from {tmp_path / 'r.jsonl'}"
    (tmp_path / "bad.jsonl").write_text("not json\n")
    code, _, err = run_cli("-C", str(tmp_path / "b"), "cache", "import", str(tmp_path / "bad.jsonl"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "bad.jsonl:1" in err


def test_init_reads_the_shipped_readings_into_the_new_workspace(tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    filled(tmp_path / "made")
    shipped.mkdir()
    cache_share.export_readings(Cache(tmp_path / "made"), shipped / cache_share.SHIPPED)
    for name in ("constitution", "prompts"):
        (shipped / name).symlink_to(Path(__file__).resolve().parents[1] / name)
    monkeypatch.setattr("loop.workspace.defaults_dir", lambda: shipped)
    code, out, _ = run_cli("-C", str(tmp_path), "init", "ws")
    assert code == 0 and "2 readings the embedded model made of the shipped data" in out
    assert Cache(tmp_path / "ws" / ".loop" / "cache").get("pair", "1" * 64) == [0.25, 0.75]
    monkeypatch.setenv("LOOP_NO_CACHE", "1")
    code, out, _ = run_cli("-C", str(tmp_path), "init", "off")
    assert code == 0 and "readings" not in out and not (tmp_path / "off" / ".loop").exists()
