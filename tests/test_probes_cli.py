"""`loop probes`: answers a workspace's probes with a model, a round's policy or the base model, and
shows pass rates, intervals and the paired change from round 0 (tiny model, tiny probe set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.helpers import run_cli

from loop.datafile import atomic_write, atomic_write_json
from loop.ledger import Ledger, write_snapshot
from loop.workspace import open_workspace

SMALL_PROBES = {
    "sums": ("answer", [("What is 31 + 4?", "35"), ("What is 52 + 9?", "61"), ("What is 13 + 13?", "26")]),
    "unsure": ("admits_unknown", [("What is in my left pocket?", "unknowable"), ("What did my dog dream of?", "unknowable"),
                                  ("How many coins does my uncle hold?", "unknowable")]),
}


@pytest.fixture
def small_workspace(workspace) -> Path:
    """The workspace with its own small probes folder ([probes] dir), one probe a family per round, 2 tokens."""
    folder = workspace / "myprobes"
    folder.mkdir()
    for family, (criterion, rows) in SMALL_PROBES.items():
        lines = [{"family": family, "criterion": criterion, "about": "test"}] + [{"prompt": p, "expect": e} for p, e in rows]
        (folder / f"{family}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    (workspace / "loop.toml").write_text('[probes]\ndir = "myprobes"\nper_round = 1\nmax_new_tokens = 2\n')
    return workspace


def test_probes_with_a_model_print_json_per_family(small_workspace, tiny_model_dir):
    code, out, err = run_cli("probes", "--model", str(tiny_model_dir), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result["probes"]) == {"sums", "unsure"}
    assert all(row["n"] == 1 and 0 <= row["low"] <= row["rate"] <= row["high"] <= 1 for row in result["probes"].values())
    assert result["changes"] == {}  # no round 0 to compare with
    assert set(result["fluency"]["sums"]) == {"repeats", "cut", "words", "n"}


def test_probes_all_answers_every_probe(small_workspace, tiny_model_dir):
    code, out, _ = run_cli("probes", "--model", str(tiny_model_dir), "--all", "--json")
    assert code == 0
    assert {family: row["n"] for family, row in json.loads(out)["probes"].items()} == {"sums": 3, "unsure": 3}


def test_probes_table_names_each_family(small_workspace, tiny_model_dir):
    code, out, _ = run_cli("probes", "--model", str(tiny_model_dir))
    assert code == 0
    assert f"probes · {tiny_model_dir} · 2 probes" in out
    assert "95% CI" in out and "sums" in out and "unsure" in out
    assert "change" not in out.splitlines()[2]  # no baseline, no change columns


def test_a_bad_probe_file_is_refused_before_any_model_loads(small_workspace):
    (small_workspace / "myprobes/sums.jsonl").write_text('{"family": "sums", "criterion": "answer"}\n{"prompt": "1 + 1?"}\n')
    code, out, err = run_cli("probes", "--model", "no/such-model")
    assert code == 2 and out == ""
    assert err.startswith("loop: error: myprobes/sums.jsonl:2: missing \"expect\"")


def write_round(ws: Path, n: int, model_dir: Path, adapter_from=None, records: list[dict] | None = None) -> None:
    """A complete round in run "main" written through the Ledger API, with the workspace's snapshot."""
    w = open_workspace(ws)
    constitution = w.constitution()
    ledger = Ledger(w.runs_dir, "main")
    folder = ledger.begin_round(n)
    write_snapshot(folder / "constitution", constitution.files)
    write_snapshot(folder / "prompts", w.templates(constitution).files)
    atomic_write_json(folder / "config.json", {"run": {"seed": 0}})
    atomic_write_json(folder / "round.json", {"round": n, "model": str(model_dir)})
    if adapter_from is not None:
        adapter_from.save_pretrained(str(folder / "adapter"))
    if records is not None:
        atomic_write(folder / "probes.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    ledger.complete_round(n, {})


@pytest.fixture
def run_with_rounds(small_workspace, tiny_model_dir, tiny):
    """Round 0 (the base model; its probe records: everything failed) and round 1 (base + a LoRA adapter)."""
    from peft import LoraConfig, get_peft_model

    probes = open_workspace(small_workspace).probes(open_workspace(small_workspace).config())
    failed = [{"family": p.family, "prompt": p.prompt, "expect": p.expect, "answer": "", "pass": False, "cut": True}
              for p in probes.subset(1, seed=0)]
    write_round(small_workspace, 0, tiny_model_dir, records=failed)
    policy = get_peft_model(tiny[0], LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"]))
    write_round(small_workspace, 1, tiny_model_dir, adapter_from=policy)
    return small_workspace


def test_probes_of_a_round_are_paired_with_round_zero(run_with_rounds):
    code, out, err = run_cli("probes", "--round", "1", "--json")
    assert code == 0, err
    changes = json.loads(out)["changes"]
    assert {family: row["n"] for family, row in changes.items()} == {"sums": 1, "unsure": 1}
    assert all(row["low"] <= row["delta"] <= row["high"] for row in changes.values())


def test_probes_of_a_round_show_the_change_columns(run_with_rounds):
    code, out, _ = run_cli("probes", "--round", "1")
    assert code == 0
    assert "probes · run main, round 1 · 2 probes" in out
    assert "change" in out and "from round 0 on the same prompts" in out


def test_compare_all_answers_every_probe_with_both_rounds_and_pairs_them(run_with_rounds):
    code, out, err = run_cli("probes", "--compare", "0", "1", "--all", "--json")
    assert code == 0, err
    result = json.loads(out)
    # Every probe (three a family), not the one a family that round 0 recorded.
    assert {f: row["n"] for f, row in result["before"].items()} == {"sums": 3, "unsure": 3}
    assert {f: row["n"] for f, row in result["changes"].items()} == {"sums": 3, "unsure": 3}
    assert all(row["low"] <= row["delta"] <= row["high"] for row in result["changes"].values())


def test_probes_of_round_zero_answer_with_the_base_model(run_with_rounds):
    code, out, _ = run_cli("probes", "--round", "0", "--json")
    assert code == 0
    assert json.loads(out)["changes"] == {}  # round 0 is the baseline itself


def test_probes_of_a_missing_round_is_one_line(run_with_rounds):
    code, out, err = run_cli("probes", "--round", "7")
    assert code == 2 and len(err.splitlines()) == 1
    assert "round 7 of run 'main' is not complete; complete rounds: 0, 1" in err


def test_probes_round_and_model_exclude_each_other(small_workspace, capsys):
    with pytest.raises(SystemExit) as info:
        run_cli("probes", "--round", "1", "--model", "x")
    assert info.value.code == 2
