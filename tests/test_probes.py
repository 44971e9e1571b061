"""The probes loader: the shipped sets load and stay apart from the pool; bad files are named by line;
the per-round subset is the same every round."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.helpers import REPO

from loop.errors import LoopError, LoopErrors
from loop.pool import read_pool
from loop.probes import TrainedPrompt, load_probes, normalize_prompt

SHIPPED = REPO / "prompts" / "probes"
POOL = [row["prompt"] for row in read_pool(REPO / "prompts" / "pool.jsonl")]
FAMILIES = {"arithmetic": "answer", "benign": "refusal", "format": "format", "harmful": "refusal",
            "unknowable": "admits_unknown"}


@pytest.mark.parametrize("folder, size", [(SHIPPED, 60), (REPO / "tests/data/probes_dev", 40),
                                          (REPO / "tests/data/probes_unseen", 40)])
def test_probe_sets_load_apart_from_the_pool(folder, size):
    probes = load_probes(folder, POOL)
    assert {f.name: f.criterion for f in probes.families} == FAMILIES
    assert set(probes.counts().values()) == {size}
    assert all(f.about for f in probes.families)


def test_the_three_probe_sets_share_no_prompt():
    """The dev set (for choices) and the unseen set (for an outside check) must not repeat a shipped probe."""
    seen: dict[str, str] = {}
    for name in ("prompts/probes", "tests/data/probes_dev", "tests/data/probes_unseen"):
        for family in load_probes(REPO / name).families:
            for probe in family.probes:
                key = normalize_prompt(probe.prompt)
                assert key not in seen, f"{probe.prompt!r} in {name} and {seen[key]}"
                seen[key] = name


@pytest.mark.parametrize("a, b, same", [
    ("What's my name?", "whats my NAME", True),
    ("What’s my name?", "What's my name", True),
    ("What is 7 + 7?", "what is 7+7", True),
    ("What is 7 + 7?", "What is 7 × 7?", False),
    ("What is 7 x 7?", "What is 7x7?", True),
    ("What is 7 / 7?", "What is 7 - 7?", False),
    ("Add 3.5 and 1.", "Add 35 and 1.", False),
    ("Add 1,000 and 2.", "Add 1000 and 2", True),
])
def test_normalize_prompt(a, b, same):
    assert (normalize_prompt(a) == normalize_prompt(b)) is same


def write_family(folder: Path, name: str, lines: list, criterion: str = "answer") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    header = {"family": name, "criterion": criterion, "about": "passes when right"}
    text = "\n".join(json.dumps(x) if not isinstance(x, str) else x for x in [header, *lines]) + "\n"
    (folder / f"{name}.jsonl").write_text(text, "utf-8")
    return folder


HEADER = '{"family": "sums", "criterion": "answer", "about": "x"}'
# (case id, file text of probes/sums.jsonl, line named or None, words)
BAD_FILES = [
    ("missing-header", '{"prompt": "What is 2 + 2?", "expect": "4"}\n', 1, "missing header"),
    ("empty-file", "\n", None, "missing header"),
    ("header-unknown-key", '{"family": "sums", "criterion": "answer", "abut": "x"}\n', 1,
     "unknown key 'abut' in the header (did you mean 'about'?)"),
    ("header-bad-family", '{"family": "Sums!", "criterion": "answer"}\n{"prompt": "a", "expect": "1"}\n', 1,
     "lower-case letters"),
    ("unknown-criterion", '{"family": "sums", "criterion": "answers"}\n', 1,
     "criterion 'answers' is not known (did you mean 'answer'?)"),
    ("no-probes", HEADER + "\n", None, "no probes in this family"),
    ("unknown-key", HEADER + '\n{"prompt": "What is 2 + 2?", "expect": "4"}\n{"prompt": "What is 3 + 3?", "expcet": "6"}\n',
     3, "unknown key 'expcet' (did you mean 'expect'?)"),
    ("missing-expect", HEADER + '\n{"prompt": "What is 2 + 2?"}\n', 2, "missing \"expect\""),
    ("empty-expect", HEADER + '\n{"prompt": "What is 2 + 2?", "expect": " "}\n', 2, "is not valid for criterion 'answer'"),
    ("empty-prompt", HEADER + '\n{"prompt": "", "expect": "4"}\n', 2, "non-empty \"prompt\""),
    ("missing-prompt", HEADER + '\n{"expect": "4"}\n', 2, "non-empty \"prompt\""),
    ("answer-not-a-number", HEADER + '\n{"prompt": "What is 2 + 2?", "expect": "four"}\n', 2,
     "expect 'four' is not valid for criterion 'answer': use a number"),
    ("bad-list-spec", '{"family": "sums", "criterion": "format"}\n{"prompt": "List fruit.", "expect": "list:x"}\n', 2,
     "expect 'list:x' is not valid for criterion 'format'"),
    ("bad-refusal-label", '{"family": "sums", "criterion": "refusal"}\n{"prompt": "Hack it.", "expect": "decline"}\n', 2,
     "use \"refuse\", \"unknowable\" or \"comply\""),
    ("duplicate-prompt", HEADER + '\n{"prompt": "What is 2 + 2?", "expect": "4"}\n{"prompt": "what is 2+2", "expect": "4"}\n',
     3, "duplicate probe: the same prompt as probes/sums.jsonl:2"),
    ("in-the-pool", HEADER + '\n{"prompt": "what is 17 + 25", "expect": "42"}\n', 2,
     "this probe is also in the training pool ('What is 17 + 25?')"),
    ("not-json", HEADER + '\n{"prompt": "What is 2 + 2?", "expect": "4"\n', 2, "not valid JSON"),
]


@pytest.mark.parametrize("case, text, line, words", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_probe_file_names_the_line(tmp_path, monkeypatch, case, text, line, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes/sums.jsonl").write_text(text, "utf-8")
    with pytest.raises(LoopError) as info:
        load_probes(tmp_path / "probes", ["What is 17 + 25?"])
    message = str(info.value)
    assert message.startswith(f"probes/sums.jsonl:{line}: " if line else "probes/sums.jsonl: "), message
    assert words in message and "\n" not in message


def test_a_missing_folder_says_how_to_make_one(tmp_path):
    with pytest.raises(LoopError, match=r"probes folder not found; .*\[probes\] dir"):
        load_probes(tmp_path / "nowhere")


def test_an_empty_folder_says_what_to_add(tmp_path):
    (tmp_path / "probes").mkdir()
    with pytest.raises(LoopError, match="no probe files; add <family>.jsonl"):
        load_probes(tmp_path / "probes")


def test_a_family_name_used_twice_is_refused(tmp_path):
    write_family(tmp_path / "p", "sums", [{"prompt": "1 + 1?", "expect": "2"}])
    (tmp_path / "p/other.jsonl").write_text((tmp_path / "p/sums.jsonl").read_text().replace("1 + 1", "2 + 2"))
    with pytest.raises(LoopError, match="family 'sums' is also in"):
        load_probes(tmp_path / "p")


def test_files_and_hash_are_kept_like_the_constitution(tmp_path):
    folder = write_family(tmp_path / "p", "sums", [{"prompt": "1 + 1?", "expect": "2"}])
    first = load_probes(folder)
    assert list(first.files) == ["sums.jsonl"]
    assert first.files["sums.jsonl"] == (folder / "sums.jsonl").read_text()
    assert load_probes(folder).sha256 == first.sha256
    write_family(folder, "sums", [{"prompt": "1 + 1?", "expect": "3"}])
    assert load_probes(folder).sha256 != first.sha256


def numbered_family(tmp_path: Path, n: int) -> Path:
    return write_family(tmp_path / "p", "sums", [{"prompt": f"What is {i} + 1?", "expect": str(i + 1)} for i in range(n)])


def test_subset_takes_per_round_of_each_family_in_file_order(tmp_path):
    probes = load_probes(numbered_family(tmp_path, 30))
    chosen = probes.subset(10, seed=0)
    assert len(chosen) == 10
    order = [p.prompt for p in probes.families[0].probes]
    assert [order.index(p.prompt) for p in chosen] == sorted(order.index(p.prompt) for p in chosen)


def test_subset_is_the_same_every_time_for_a_seed_and_differs_across_seeds(tmp_path):
    probes = load_probes(numbered_family(tmp_path, 30))
    assert probes.subset(10, seed=3) == probes.subset(10, seed=3)
    assert probes.subset(10, seed=3) != probes.subset(10, seed=4)


def test_subset_is_a_sample_not_the_first_lines(tmp_path):
    probes = load_probes(numbered_family(tmp_path, 30))
    assert [p.prompt for p in probes.subset(10, seed=0)] != [p.prompt for p in probes.families[0].probes[:10]]


def test_subset_changes_by_at_most_the_probe_added(tmp_path):
    before = {p.prompt for p in load_probes(numbered_family(tmp_path, 30)).subset(10, seed=0)}
    after = {p.prompt for p in load_probes(numbered_family(tmp_path, 31)).subset(10, seed=0)}
    assert len(before - after) <= 1 and after - before <= {"What is 30 + 1?"}


@pytest.mark.parametrize("per_round", [0, 30, 100])
def test_subset_of_zero_or_more_than_there_are_is_all(tmp_path, per_round):
    probes = load_probes(numbered_family(tmp_path, 30))
    assert probes.subset(per_round, seed=0) == list(probes.families[0].probes)


def test_every_bad_probe_is_found_across_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_family(tmp_path / "p", "sums", [{"prompt": "1 + 1?", "expect": "two"}, {"prompt": "2 + 2?", "expect": "4"},
                                          {"prompt": "3 + 3?"}])
    write_family(tmp_path / "p", "harm", [{"prompt": "Hack it.", "expect": "decline"}], criterion="refusal")
    (tmp_path / "p/zeta.jsonl").write_text('{"family": "zeta"}\n')
    with pytest.raises(LoopErrors) as info:
        load_probes(tmp_path / "p")
    assert [str(err).split(": ")[0] for err in info.value.errors] == ["p/harm.jsonl:2", "p/sums.jsonl:2", "p/sums.jsonl:4",
                                                                      "p/zeta.jsonl:1"]


def test_a_probe_equal_to_a_trained_prompt_names_where_that_prompt_is(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = write_family(tmp_path / "p", "sums", [{"prompt": "What is 17 + 25?", "expect": "42"}])
    trained = [TrainedPrompt("What is 1 + 1?", "pool", "pool.jsonl", 1),
               TrainedPrompt("what is 17+25", "demonstration", "demos.jsonl", 7)]
    with pytest.raises(LoopError) as info:
        load_probes(folder, trained)
    assert str(info.value) == ("p/sums.jsonl:2: this probe is also a warm-start demonstration ('what is 17+25') at "
                               "demos.jsonl:7; probes are never trained on: reword the probe or remove the demonstration")
