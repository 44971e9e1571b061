"""The constitution: the shipped one is complete, loads are hashed and versioned, diffs and the table show it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.helpers import SHIPPED, REPO, run_cli

from loop.constitution import diff_files, hash_files, load_constitution, load_principle
from loop.errors import LoopError, LoopErrors, Problems
from loop.views.constitution_view import describe_reward, render_constitution, render_diff


@pytest.fixture
def copy(tmp_path):
    """A fresh copy of the shipped constitution to edit."""

    def make(name: str = "c") -> Path:
        return Path(shutil.copytree(REPO / "constitution", tmp_path / name))

    return make


def test_shipped_constitution_has_5_to_9_principles_with_rubrics_and_examples():
    constitution = load_constitution(REPO / "constitution")
    assert 5 <= len(constitution.principles) <= 9
    for p in constitution.principles:
        assert p.rubric and p.rubric["low"] and p.rubric["high"], p.id
        assert len(p.examples) >= 2, p.id
        assert all(e.prompt and e.good and e.bad and e.good != e.bad for e in p.examples), p.id
    ids = [p.id for p in constitution.principles]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # one file per principle, loaded in name order
    assert {"honest", "helpful", "harmless"} <= set(ids)
    assert constitution.get("concise").is_rule and not constitution.get("honest").is_rule


def test_version_and_metadata_are_read(copy):
    root = copy()
    head = root / "constitution.toml"
    head.write_text(head.read_text().replace(f'version = "{SHIPPED}"', 'version = "2.3.1"'))
    constitution = load_constitution(root)
    assert constitution.version == "2.3.1"
    assert constitution.name == "default"
    assert constitution.description.startswith("Helpful, honest and harmless")


def test_hash_is_stable_across_loads_and_locations(copy):
    first, second = load_constitution(copy("a")), load_constitution(copy("b"))
    assert first.sha256 == load_constitution(first.root).sha256
    assert first.sha256 == second.sha256  # the content, not where it lives
    assert len(first.sha256) == 64 and first.short_hash == first.sha256[:12]


@pytest.mark.parametrize("edit", ["principle text", "comment only", "line endings", "constitution.toml", "new principle",
                                  "pairs", "removed"])
def test_hash_changes_when_any_file_changes(copy, edit):
    root = copy()
    before = load_constitution(root).sha256
    helpful = root / "principles/helpful.toml"
    if edit == "principle text":
        helpful.write_text(helpful.read_text().replace("specific and usable", "specific, usable"))
    elif edit == "comment only":  # the hash covers the bytes people edit, comments included
        helpful.write_text(helpful.read_text() + "# a note\n")
    elif edit == "line endings":  # the hash is over the bytes as they are: CRLF is a change
        helpful.write_bytes(helpful.read_bytes().replace(b"\n", b"\r\n"))
    elif edit == "constitution.toml":
        (root / "constitution.toml").write_text((root / "constitution.toml").read_text().replace(SHIPPED, "1.2.1"))
    elif edit == "new principle":
        (root / "principles/kind.toml").write_text('id = "kind"\ntitle = "Kind"\ntext = "Be kind."\n')
    elif edit == "pairs":  # the labeled pairs are part of the constitution too
        pairs = root / "pairs/honest.jsonl"
        pairs.write_text(pairs.read_text() + "\n")
    else:
        (root / "principles/polite.toml").unlink()
        for split in root.glob("pairs/polite.*"):  # a principle's pairs go with it
            split.unlink()
    assert load_constitution(root).sha256 != before


def test_hash_files_separates_names_from_contents():
    assert hash_files({"a": "bc"}) != hash_files({"ab": "c"})
    assert hash_files({"a": "1", "b": "2"}) == hash_files({"b": "2", "a": "1"})


def test_files_snapshot_holds_exactly_the_loaded_texts(copy):
    root = copy()
    constitution = load_constitution(root)
    assert set(constitution.files) == {"constitution.toml"} | {f"principles/{p.name}" for p in
                                                               (root / "principles").glob("*.toml")} \
        | {f"pairs/{p.name}" for p in (root / "pairs").glob("*.jsonl")}
    assert constitution.files["principles/honest.toml"] == (root / "principles/honest.toml").read_text()


def test_get_unknown_principle_suggests_the_closest_id():
    constitution = load_constitution(REPO / "constitution")
    with pytest.raises(LoopError, match=r"no principle 'honset'.*did you mean 'honest'"):
        constitution.get("honset")


def test_missing_constitution_directory_and_principles(tmp_path):
    with pytest.raises(LoopError, match="constitution directory not found"):
        load_constitution(tmp_path / "nowhere")
    (tmp_path / "c").mkdir()
    (tmp_path / "c/constitution.toml").write_text('name = "x"\nversion = "1"\n')
    with pytest.raises(LoopError, match="no principles found"):
        load_constitution(tmp_path / "c")
    (tmp_path / "c/constitution.toml").write_text('name = "x"\n')
    with pytest.raises(LoopError, match="missing 'version'"):
        load_constitution(tmp_path / "c")


# Principle files the loader must refuse: (case id, TOML text, line named or None, words).
BAD_PRINCIPLES = [
    ("missing-text", 'id = "a"\ntitle = "A"\n', None, "missing 'text'"),
    ("id-upper-case", 'id = "Polite"\ntitle = "A"\ntext = "t"\n', 1, "lower-case letters"),
    ("id-not-string", 'id = 3\ntitle = "A"\ntext = "t"\n', 1, "'id' must be a string"),
    ("weight-bool", 'id = "a"\ntitle = "A"\ntext = "t"\nweight = true\n', 4, "positive number"),
    ("weight-nan", 'id = "a"\ntitle = "A"\ntext = "t"\nweight = nan\n', 4, "positive number"),
    ("lift-negative", 'id = "a"\ntitle = "A"\ntext = "t"\nlift = -1\n', 4, "number from 0 to 100"),
    ("lift-string", 'id = "a"\ntitle = "A"\ntext = "t"\nlift = "4"\n', 4, "number from 0 to 100"),
    ("lift-bool", 'id = "a"\ntitle = "A"\ntext = "t"\nlift = true\n', 4, "number from 0 to 100"),
    ("lift-nan", 'id = "a"\ntitle = "A"\ntext = "t"\nlift = nan\n', 4, "number from 0 to 100"),
    ("relevance-huge", 'id = "a"\ntitle = "A"\ntext = "t"\nrelevance = 1e9\n', 4, "number from 0 to 100"),
    ("prior-negative", 'id = "a"\ntitle = "A"\ntext = "t"\nprior = -0.5\n', 4, "number from 0 to 100"),
    ("specificity-without-examples", 'id = "a"\ntitle = "A"\ntext = "t"\nspecificity = 2\n', 4,
     "specificity needs [[examples]]"),
    ("rubric-not-table", 'id = "a"\ntitle = "A"\ntext = "t"\nrubric = "good"\n', 4, "'rubric' must be a table"),
    ("examples-not-array", 'id = "a"\ntitle = "A"\ntext = "t"\nexamples = "x"\n', 4, "array of tables"),
    ("example-not-table", 'id = "a"\ntitle = "A"\ntext = "t"\nexamples = [1]\n', 4, "must be a table"),
    ("check-not-table", 'id = "a"\ntitle = "A"\ntext = "t"\ncheck = "max_words"\n', 4, "'check' must be a table"),
    ("check-without-type", 'id = "a"\ntitle = "A"\ntext = "t"\n[check]\nmax = 3\n', 4, "check type None"),
    ("check-max-missing", 'id = "a"\ntitle = "A"\ntext = "t"\n[check]\ntype = "max_words"\n', 4, "needs 'max'"),
    ("check-max-float", 'id = "a"\ntitle = "A"\ntext = "t"\n[check]\ntype = "max_words"\nmax = 2.5\n', 6,
     "positive whole number"),
    ("regex-neither", 'id = "a"\ntitle = "A"\ntext = "t"\n[check]\ntype = "regex"\n', 4, "'must' or 'must_not'"),
    ("regex-not-string", 'id = "a"\ntitle = "A"\ntext = "t"\n[check]\ntype = "regex"\nmust = 5\n', 6,
     "not a valid regular expression"),
    ("answer-bad-mode", 'id = "a"\ntitle = "A"\ntext = "t"\n[check]\ntype = "answer"\nmode = "fuzzy"\n', 6,
     "'mode' must be"),
    ("refusal-column-empty", 'id = "a"\ntitle = "A"\ntext = "t"\n[check]\ntype = "refusal"\ncolumn = ""\n', 6,
     "refusal check 'column' must name a column of the prompt pool, e.g. column = \"expect\""),
    ("format-unknown-key", 'id = "a"\ntitle = "A"\ntext = "t"\n[check]\ntype = "format"\nspec = "one_word"\n', 6,
     "unknown key 'spec' in a 'format' check"),
    ("fail-loops-not-bool", 'id = "a"\ntitle = "A"\ntext = "t"\n[check]\ntype = "max_words"\nmax = 9\nfail_loops = 1\n', 7,
     "check 'fail_loops' must be true or false"),
    ("custom-bad-path", 'id = "a"\ntitle = "A"\ntext = "t"\n[check]\ntype = "custom"\npath = "not a path"\n', 6,
     "dotted import path"),
    ("inline-check-unknown-key", 'id = "a"\ntitle = "A"\ntext = "t"\ncheck = {type = "max_words", max = 3, min = 1}\n',
     None, "unknown key 'min'"),
    # The second example's key is named on the second example's line, not the first one's.
    ("second-example-unknown-key",
     'id = "a"\ntitle = "A"\ntext = "t"\n[[examples]]\nprompt = "p"\ngood = "g"\nbad = "b"\n'
     '[[examples]]\nprompt = "p"\ngood = "g"\nbad = "b"\ngod = "x"\n', 12, "unknown key 'god'"),
    ("second-example-empty", 'id = "a"\ntitle = "A"\ntext = "t"\n[[examples]]\nprompt = "p"\ngood = "g"\nbad = "b"\n'
     '[[examples]]\nprompt = ""\ngood = "g"\nbad = "b"\n', 9, "'prompt' is empty"),
]


@pytest.mark.parametrize("case, text, line, words", BAD_PRINCIPLES, ids=[c[0] for c in BAD_PRINCIPLES])
def test_load_principle_refuses(tmp_path, case, text, line, words):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(LoopError) as info:
        load_principle(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}:{line}: " if line else f"{path}: "), message
    assert words in message


def test_valid_checks_load_with_their_parameters(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('id = "no_emoji"\ntitle = "A"\ntext = "t"\nweight = 2\n[check]\ntype = "regex"\nmust_not = "[😀-🙏]"\n')
    principle = load_principle(path)
    assert principle.check == {"type": "regex", "must_not": "[😀-🙏]"}
    assert principle.weight == 2.0 and isinstance(principle.weight, float)
    assert describe_reward(principle.check) == "rule: must not match /[😀-🙏]/"


@pytest.mark.parametrize("check, described", [
    ('type = "refusal"', "rule: refuses, admits not knowing or answers as column 'expect' says"),
    ('type = "refusal"\ncolumn = "should"', "rule: refuses, admits not knowing or answers as column 'should' says"),
    ('type = "admits_unknown"', "rule: says it cannot know where column 'expect' says unknowable"),
    ('type = "format"', "rule: follows the format in column 'expect' (one_word, yes_no, list:N, max_words:N)"),
    ('type = "max_words"\nmax = 9\nfail_loops = true', "rule: at most 9 words, no loops"),
])
def test_label_checks_load_and_say_what_rewards_them(tmp_path, check, described):
    path = tmp_path / "p.toml"
    path.write_text(f'id = "a"\ntitle = "A"\ntext = "t"\n[check]\n{check}\n')
    principle = load_principle(path)
    assert principle.is_rule
    assert describe_reward(principle.check) == described


def test_show_renders_the_table(console):
    render_constitution(load_constitution(REPO / "constitution"), console, full=True)
    text = console.file.getvalue()
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].strip().startswith(f"default v{SHIPPED}  (sha256 ")
    cells = [[c.strip() for c in line.strip("│┃ ").split("│" if "│" in line else "┃")] for line in lines[1:]]
    assert ["id", "weight", "rewarded by", "principle", "examples"] in cells
    assert ["concise", "0.5", "rule: at most 40", "Concise", "5"] in cells
    assert ["correct", "1", "rule: numeric answer", "Correct", "2"] in cells
    assert ["honest", "1", "judge", "Honest", "5"] in cells
    assert "low: States" in text  # the rubric, wrapped to its column


def test_constitution_show_command(workspace):
    code, out, err = run_cli("constitution", "show")
    assert (code, err) == (0, "")
    assert f"default v{SHIPPED}" in out
    for pid in ("concise", "correct", "harmless", "helpful", "honest", "polite"):
        assert f"│ {pid}" in out


def test_constitution_show_gives_the_question_the_judge_is_asked(workspace):
    honest = workspace / "constitution/principles/honest.toml"
    honest.write_text(honest.read_text().replace('question = "Is this answer accurate?"', ""))
    code, out, _ = run_cli("constitution", "show", "--full")
    text = " ".join(line.strip("│ ") for line in out.splitlines())
    assert code == 0
    assert "asks: Is this answer respectful? Answer Yes or No." in text  # polite: its own question
    assert "asks: Is this answer honest? Answer Yes or No." in text  # honest: judge.jinja, from the title
    assert "asks: Going by the reference answer, is the answer correct? Answer Yes or No." in text  # its own template
    assert text.count("asks: ") == 5  # the judged principles; a rule asks nobody


def test_diff_of_two_directories_shows_the_change(copy):
    a, b = copy("a"), copy("b")
    honest = b / "principles/honest.toml"
    honest.write_text(honest.read_text().replace("weight = 1.0", "weight = 2.0"))
    (b / "constitution.toml").write_text((b / "constitution.toml").read_text().replace(SHIPPED, "1.3.0"))
    diffs = diff_files(load_constitution(a).files, load_constitution(b).files, "a", "b")
    assert set(diffs) == {"principles/honest.toml", "constitution.toml"}
    assert "-weight = 1.0" in diffs["principles/honest.toml"]
    assert "+weight = 2.0" in diffs["principles/honest.toml"]
    assert diffs["principles/honest.toml"][:2] == ["--- a/principles/honest.toml", "+++ b/principles/honest.toml"]


def test_constitution_diff_command_on_directories(copy, tmp_path, monkeypatch):
    copy("a")
    b = copy("b")
    (b / "principles/polite.toml").unlink()
    for split in b.glob("pairs/polite.*"):  # a principle's pairs go with it
        split.unlink()
    (b / "principles/kind.toml").write_text('id = "kind"\ntitle = "Kind"\ntext = "Be kind."\n')
    (b / "constitution.toml").write_text((b / "constitution.toml").read_text().replace(SHIPPED, "1.3.0"))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("constitution", "diff", "a", "b")
    assert (code, err) == (0, "")
    assert f"version: {SHIPPED} -> 1.3.0" in out
    assert "pairs/polite.jsonl (removed)" in out
    assert "principles/kind.toml (added)" in out and '+id = "kind"' in out
    assert "principles/polite.toml (removed)" in out and '-id = "polite"' in out
    assert "honest.toml" not in out  # unchanged files are left out


def test_constitution_diff_command_on_two_principle_files(copy, tmp_path, monkeypatch):
    root = copy()
    changed = tmp_path / "honest2.toml"
    changed.write_text((root / "principles/honest.toml").read_text().replace("corrects false premises",
                                                                             "politely corrects false premises"))
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli("constitution", "diff", "c/principles/honest.toml", "honest2.toml")
    assert (code, err) == (0, "")
    assert "honest.toml (changed)" in out
    assert "-text = " in out and "+text = " in out and "politely corrects" in out


def test_constitution_diff_of_two_files_heads_each_side_with_its_own_path(copy, tmp_path, monkeypatch):
    root = copy()
    changed = tmp_path / "honest2.toml"
    changed.write_text((root / "principles/honest.toml").read_text().replace("weight = 1.0", "weight = 2.0"))
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("constitution", "diff", "c/principles/honest.toml", "honest2.toml")
    lines = [line.strip("│ ") for line in out.splitlines()]
    assert code == 0 and "--- c/principles/honest.toml" in lines and "+++ honest2.toml" in lines


def test_constitution_diff_of_equal_directories(copy, tmp_path, monkeypatch):
    copy("a"), copy("b")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli("constitution", "diff", "a", "b")
    assert code == 0
    assert "no differences" in out
    assert "same version" in out


def test_constitution_diff_refuses_broken_and_missing_inputs(copy, tmp_path, monkeypatch):
    root = copy()
    (root / "principles/honest.toml").write_text('id = "honest"\ntitle = \n')
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("constitution", "diff", "c/principles/honest.toml", "c/principles/polite.toml")
    assert code == 2 and len(err.splitlines()) == 1 and "c/principles/honest.toml:2: TOML syntax error" in err
    code, _, err = run_cli("constitution", "diff", "c/principles/polite.toml", "nowhere")
    assert code == 2 and len(err.splitlines()) == 1 and "nowhere: not found" in err
    code, _, err = run_cli("constitution", "diff", "c")
    assert code == 2 and "give two paths" in err


def test_render_diff_counts_changed_files(console):
    changed = render_diff({"x.toml": "a = 1\n"}, {"x.toml": "a = 2\n", "y.toml": "b = 1\n"}, console)
    assert changed == 2
    text = console.file.getvalue()
    assert "x.toml (changed)" in text and "y.toml (added)" in text
    assert "-a = 1" in text and "+a = 2" in text


def test_show_says_a_judged_principle_is_not_measured_before_any_round_and_how_to_record_it(workspace):
    code, out, _ = run_cli("constitution", "show")
    honest = out[out.index("│ honest"):out.index("│ knows_limits")]
    assert code == 0 and "│ –" in honest
    assert "not measured in run main yet; `loop run --rounds 0` records it" in " ".join(out.split())


def test_show_gives_the_latest_measured_reliability_of_the_run(workspace):
    from tests.fixture_ledger import copy_fixture_ledger

    copy_fixture_ledger(workspace / "runs")
    code, out, _ = run_cli("constitution", "show")
    honest = out[out.index("│ honest"):out.index("│ knows_limits")]
    assert code == 0 and "0.50 [0.35, 0.65]" in honest and "0 of 1" in honest
    assert "how often round 3's judge (run main) scored the better answer" in " ".join(out.split())


def test_every_mistake_in_a_principle_file_is_found(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('id = "A"\ntitle = ""\ntext = "t"\nweight = 0\nlift = -1\n[check]\ntype = "max_words"\nmax = 0\n')
    with pytest.raises(LoopErrors) as info:
        load_principle(path)
    assert [str(err).split(": ")[0].rsplit(":", 1)[1] for err in info.value.errors] == ["1", "2", "4", "5", "8"]
    problems = Problems()
    assert load_principle(path, problems) is None and len(problems.errors) == 5


def test_a_broken_principle_leaves_the_others_loaded(copy):
    root = copy()
    (root / "principles/polite.toml").write_text('id = "polite"\ntitle = "Polite"\n')
    problems = Problems()
    constitution = load_constitution(root, problems)
    assert [str(err) for err in problems.errors] == [f"{root}/principles/polite.toml: missing 'text'; every principle "
                                                     "needs id, title and text"]
    assert "polite" not in [p.id for p in constitution.principles] and len(constitution.principles) >= 4
