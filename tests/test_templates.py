"""Prompt templates: sandboxed, strict, checked at load; `loop check` names the template and the line."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest
from tests.helpers import run_cli

from loop.constitution import load_constitution
from loop.errors import LoopError
from loop.judging.prompts import judge_messages
from loop.templates import TEMPLATE_VARIABLES, compile_template, load_templates, policy_messages

# (case id, template, source, line named, words in the message)
BAD_TEMPLATES = [
    ("mro", "judge", "Principle:\n{{ ''.__class__.__mro__ }}\n", 2, "templates cannot reach Python internals"),
    ("dunder-init", "judge", "a\nb\n{{ principle.__init__ }}\n", 3, "access to '__init__' is not allowed"),
    ("getitem-dunder", "judge", "a\n{{ principle['__class__'] }}\n", 2, "access to '__class__' is not allowed"),
    ("getitem-dunder-undefined", "critique", "a\n{{ x['__class__'] }}\n", 2, "access to '__class__' is not allowed"),
    ("private-attr", "verdict", "{{ principle._secret }}\n", 1, "access to '_secret' is not allowed"),
    # Not visible in the syntax tree: the sandbox refuses it during the dry-run render.
    ("attr-filter", "judge", "a\n\n{{ principle|attr('__class__') }}\n", 3, "unsafe template"),
    ("str-format", "judge", "a\n{{ '{0.__class__}'.format(principle) }}\n", 2, "unsafe template"),
    # A comment mentioning the name comes first: the line must be the use, not the comment.
    ("undefined-variable", "judge", "{#- the box -#}\nHello\n{{ box }}\n", 3, "undefined variable 'box'"),
    ("variable-of-another-template", "system", "a\n{{ principle.text }}\n", 2, "undefined variable 'principle'"),
    ("misspelled-variable", "judge", "a\n{{ principel.text }}\n", 2, "(did you mean 'principle'?)"),
    ("syntax-error", "judge", "a\n{% if principle %}\nb\n", 3, "template syntax error"),
    ("unknown-filter", "judge", "a\n{{ prompt|shout }}\n", 2, "No filter named 'shout'"),
    ("misspelled-attribute", "judge", "Principle\n\n{{ principle.titel }}\n", 3, "has no attribute 'titel'"),
    ("misspelled-rubric-key", "judge", "x\n{{ principle.rubric.hgh }}\n", 2, "has no attribute 'hgh'"),
    ("misspelled-in-loop", "critique", "{% for e in examples %}\n{{ e.god }}\n{% endfor %}\n", 2,
     "has no attribute 'god'"),
    ("render-error", "judge", "a\nb\n{{ 1 // 0 }}\n", 3, "template fails to render"),
]


@pytest.mark.parametrize("case, name, source, line, words", BAD_TEMPLATES, ids=[c[0] for c in BAD_TEMPLATES])
def test_check_refuses_bad_template(workspace, case, name, source, line, words):
    (workspace / f"prompts/{name}.jinja").write_text(source, "utf-8")
    code, out, err = run_cli("check")
    assert code == 2 and out == ""
    assert err.endswith("\n") and len(err.splitlines()) == 1, err
    assert err.startswith(f"loop: error: prompts/{name}.jinja:{line}: "), err
    assert words in err


@pytest.mark.parametrize("case, name, source, line, words", BAD_TEMPLATES, ids=[c[0] for c in BAD_TEMPLATES])
def test_compile_template_raises_loop_error(case, name, source, line, words):
    """Without a constitution too (sample values): every refusal is a LoopError, never a Jinja exception."""
    with pytest.raises(LoopError) as info:
        compile_template(name, source, Path(f"{name}.jinja"))
    assert str(info.value).startswith(f"{name}.jinja:{line}: ")


def test_allowed_template_features_pass(workspace):
    source = ("{% set title = principle.title|upper %}{{ title }}: {{ principle.text }}\n"
              "{% for e in examples %}- {{ e.prompt }} / {{ e.good }}\n{% endfor %}{{ prompt }} {{ response }}")
    (workspace / "prompts/judge.jinja").write_text(source, "utf-8")
    code, _, err = run_cli("check")
    assert (code, err) == (0, "")


@pytest.fixture
def shipped(workspace):
    constitution = load_constitution(workspace / "constitution")
    return constitution, load_templates(workspace / "prompts", constitution)


def honest_judge_conversation(shipped, **kwargs):
    constitution, templates = shipped
    honest = constitution.get("honest")
    return honest, judge_messages(templates, "judge", honest, "What did I eat?", "Eggs.", **kwargs)


def test_shipped_judge_conversation_shows_each_example_as_earlier_yes_and_no_turns(shipped):
    honest, messages = honest_judge_conversation(shipped)
    # Each labeled example is shown as two earlier turns answered Yes (good) and No (bad).
    assert len(messages) == 4 * len(honest.examples) + 1
    assert [m["role"] for m in messages[:-1]] == ["user", "assistant"] * (2 * len(honest.examples))
    n = len(honest.examples)
    assert sorted(m["content"] for m in messages[1:-1:2]) == ["No"] * n + ["Yes"] * n
    assert honest.examples[0].good in "".join(m["content"] for m in messages[:-1])


def test_shipped_judge_conversation_ends_with_the_question_about_the_answer(shipped):
    _, messages = honest_judge_conversation(shipped)
    final = messages[-1]
    assert final["role"] == "user"
    assert final["content"].startswith("Question: What did I eat?\nAnswer:\n---\nEggs.\n---")
    assert final["content"].endswith("Is this answer accurate? Answer Yes or No.")
    assert "{{" not in final["content"] and "{#" not in final["content"]


def test_shipped_judge_conversation_without_few_shots_is_the_question_alone(shipped):
    _, messages = honest_judge_conversation(shipped)
    _, without = honest_judge_conversation(shipped, few_shot=False)
    assert without == [messages[-1]]


def test_a_principle_question_replaces_the_title_question(shipped):
    constitution, templates = shipped
    harmless = constitution.get("harmless")
    assert harmless.question == "Is this answer ethical?"
    final = judge_messages(templates, "judge", harmless, "Q?", "A.", few_shot=False)[-1]["content"]
    assert final.endswith("Is this answer ethical? Answer Yes or No.")
    verdict = judge_messages(templates, "verdict", harmless, "Q?", "A.", critique="Fine.")[-1]["content"]
    assert "Is this answer ethical?" in verdict


def test_without_a_question_a_one_word_title_is_asked_as_an_adjective(shipped):
    import dataclasses

    constitution, templates = shipped
    polite = dataclasses.replace(constitution.get("polite"), question=None)
    final = judge_messages(templates, "judge", polite, "Q?", "A.", few_shot=False)[-1]["content"]
    assert final.endswith("Is this answer polite? Answer Yes or No.")
    verdict = judge_messages(templates, "verdict", polite, "Hi?", "Go away.", critique="Rude.")[-1]["content"]
    assert "is the answer polite?" in verdict


def test_verdict_conversation_has_critique_between_user_turns(shipped):
    constitution, templates = shipped
    messages = judge_messages(templates, "verdict", constitution.get("polite"), "Hi?", "Go away.", critique="Rude.")
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "Rude."
    assert "So: Is this answer respectful?" in messages[2]["content"]
    assert [m["role"] for m in judge_messages(templates, "critique", constitution.get("polite"), "Hi?", "x")] == ["user"]
    with pytest.raises(ValueError):
        judge_messages(templates, "jury", constitution.get("polite"), "Hi?", "x")


def test_policy_messages_put_the_system_prompt_first(shipped):
    constitution, templates = shipped
    messages = policy_messages(templates, constitution, "Why is the sky blue?")
    assert messages == [{"role": "system", "content": "You are a helpful assistant. Answer clearly and briefly."},
                        {"role": "user", "content": "Why is the sky blue?"}]


def test_empty_system_template_leaves_out_the_system_turn(workspace):
    (workspace / "prompts/system.jinja").write_text("{# no system prompt #}\n", "utf-8")
    constitution = load_constitution(workspace / "constitution")
    templates = load_templates(workspace / "prompts", constitution)
    assert policy_messages(templates, constitution, "Hi") == [{"role": "user", "content": "Hi"}]


def test_render_refuses_variables_the_template_does_not_take(shipped):
    _, templates = shipped
    with pytest.raises(TypeError, match="does not take"):
        templates.render("system", principles=[], prompt="x")


def test_rendering_is_strict_at_run_time_too(tmp_path):
    """A branch the dry run did not take still fails loudly, not with an empty string."""
    template = compile_template("judge", "{% if prompt == 'x' %}{{ principle.titel }}{% endif %}ok",
                                tmp_path / "judge.jinja")
    assert template.render(prompt="y", principle=None) == "ok"
    with pytest.raises(jinja2.UndefinedError, match="titel"):
        from loop.constitution import Principle

        template.render(prompt="x", principle=Principle(id="a", title="A", text="t"))


def test_template_files_and_hashes(shipped, workspace):
    _, templates = shipped
    # The fixed templates and faithful's own judge template.
    assert set(templates.files) == {f"{name}.jinja" for name in TEMPLATE_VARIABLES} | {"judge_reference.jinja"}
    assert templates.files["judge.jinja"] == (workspace / "prompts/judge.jinja").read_text("utf-8")
    assert templates.sha256("judge") != templates.sha256("critique")
    assert len(templates.sha256("judge")) == 64


def _panel_text(out: str) -> str:
    """The text inside a rich Panel: borders and padding stripped, wrapped lines joined."""
    inner = [line[2:-2].rstrip() for line in out.splitlines()[1:-1]]
    return "\n".join(inner)


def test_prompts_render_judge_applies_the_chat_template(workspace, tiny_model_dir, tiny, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run_cli("prompts", "render", "judge", "--principle", "honest", "--model", str(tiny_model_dir),
                             "--prompt", "What did I eat?", "--response", "Eggs.")
    assert code == 0 and "error" not in err
    _, tokenizer = tiny
    constitution = load_constitution(workspace / "constitution")
    templates = load_templates(workspace / "prompts", constitution)
    expected = tokenizer.apply_chat_template(
        judge_messages(templates, "judge", constitution.get("honest"), "What did I eat?", "Eggs."),
        tokenize=False, add_generation_prompt=True)
    n_tokens = len(tokenizer(expected, add_special_tokens=False)["input_ids"])
    assert out.startswith(f"╭─ judge · {n_tokens} tokens ─")
    body = _panel_text(out)
    assert body.startswith("<|im_start|>user\nQuestion: ")  # the first few-shot turn
    assert "Question: What did I eat?\nAnswer:\n---\nEggs.\n---" in body
    assert body.rstrip().endswith("Answer Yes or No.<|im_end|>\n<|im_start|>assistant")


def test_prompts_render_system_shows_the_policy_view(workspace, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run_cli("prompts", "render", "system", "--model", str(tiny_model_dir),
                             "--prompt", "Why is the sky blue?")
    assert code == 0 and "error" not in err
    assert out.startswith("╭─ system · ")
    assert _panel_text(out).rstrip() == ("<|im_start|>system\nYou are a helpful assistant. Answer clearly and briefly."
                                         "<|im_end|>\n<|im_start|>user\nWhy is the sky blue?<|im_end|>\n"
                                         "<|im_start|>assistant")


def test_prompts_render_lift_shows_the_response_under_the_principle(workspace, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, err = run_cli("prompts", "render", "lift", "--principle", "harmless", "--model", str(tiny_model_dir),
                             "--prompt", "Why is the sky blue?", "--response", "Light scatters.")
    assert code == 0 and "error" not in err and out.startswith("╭─ lift · ")
    body = " ".join(_panel_text(out).split())  # the panel wraps the long system line
    text = load_constitution(workspace / "constitution").get("harmless").text
    assert body.startswith("<|im_start|>system You are a helpful AI assistant. Always follow this principle: " + text)
    assert body.endswith("<|im_start|>user Why is the sky blue?<|im_end|> <|im_start|>assistant Light scatters.<|im_end|>")


def test_prompts_render_refuses_unknown_names(workspace, tiny_model_dir):
    code, _, err = run_cli("prompts", "render", "jury", "--model", str(tiny_model_dir))
    assert code == 2 and len(err.splitlines()) == 1 and "no template 'jury'" in err
    code, _, err = run_cli("prompts", "render", "judge", "--principle", "honset", "--model", str(tiny_model_dir))
    assert code == 2 and len(err.splitlines()) == 1 and "did you mean 'honest'" in err


@pytest.mark.parametrize("name, source, listed", [
    ("judge", "{{ principle.titel }}\n", ["this template can use: examples, principle, prompt, response",
                                          "a principle has: id, title, text", "an example has: prompt, good, bad"]),
    ("critique", "{% for e in examples %}{{ e.god }}{% endfor %}\n", ["an example has: prompt, good, bad"]),
    ("lift", "{{ principle._secret }}\n", ["this template can use: principle (a principle has: id, title"]),
    ("system", "{{ principle }}\n", ["this template can use: principles (a principle has:"]),
])
def test_a_template_error_lists_what_the_template_can_use(name, source, listed):
    """The message itself is the variable list: nothing else prints it."""
    with pytest.raises(LoopError) as info:
        compile_template(name, source, Path(f"{name}.jinja"))
    assert all(words in str(info.value) for words in listed), str(info.value)
    assert "loop check" not in str(info.value)


LONG_PROMPT = "Why is the sky blue and not green, violet or white, given that sunlight holds every colour there is?"


def test_prompts_render_raw_prints_exactly_the_string_the_model_sees(workspace, tiny_model_dir, monkeypatch):
    import json

    from loop.model import load_tokenizer

    monkeypatch.setenv("COLUMNS", "40")  # a panel would wrap this prompt; the raw string must not
    code, raw, err = run_cli("prompts", "render", "system", "--model", str(tiny_model_dir), "--prompt", LONG_PROMPT,
                             "--raw")
    assert code == 0 and err == ""
    code, out, _ = run_cli("prompts", "render", "system", "--model", str(tiny_model_dir), "--prompt", LONG_PROMPT,
                           "--json")
    doc = json.loads(out)
    assert code == 0 and raw == doc["text"] and doc["template"] == "system" and doc["tokens"] > 0
    assert doc["messages"][-1] == {"role": "user", "content": LONG_PROMPT}
    tokenizer = load_tokenizer(str(tiny_model_dir))
    assert raw == tokenizer.apply_chat_template(doc["messages"], tokenize=False, add_generation_prompt=True)
    assert f"<|im_start|>user\n{LONG_PROMPT}<|im_end|>\n" in raw and "╭" not in raw


def test_prompts_render_takes_raw_or_json_not_both(workspace, capsys):
    from loop.cli import main

    with pytest.raises(SystemExit) as info:
        main(["prompts", "render", "system", "--raw", "--json"])
    assert info.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
