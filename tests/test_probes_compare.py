"""`loop probes --compare A B`: any two rounds' recorded answers (probes.jsonl, or gate.jsonl with --gate),
per family: both pass rates and the change paired on the prompts both answered, with its interval.
No model loads: it reads the ledger."""

from __future__ import annotations

import json

import pytest
from tests.fixture_ledger import add_gate_and_sampling, copy_fixture_ledger
from tests.helpers import run_cli

from loop.ledger import append_jsonl
from loop.stats import paired_change


@pytest.fixture
def ledger(workspace):
    ledger = copy_fixture_ledger(workspace / "runs")
    add_gate_and_sampling(ledger)
    return ledger


def probe(family: str, i: int, passed: bool) -> dict:
    return {"family": family, "prompt": f"{family} {i}", "expect": "x", "answer": "...", "pass": passed, "cut": False}


@pytest.fixture
def probed(ledger):
    """probes.jsonl in rounds 1 and 3: round 1 answered sums 0-9 and only round 1 answered "shapes"; round 3
    answered sums 5-14 (five prompts in common) and only round 3 answered "colours"."""
    append_jsonl(ledger.complete_dir(1) / "probes.jsonl",
                 [probe("sums", i, i < 3) for i in range(10)] + [probe("shapes", i, True) for i in range(4)])
    append_jsonl(ledger.complete_dir(3) / "probes.jsonl",
                 [probe("sums", i, True) for i in range(5, 15)] + [probe("colours", i, False) for i in range(6)])
    return ledger


def cells(out: str, family: str) -> list[str]:
    return next(line.split() for line in out.splitlines() if line.split()[:1] == [family])


def test_the_gate_answers_of_two_rounds_are_paired_per_family(ledger):
    code, out, err = run_cli("probes", "--compare", "2", "3", "--gate")
    assert (code, err) == (0, "")
    assert "gate set · run main, round 2 → round 3" in out
    assert cells(out, "benign") == ["benign", "0.90", "20", "0.75", "20", "-0.15", "[-0.34,", "+0.02]", "20"]
    assert cells(out, "harmful")[1:6] == ["0.70", "20", "1.00", "20", "+0.30"]
    assert "mean over families: round 2 0.70, round 3 0.85" in out  # the gate's own rates


def test_compare_json_gives_both_rounds_and_the_paired_change(ledger):
    code, out, _ = run_cli("probes", "--compare", "1", "2", "--gate", "--json")
    result = json.loads(out)
    assert code == 0 and result["rounds"] == [1, 2] and result["set"] == "gate"
    assert result["before"]["unknowable"]["rate"] == 0.4 and result["after"]["unknowable"]["rate"] == 0.5
    before, after = [i < 12 for i in range(20)], [i < 18 for i in range(20)]
    assert result["changes"]["benign"] == dict(zip(("delta", "low", "high", "n"), paired_change(before, after)))


def test_probes_are_paired_on_the_prompts_both_rounds_answered(probed):
    code, out, err = run_cli("probes", "--compare", "1", "3")
    assert (code, err) == (0, "")
    assert "probes · run main, round 1 → round 3" in out
    # sums: rates on each round's own ten; the change on the five in common (sums 5-9: failed, then passed)
    assert cells(out, "sums")[:6] == ["sums", "0.30", "10", "1.00", "10", "+1.00"] and cells(out, "sums")[-1] == "5"
    assert cells(out, "shapes") == ["shapes", "1.00", "4", "–", "–", "0"]  # answered by round 1 only
    assert cells(out, "colours") == ["colours", "–", "0.00", "6", "–", "0"]


def test_compare_json_leaves_out_families_with_nothing_in_common(probed):
    result = json.loads(run_cli("probes", "--compare", "1", "3", "--json")[1])
    assert result["set"] == "probes" and set(result["changes"]) == {"sums"} and result["changes"]["sums"]["n"] == 5
    assert set(result["before"]) == {"sums", "shapes"} and set(result["after"]) == {"sums", "colours"}


@pytest.mark.parametrize("args, words", [
    (["--compare", "1", "2"], "round 1 of run 'main' recorded no probe answers"),
    (["--compare", "2", "4", "--gate"], "round 4 of run 'main' is not complete (running)"),
    (["--compare", "2", "9", "--gate"], "round 9 of run 'main' does not exist"),
    (["--gate"], "--gate reads recorded gate answers: give --compare A B as well"),
    (["--compare", "1", "2", "--all", "--gate"], "leave --all out with --gate"),
    (["--compare", "1", "2", "--run", "mian"], "no run 'mian' yet; runs: main"),
])
def test_what_cannot_be_compared_is_one_line(ledger, args, words):
    code, out, err = run_cli("probes", *args)
    assert (code, out) == (2, "") and len(err.splitlines()) == 1 and words in err


def test_compare_excludes_round_and_model(ledger):
    with pytest.raises(SystemExit) as info:
        run_cli("probes", "--compare", "1", "2", "--round", "1")
    assert info.value.code == 2
