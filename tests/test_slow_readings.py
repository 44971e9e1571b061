"""The shipped readings (loop/defaults/readings.jsonl) are what round 0 of a fresh workspace reads on
the embedded model: a first run reads them back instead of measuring them."""

from __future__ import annotations

import json

import pytest
from tests.helpers import run_cli

from loop.cache import environment
from loop.cache_share import SHIPPED
from loop.workspace import defaults_dir

pytestmark = pytest.mark.slow


def test_round_zero_of_a_new_workspace_reads_the_shipped_readings_back(tmp_path, monkeypatch):
    header = json.loads((defaults_dir() / SHIPPED).read_text().splitlines()[0])
    if header["environment"] != environment():
        pytest.skip(f"the shipped readings were made with {header['environment']}, this machine has {environment()}")
    monkeypatch.delenv("LOOP_NO_CACHE", raising=False)
    assert run_cli("-C", str(tmp_path), "init", "ws")[0] == 0
    code, _, err = run_cli("-C", str(tmp_path / "ws"), "run", "--rounds", "0", "--json")
    assert code == 0, err
    folder = tmp_path / "ws" / "runs" / "main" / "round-000"
    reuse = {**json.loads((folder / "round.json").read_text())["cache"],
             **json.loads((folder / "metrics.json").read_text())["cache"]}
    # Regenerate after editing shipped data: `loop init w && loop -C w run --rounds 0 && loop -C w cache
    # export loop/defaults/readings.jsonl` on the machine the file is for.
    assert {kind: c["misses"] for kind, c in reuse.items()} == {kind: 0 for kind in reuse}
    assert set(reuse) == {"pair", "probe", "gate", "heldout", "judgment"}
