"""The judge's conversations: what the judge model is shown for one (prompt, response, principle).

Built from the workspace's templates (judge.jinja, critique.jinja, verdict.jinja) and the principle's
labeled examples; no model is involved. `loop prompts render judge` shows exactly these messages with
the model's chat template applied.
"""

from __future__ import annotations

from loop.constitution import Principle
from loop.templates import SampleRow, Templates, judge_template

# An optional system message for the judge (Judge(system=...)). Off by default: with the embedded
# model a "strict judge" system message moved accuracy by noise only, and without one the judge sees
# exactly what `loop prompts render judge` shows.
JUDGE_SYSTEM = "You are a strict, fair judge. You answer each question with Yes or No."


def verdict_template(mode: str) -> str:
    """The conversation whose next token is the verdict: the judge question in score mode, the verdict
    question after the judge's own critique in critique mode."""
    return "judge" if mode == "score" else "verdict"


def judge_messages(templates: Templates, name: str, principle: Principle, prompt: str, response: str,
                   critique: str = "", few_shot: bool = True, row: dict | None = None) -> list[dict[str, str]]:
    """The judge's conversation for one (prompt, response, principle), about the prompt's pool row.

    judge:    [few-shot turns..., user: judge.jinja]                       -> next token Yes/No
              (or the principle's own judge template for the row: `judge_template`)
    critique: [user: critique.jinja]                                        -> generated critique
    verdict:  [user: critique.jinja, assistant: critique, user: verdict.jinja] -> next token Yes/No
    revise:   [few-shot turns..., user: revise.jinja]                       -> generated revision
              (the model revising its own answer after its critique: loop/training/revision.py)

    In score mode the labeled examples are shown as earlier turns of the same conversation: judge.jinja
    rendered for the example's good answer, then the assistant's "Yes", and for its bad answer, "No"
    (alternating which comes first, so the last demo does not always carry the same label). A small
    model copies a demonstrated answer format far better than it reads examples quoted in a prompt.
    An example whose own row lacks a column the template needs is left out of its few-shots.
    """
    examples = list(principle.examples) if few_shot else []
    row = row or {}
    shared = dict(principle=principle, prompt=prompt, response=response)
    if name == "judge":
        own = judge_template(principle, row)
        examples = [ex for ex in examples if not templates.missing(own, ex.row)]
        turns: list[dict[str, str]] = []
        for i, ex in enumerate(examples):
            demos = [(ex.bad, "No"), (ex.good, "Yes")]
            for answer, verdict in (demos if i % 2 == 0 else demos[::-1]):
                turns += [{"role": "user", "content": templates.render(
                              own, principle=principle, prompt=ex.prompt, response=answer, examples=[], row=ex.row)},
                          {"role": "assistant", "content": verdict}]
        return turns + [{"role": "user", "content": templates.render(own, examples=examples, row=row, **shared)}]
    if name == "revise":
        return revise_messages(templates, principle, examples, critique, shared)
    first = {"role": "user", "content": templates.render("critique", examples=examples, row=row, **shared)}
    if name == "critique":
        return [first]
    if name == "verdict":
        return [first, {"role": "assistant", "content": critique},
                {"role": "user", "content": templates.render("verdict", critique=critique, row=row, **shared)}]
    raise ValueError(f"no judge conversation named {name}")


def revise_messages(templates: Templates, principle: Principle, examples: list, critique: str,
                    shared: dict) -> list[dict[str, str]]:
    """The revision's conversation: each labeled example first, its bad answer criticized with the
    rubric's low end and rewritten as its good answer, then the answer to revise with its critique."""
    low = (principle.rubric or {}).get("low", "")
    turns: list[dict[str, str]] = []
    for ex in examples:
        turns += [{"role": "user", "content": templates.render("revise", principle=principle, prompt=ex.prompt,
                                                               response=ex.bad, critique=low)},
                  {"role": "assistant", "content": ex.good}]
    return turns + [{"role": "user", "content": templates.render("revise", critique=critique, **shared)}]


def judge_conversation(templates: Templates, name: str, principle: Principle, prompt: str, response: str,
                       critique: str = "", *, few_shot: bool = True, system: str | None = None,
                       row: dict | None = None) -> list[dict[str, str]]:
    """judge_messages, after the judge's system message when it has one."""
    messages = judge_messages(templates, name, principle, prompt, response, critique=critique, few_shot=few_shot,
                              row=row)
    return ([{"role": "system", "content": system}] if system else []) + messages


def judge_question(templates: Templates, principle: Principle) -> str:
    """The question the judge is asked about a principle (score mode), as its judge template (judge.jinja,
    or the principle's own) words it: the principle's `question`, or one the template derives from its
    title or text.

    Read from the template rendered around a marker answer, not re-derived here: what the template
    says after the answer (the shipped one asks last) is the question; lines with no letter or digit
    (the `---` fences) are left out."""
    marker = "\u241eANSWER\u241e"
    text = templates.render(judge_template(principle, {}), principle=principle, prompt="", response=marker,
                            examples=[], row=SampleRow())
    before, _, after = text.rpartition(marker)
    worded = [line.strip() for line in after.splitlines() if any(ch.isalnum() for ch in line)]
    # A template that asks before it shows the answer: its question is among the lines before.
    return " ".join(worded or [line.strip() for line in before.splitlines() if any(ch.isalnum() for ch in line)])

