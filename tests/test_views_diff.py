"""`loop constitution diff --rounds A B`: the constitution and templates two rounds used."""

from __future__ import annotations

import pytest
from tests.helpers import run_cli
from tests.fixture_ledger import copy_fixture_ledger


@pytest.fixture
def ledger(workspace):
    return copy_fixture_ledger(workspace / "runs")


def test_diff_rounds_shows_version_principles_and_templates(ledger):
    code, out, _ = run_cli("constitution", "diff", "--rounds", "1", "3")
    assert code == 0
    assert "version: 1.2.0 -> 1.3.0" in out
    assert "principles/concise.toml (changed)" in out and "-max = 80" in out and "+max = 60" in out
    assert "principles/helpful.toml (changed)" in out
    assert "principles/honest.toml" not in out  # unchanged principles are left out
    assert "judge.jinja (changed)" in out and "+Think about the whole answer." in out
    assert "1 template changed" in out
    assert "round-001/constitution/principles/concise.toml" in out


def test_diff_rounds_same_constitution(ledger):
    code, out, _ = run_cli("constitution", "diff", "--rounds", "2", "3")
    assert code == 0 and "version 1.3.0, identical text" in out and "same version" not in out
    assert "concise.toml" not in out and "judge.jinja (changed)" in out


def test_diff_rounds_against_the_running_round(ledger):
    code, out, _ = run_cli("constitution", "diff", "--rounds", "3", "4")
    assert code == 0 and out.count("no differences") == 2


def test_diff_rounds_missing_round(ledger):
    code, _, err = run_cli("constitution", "diff", "--rounds", "1", "8")
    assert code == 2 and "run 'main' has no round 8; rounds: 1, 2, 3, 4" in err and err.count("\n") == 1


def test_diff_rounds_flags_changed_text_under_the_same_version(ledger):
    concise = ledger.round_dir(3) / "constitution" / "principles" / "concise.toml"
    concise.write_text(concise.read_text().replace("max = 60", "max = 40"))
    code, out, _ = run_cli("constitution", "diff", "--rounds", "2", "3")
    assert code == 0 and "version: 1.3.0 -> 1.3.0  (same version: bump it when principles change)" in out
    assert "+max = 40" in out
