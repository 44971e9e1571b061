"""The best round is the one whose probes pass most often; `loop export --best` exports it."""

from __future__ import annotations

from tests.helpers import run_cli

from loop.datafile import atomic_write_json
from loop.ledger import Ledger


def ledger_with(tmp_path, passes: dict[int, float | None]) -> Ledger:
    ledger = Ledger(tmp_path / "runs", "main")
    rounds = [{"round": n, "status": "complete", "summary": {"probe_pass": p}} for n, p in passes.items()]
    atomic_write_json(ledger.path / "index.json", {"run": "main", "rounds": rounds})
    return ledger


def test_the_best_round_has_the_highest_mean_probe_pass_rate(tmp_path):
    assert ledger_with(tmp_path, {0: 0.4, 1: 0.7, 2: 0.6}).best_round() == 1


def test_a_tie_goes_to_the_earlier_round(tmp_path):
    assert ledger_with(tmp_path, {0: 0.4, 1: 0.7, 2: 0.7}).best_round() == 1


def test_rounds_without_probes_are_never_best(tmp_path):
    assert ledger_with(tmp_path, {1: None, 2: None}).best_round() is None


def test_export_best_without_probes_is_one_line(workspace, tmp_path):
    ledger_with(workspace, {1: None})
    code, _, err = run_cli("export", "--best", str(tmp_path / "out"))
    assert code == 2 and "no round with probes yet" in err and len(err.strip().splitlines()) == 1


def test_export_needs_a_round_or_best(workspace, tmp_path):
    ledger_with(workspace, {1: 0.5})
    code, _, err = run_cli("export", str(tmp_path / "out"))
    assert code == 2 and "--round N or --best" in err
