"""The prompt pool: the shipped one is big enough and loads both ways; bad lines are named."""

from __future__ import annotations

import json

import pytest
from tests.helpers import REPO

from loop.constitution import load_constitution
from loop.criteria import expect_error
from loop.errors import LoopError, LoopErrors, Problems
from loop.pool import BASE_KEYS, allowed_columns, load_pool, read_pool

SHIPPED = REPO / "prompts" / "pool.jsonl"


def test_shipped_pool_loads_with_datasets_load_dataset(tmp_path):
    from datasets import load_dataset

    dataset = load_dataset("json", data_files=str(SHIPPED), split="train", cache_dir=str(tmp_path))
    assert len(dataset) >= 200
    assert set(dataset.column_names) <= BASE_KEYS and "prompt" in dataset.column_names
    assert all(p.strip() for p in dataset["prompt"])


def test_shipped_pool_loads_with_load_pool():
    constitution = load_constitution(REPO / "constitution")
    pool = load_pool(SHIPPED, constitution)
    assert len(pool) >= 200
    assert len(set(pool["prompt"])) == len(pool)  # no duplicate prompts
    numeric = [a for a in pool["answer"] if a is not None]
    assert len(numeric) >= 20
    assert all(float(a) == float(a) for a in numeric)  # every answer given is a number
    answered = pool.filter(lambda row: row["answer"] is not None)[0]
    assert answered["category"] == "arithmetic"


@pytest.mark.parametrize("criterion, at_least", [("refusal", 40), ("admits_unknown", 40), ("format", 40)])
def test_shipped_pool_labels_rows_for_each_label_check(criterion, at_least):
    """Enough labeled rows that a round's slice meets each label-reading check, and every label is one
    its check reads (a label no check reads would be "could not check" on every sample)."""
    rows = read_pool(SHIPPED)
    labeled = [r for r in rows if r["expect"] is not None and expect_error(criterion, r["expect"]) is None]
    assert len(labeled) >= at_least
    checkable = {"refusal", "admits_unknown", "format"}
    assert all(any(expect_error(c, r["expect"]) is None for c in checkable) for r in rows if r["expect"] is not None)


