"""Judge templates that read the pool row (`row.reference`, `row.category`): a principle's own template,
a template per category, None where a row lacks what its template needs, and what `loop check` refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loop.constitution import load_constitution
from loop.judging.judge import Judge
from loop.judging.prompts import judge_messages
from loop.templates import load_templates
from tests.helpers import REPO, run_cli

REFERENCE = "faithful"


@pytest.fixture(scope="module")
def parts(shipped_parts):
    return shipped_parts


def test_the_shipped_reference_template_reads_the_rows_reference(parts):
    constitution, templates = parts
    principle = constitution.get(REFERENCE)
    assert templates.required("judge_reference") == {"reference"}
    messages = judge_messages(templates, "judge", principle, "Who wrote Hamlet?", "Marlowe.",
                              row={"reference": "William Shakespeare wrote Hamlet."})
    assert "Reference answer: William Shakespeare wrote Hamlet." in messages[-1]["content"]
    # Its few-shots are its examples, each shown with its own reference.
    assert sum(m["role"] == "assistant" for m in messages) == 2 * len(principle.examples)
    assert all("Reference answer:" in m["content"] for m in messages if m["role"] == "user")


def test_a_row_without_a_reference_is_not_judged_and_the_model_is_not_run(tiny, parts):
    constitution, templates = parts
    model, tokenizer = tiny
    judge = Judge(model, tokenizer, constitution, templates, model_id="tiny")
    rows = [{"reference": "Paris is the capital of France."}, {"reference": None}, {}]
    crits = judge.score(["Capital of France?"] * 3, ["Paris.", "Paris.", "Paris."], REFERENCE, rows=rows)
    assert crits[0].score is not None
    assert [c.score for c in crits[1:]] == [None, None]
    assert "no reference" in crits[1].critique
    assert judge.unscored == 2
    # Without rows at all (an ad-hoc `loop judge` with no --column): could not score, never a guess.
    assert judge.score(["Q?"], ["A."], REFERENCE)[0].score is None
    # A principle that reads no column scores the same with rows and without.
    plain = [c.score for c in judge.score(["Q?", "Q?"], ["Yes.", "No."], "helpful")]
    with_rows = [c.score for c in judge.score(["Q?", "Q?"], ["Yes.", "No."], "helpful", rows=rows[:2])]
    assert plain == pytest.approx(with_rows, abs=1e-6)


def test_the_reference_changes_what_the_judge_reads(tiny, parts):
    constitution, templates = parts
    model, tokenizer = tiny
    judge = Judge(model, tokenizer, constitution, templates, model_id="tiny", calibrate=False)
    a, b = judge.score(["Q?", "Q?"], ["Paris.", "Paris."], REFERENCE,
                       rows=[{"reference": "Paris."}, {"reference": "Rome is the capital of Italy."}])
    assert a.distribution != b.distribution


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text("utf-8")
    assert old in text
    path.write_text(text.replace(old, new), "utf-8")


def test_check_refuses_a_template_reading_a_column_the_pool_lacks(workspace):
    (workspace / "prompts/judge_reference.jinja").write_text(
        "Question: {{ prompt }}\nSource: {{ row.source }}\n{{ response }}\nAgree? Answer Yes or No.\n", "utf-8")
    code, _, err = run_cli("check")
    assert code == 2
    assert "judge_reference.jinja:2" in err and "row.source" in err and "pool.jsonl" in err


def _math_template_for(workspace: Path, category: str) -> None:
    """helpful judged with judge_math.jinja (which reads row.answer) on the prompts of `category`."""
    (workspace / "prompts/judge_math.jinja").write_text(
        "{{ prompt }}\n{{ response }}\nExpected: {{ row.answer }}. Is the answer right? Answer Yes or No.\n", "utf-8")
    _edit(workspace / "constitution/principles/helpful.toml", 'weight = 1.0',
          f'weight = 1.0\ntemplates = {{ {category} = "judge_math.jinja" }}')


def test_check_refuses_a_category_template_for_a_category_the_pool_lacks(workspace):
    _math_template_for(workspace, "arithmetik")
    code, _, err = run_cli("check")
    assert code == 2
    assert "helpful.toml" in err and "'arithmetik'" in err and "judge_math.jinja" in err


def test_a_category_template_is_used_for_its_category_only(workspace):
    _math_template_for(workspace, "arithmetic")
    assert run_cli("check")[0] == 0
    constitution = load_constitution(workspace / "constitution")
    templates = load_templates(workspace / "prompts", constitution)
    helpful = constitution.get("helpful")
    math = judge_messages(templates, "judge", helpful, "2 + 2?", "4", row={"category": "arithmetic", "answer": "4"})
    other = judge_messages(templates, "judge", helpful, "Hi?", "Hello", row={"category": "benign"})
    assert "Expected: 4." in math[-1]["content"]
    assert "Expected" not in other[-1]["content"]
    # Its examples carry no answer column, so this template is shown without few-shots.
    assert len(math) == 1 and len(other) > 1


def test_check_refuses_a_missing_template_file_naming_the_principle(workspace):
    _edit(workspace / "constitution/principles/faithful.toml", 'template = "judge_reference.jinja"',
          'template = "judge_referense.jinja"')
    code, _, err = run_cli("check")
    assert code == 2
    assert "faithful.toml:9" in err and "judge_referense.jinja" in err


@pytest.mark.parametrize("line, words", [
    ('template = "../judge.jinja"', "inside prompts/"),
    ('template = "judge.txt"', ".jinja"),
    ('templates = "judge.jinja"', "table"),
])
def test_check_refuses_a_bad_template_key(workspace, line, words):
    _edit(workspace / "constitution/principles/helpful.toml", 'weight = 1.0', f"weight = 1.0\n{line}")
    code, _, err = run_cli("check")
    assert code == 2 and "helpful.toml" in err and words in err


def test_check_refuses_a_template_on_a_rule_principle(workspace):
    _edit(workspace / "constitution/principles/correct.toml", 'id = "correct"',
          'id = "correct"\ntemplate = "judge_reference.jinja"')
    code, _, err = run_cli("check")
    assert code == 2 and "correct.toml" in err and "remove 'template'" in err


def test_check_refuses_a_pair_without_the_column_its_template_needs(workspace):
    path = workspace / "constitution/pairs/faithful.jsonl"
    lines = path.read_text("utf-8").splitlines()
    first = json.loads(lines[2])
    del first["row"]["reference"]
    lines[2] = json.dumps(first)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    code, _, err = run_cli("check")
    assert code == 2
    assert "faithful.jsonl:3" in err and "row.reference" in err


def test_pairs_carry_their_row(workspace):
    constitution = load_constitution(workspace / "constitution")
    pairs = constitution.pairs(REFERENCE)
    assert pairs and all(pair.row.get("reference") for pair in pairs)
    path = workspace / "constitution/pairs/faithful.jsonl"
    bad = json.loads(path.read_text("utf-8").splitlines()[0])
    bad["row"] = {"reference": 3}
    path.write_text(json.dumps(bad) + "\n", "utf-8")
    code, _, err = run_cli("check")
    assert code == 2 and "faithful.jsonl:1" in err and "'row'" in err


def test_the_shipped_pool_gives_references_to_fact_define_and_explain_prompts():
    rows = [json.loads(line) for line in (REPO / "prompts/pool.jsonl").read_text("utf-8").splitlines()]
    kinds = [row for row in rows if row.get("category") in ("fact", "define", "explain")]
    assert kinds and all(row.get("reference") for row in kinds)
    assert not any(row.get("reference") for row in rows if row not in kinds)


def test_prompts_render_shows_a_principles_own_template_with_the_column_given(workspace, tiny_model_dir):
    args = ("prompts", "render", "judge", "--principle", REFERENCE, "--model", str(tiny_model_dir), "--raw",
            "--prompt", "Capital of Japan?", "--response", "Kyoto.")
    code, _, err = run_cli(*args)
    assert code == 2 and "judge_reference.jinja" in err and "--column reference=VALUE" in err
    code, out, _ = run_cli(*args, "--column", "reference=Tokyo is the capital of Japan.")
    assert code == 0 and "Reference answer: Tokyo is the capital of Japan." in out and "Kyoto." in out
    assert out.count("Reference answer:") == 1 + 2 * 3  # the answer's turn and each example's two turns
