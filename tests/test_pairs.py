"""Labeled pairs ship with the constitution (constitution/pairs/): validated on load with the file and
line, hashed and snapshotted with it, copied by `loop init`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.helpers import REPO

from loop.constitution import load_constitution
from loop.errors import LoopError

JUDGED = ["faithful", "harmless", "helpful", "honest", "polite"]
LINE = {"prompt": "Hi", "chosen": "Hello! How can I help?", "rejected": "What now.", "principle": "polite"}


@pytest.fixture
def root(tmp_path) -> Path:
    return Path(shutil.copytree(REPO / "constitution", tmp_path / "c"))


def write(path: Path, *lines: dict) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def test_every_judged_principle_ships_a_reliability_and_a_train_split():
    constitution = load_constitution(REPO / "constitution")
    for pid in JUDGED:
        assert len(constitution.pairs(pid)) >= 40, pid
        assert len(constitution.pairs(pid, "train")) >= 40, pid
        assert not {p.key for p in constitution.pairs(pid)} & {p.key for p in constitution.pairs(pid, "train")}, pid


def test_a_pair_knows_its_file_and_line():
    pair = load_constitution(REPO / "constitution").pairs("honest")[2]
    assert pair.line == 3 and pair.path.endswith("honest.jsonl") and pair.principle == "honest"


def test_init_copies_the_pairs(workspace):
    def keys(root):
        return [p.key for p in load_constitution(root).pairs("polite")]

    assert keys(workspace / "constitution") == keys(REPO / "constitution")


def test_a_principle_without_pairs_has_none(root):
    (root / "pairs/polite.jsonl").unlink()
    assert load_constitution(root).pairs("polite") == ()


@pytest.mark.parametrize("name, lines, message", [
    ("kind.jsonl", [LINE], "pairs for 'kind', which is no principle of this constitution"),
    ("polite.test.jsonl", [LINE], "a pairs file is named <principle id>.jsonl"),
    ("notes.txt", [LINE], "a pairs file is named <principle id>.jsonl"),
    ("polite.jsonl", [LINE, {**LINE, "principle": "honest"}], "polite.jsonl:2: principle 'honest' disagrees"),
    ("polite.jsonl", [{**LINE, "rating": 3}], "polite.jsonl:1: unknown key 'rating'"),
    ("polite.jsonl", [{k: v for k, v in LINE.items() if k != "principle"} | {"principle_text": "Be kind."}],
     "polite.jsonl:1: 'principle_text' has no place in a file named for principle 'polite'"),
    ("polite.train.jsonl", [{k: v for k, v in LINE.items() if k != "chosen"}], "polite.train.jsonl:1: missing key 'chosen'"),
])
def test_bad_pairs_files_are_refused_with_the_file_and_line(root, name, lines, message):
    write(root / "pairs" / name, *lines)
    with pytest.raises(LoopError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_constitution(root)


def test_a_pair_in_both_splits_is_refused(root):
    shared = (root / "pairs/polite.jsonl").read_text("utf-8").splitlines()[3]
    with (root / "pairs/polite.train.jsonl").open("a", encoding="utf-8") as f:
        f.write(shared + "\n")
    line = len((root / "pairs/polite.train.jsonl").read_text("utf-8").splitlines())
    with pytest.raises(LoopError, match=rf"polite.train.jsonl:{line}: this pair is also line 4 of polite.jsonl, "
                                        "the split that measures the judge; delete it from one of the two files"):
        load_constitution(root)


def test_a_file_named_for_its_principle_may_leave_the_principle_out(root):
    write(root / "pairs/polite.jsonl", {k: v for k, v in LINE.items() if k != "principle"})
    [pair] = load_constitution(root).pairs("polite")
    assert pair.principle == "polite"


def test_the_pairs_are_snapshotted_with_the_constitution(root):
    constitution = load_constitution(root)
    assert constitution.files["pairs/honest.jsonl"] == (root / "pairs/honest.jsonl").read_text()
    assert "pairs/honest.train.jsonl" in constitution.files