def test_answers_become_text_so_arrow_holds_one_type(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text('{"prompt": "1 + 1?", "answer": 2}\n{"prompt": "Half of 3?", "answer": 1.5}\n'
                    '{"prompt": "Hi"}\n{"prompt": "Name?", "answer": "Ada"}\n')
    pool = load_pool(path)
    assert pool["answer"] == ["2", "1.5", None, "Ada"]
    assert pool["category"] == [None, None, None, None]


def test_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text('\n{"prompt": "a"}\n   \n{"prompt": "b"}\n\n')
    assert [row["prompt"] for row in read_pool(path)] == ["a", "b"]


def test_a_column_named_by_an_answer_check_is_allowed(tmp_path):
    root = tmp_path / "c"
    import shutil

    shutil.copytree(REPO / "constitution", root)
    correct = root / "principles/correct.toml"
    correct.write_text(correct.read_text().replace('column = "answer"', 'column = "solution"'))
    constitution = load_constitution(root)
    assert allowed_columns(constitution) == BASE_KEYS | {"solution"}
    path = tmp_path / "pool.jsonl"
    path.write_text('{"prompt": "1 + 1?", "solution": 2}\n')
    assert read_pool(path, constitution) == [{"prompt": "1 + 1?", "solution": "2", "answer": None, "expect": None,
                                              "category": None, "twin": None, "reference": None}]
    with pytest.raises(LoopError, match="unknown key 'solution'"):
        read_pool(path)  # without that constitution, the column is a typo


def test_a_column_named_by_a_label_check_is_allowed(tmp_path):
    root = tmp_path / "c"
    import shutil

    shutil.copytree(REPO / "constitution", root)
    (root / "principles/refuse.toml").write_text('id = "refuse"\ntitle = "Refuses"\ntext = "t"\n'
                                                 '[check]\ntype = "refusal"\ncolumn = "should"\n')
    assert allowed_columns(load_constitution(root)) == BASE_KEYS | {"should"}


def test_expect_is_a_base_column(tmp_path):
    path = tmp_path / "pool.jsonl"
    path.write_text('{"prompt": "How do I pick a lock?", "expect": "refuse"}\n{"prompt": "Hi"}\n')
    assert load_pool(path)["expect"] == ["refuse", None]


# (case id, file content, line named or None, words)
BAD_POOLS = [
    ("malformed-json", '{"prompt": "a"}\n{"prompt": "b"\n', 2, "not valid JSON"),
    ("trailing-comma", '{"prompt": "a",}\n', 1, "not valid JSON"),
    ("not-an-object", '{"prompt": "a"}\n"just a string"\n', 2, "expected a JSON object"),
    ("missing-prompt", '{"prompt": "a"}\n{"answer": "4"}\n', 2, "needs a non-empty \"prompt\""),
    ("prompt-not-text", '{"prompt": 4}\n', 1, "needs a non-empty \"prompt\""),
    ("empty-prompt", '{"prompt": ""}\n', 1, "needs a non-empty \"prompt\""),
    ("unknown-key", '{"prompt": "a"}\n{"prompt": "b"}\n{"prompt": "c", "catgory": "x"}\n', 3,
     "unknown key 'catgory' (did you mean 'category'?)"),
    ("nested-answer", '{"prompt": "a", "answer": [1, 2]}\n', 1, "'answer' must be a string or a number"),
    ("empty-file", "\n\n", None, "the prompt pool is empty"),
]


@pytest.mark.parametrize("case, content, line, words", BAD_POOLS, ids=[c[0] for c in BAD_POOLS])
def test_bad_pool_names_the_line(tmp_path, monkeypatch, case, content, line, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pool.jsonl").write_text(content)
    with pytest.raises(LoopError) as info:
        read_pool(tmp_path / "pool.jsonl")
    message = str(info.value)
    assert message.startswith(f"pool.jsonl:{line}: " if line else "pool.jsonl: "), message
    assert words in message


def test_shipped_pool_lines_are_one_object_each():
    lines = [line for line in SHIPPED.read_text("utf-8").splitlines() if line.strip()]
    rows = [json.loads(line) for line in lines]
    assert len(rows) == len(lines) >= 200
    assert {key for row in rows for key in row} <= BASE_KEYS


def test_every_bad_line_is_found_and_the_good_ones_kept(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pool.jsonl").write_text('{"prompt": "a", "expect": "complies"}\n{"prompt": "b"\n{"prompt": "c"}\n'
                                         '{"prompt": "d", "expect": "list:3"}\n{"prompt": "", "expect": "refuse"}\n')
    with pytest.raises(LoopErrors) as info:
        read_pool(tmp_path / "pool.jsonl")
    assert [str(err).split(": ")[0] for err in info.value.errors] == ["pool.jsonl:1", "pool.jsonl:2", "pool.jsonl:5"]
    problems = Problems()
    assert [row["prompt"] for row in read_pool(tmp_path / "pool.jsonl", problems=problems)] == ["c", "d"]
    assert len(problems.errors) == 3


# (case id, pool line, words): labels no rule reads, answers the answer check cannot compare.
BAD_LABELS = [
    ("expect-unknown", '{"prompt": "a", "expect": "complies"}', "'expect' 'complies' is not a known label (did you mean 'comply'?)"),
    ("expect-bad-format", '{"prompt": "a", "expect": "list:0"}', "'expect' 'list:0' is not a known label"),
    ("expect-a-number", '{"prompt": "a", "expect": 3}', "'expect' '3' is not a known label"),
    ("answer-words", '{"prompt": "a", "answer": "twelve"}', "'answer' 'twelve' is not a number"),
    ("answer-empty", '{"prompt": "a", "answer": " "}', "'answer' is empty"),
]


@pytest.mark.parametrize("case, line, words", BAD_LABELS, ids=[c[0] for c in BAD_LABELS])
def test_labels_and_answers_are_ones_the_rules_read(tmp_path, monkeypatch, case, line, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pool.jsonl").write_text('{"prompt": "ok", "expect": "max_words:5", "answer": "1,000"}\n' + line + "\n")
    with pytest.raises(LoopError) as info:
        read_pool(tmp_path / "pool.jsonl", load_constitution(REPO / "constitution"))
    assert str(info.value).startswith("pool.jsonl:2: ") and words in str(info.value)


def test_an_answer_is_read_in_its_checks_mode(tmp_path):
    root = tmp_path / "c"
    import shutil

    shutil.copytree(REPO / "constitution", root)
    correct = root / "principles/correct.toml"
    correct.write_text(correct.read_text().replace('mode = "numeric"', 'mode = "exact"'))
    (tmp_path / "pool.jsonl").write_text('{"prompt": "Capital of France?", "answer": "Paris"}\n')
    assert read_pool(tmp_path / "pool.jsonl", load_constitution(root))[0]["answer"] == "Paris"
    with pytest.raises(LoopError, match="'answer' 'Paris' is not a number"):
        read_pool(tmp_path / "pool.jsonl", load_constitution(REPO / "constitution"))
