"""Prompt templates: Jinja files in prompts/, rendered through one sandboxed environment.

The environment is a `SandboxedEnvironment` with `StrictUndefined`: a template cannot reach Python
internals and a misspelled variable is an error, not an empty string. Templates are checked when they
load, before any model loads: syntax, every variable against the set the code passes (`jinja2.meta`),
no access to underscored attributes, and a dry-run render with sample values.
"""

from __future__ import annotations

import hashlib
import traceback
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import StrictUndefined, meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from loop.constitution import Constitution, Example, Principle
from loop.datafile import read_text
from loop.errors import LoopError, line_of_key

# The one environment. No autoescape: we render plain text for a model, not HTML.
ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
                           keep_trailing_newline=False)

# Each template and the variables the code passes to it. A template may use fewer, never others.
TEMPLATE_VARIABLES: dict[str, set[str]] = {
    # System prompt of the policy when it answers a user prompt.
    "system": {"principles"},
    # Score mode: one user message asking whether the response follows the principle (Yes/No). `row`: the
    # prompt's pool row ({"category": ..., "reference": ...}); a principle may name its own judge templates,
    # which take the same variables (Principle.judge_template).
    "judge": {"principle", "prompt", "response", "examples", "row"},
    # Critique mode, turn 1: ask for a short critique of the response against the principle.
    "critique": {"principle", "prompt", "response", "examples", "row"},
    # Critique mode, turn 2: after the critique, ask for the Yes/No verdict that is scored.
    "verdict": {"principle", "prompt", "response", "critique", "row"},
    # Principle lift: the system message under which a response's likelihood is compared with the
    # plain chat's (loop/judging/likelihood.py). Used for principles with a `lift` weight.
    "lift": {"principle"},
    # Revision, after the critique turn: ask the model to rewrite its answer (loop/training/revision.py).
    "revise": {"principle", "prompt", "response", "critique"},
}

# Templates a workspace may leave out: loaded when their file is there; the settings that use them
# require them (loop/workspace.py), so a workspace made before they existed still checks.
OPTIONAL_TEMPLATES = {"revise"}


@dataclass(frozen=True)
class Templates:
    root: str
    sources: dict[str, str]  # name -> source text
    compiled: dict[str, jinja2.Template] = field(repr=False, compare=False)
    # A principle's own judge templates (name -> "judge"): they take the variables of judge.jinja.
    kinds: dict[str, str] = field(default_factory=dict)
    # The pool columns each template reads from `row`: {name: (required, optional)}; `row.get("x")` is optional.
    reads: dict[str, tuple[frozenset, frozenset]] = field(default_factory=dict)

    def render(self, name: str, **variables: Any) -> str:
        if name not in self.compiled:  # an optional template the workspace lacks; checked before a run
            raise LoopError(f"template prompts/{name}.jinja is missing; copy it from a new `loop init` workspace",
                            path=Path(self.root) / f"{name}.jinja")
        allowed = TEMPLATE_VARIABLES[self.kinds.get(name, name)]
        unexpected = set(variables) - allowed
        if unexpected:  # a programming error, not user input
            raise TypeError(f"template {name} does not take {sorted(unexpected)}")
        return self.compiled[name].render(**variables).strip()

    def required(self, name: str) -> frozenset:
        """The row columns template `name` cannot render without (a row lacking one: the judge cannot score)."""
        return self.reads.get(name, (frozenset(), frozenset()))[0]

    def missing(self, name: str, row: dict | None) -> list[str]:
        """The columns template `name` needs that the row lacks (a reference answer, say): where any is
        missing the judge cannot score the answer (None), as a rule without its column cannot."""
        return sorted(c for c in self.required(name) if (row or {}).get(c) in (None, ""))

    def sha256(self, name: str) -> str:
        return hashlib.sha256(self.sources[name].encode("utf-8")).hexdigest()

    @property
    def files(self) -> dict[str, str]:
        """Relative file name -> text, as loaded (what the ledger snapshots)."""
        return {f"{name}.jinja": text for name, text in self.sources.items()}


def _line_in_template(err: BaseException, filename: str) -> int | None:
    """Jinja rewrites tracebacks so template frames carry the template's file name and line."""
    lines = [fr.lineno for fr in traceback.extract_tb(err.__traceback__) if fr.filename == filename]
    return lines[-1] if lines else getattr(err, "lineno", None)


def variable_list(name: str) -> str:
    """What template `name` can use, for an error message: its variables and what a principle, an
    example and a rubric hold."""
    allowed = TEMPLATE_VARIABLES[name]
    out = f"this template can use: {', '.join(sorted(allowed))}"
    if allowed & {"principle", "principles", "examples"}:
        out += (f" (a principle has: {', '.join(f.name for f in fields(Principle))}; a rubric has: low, high; "
                f"an example has: {', '.join(f.name for f in fields(Example))})")
    return out


def _refuse_private_access(ast: nodes.Template, path: Path, name: str) -> None:
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        attr = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(attr, str) and attr.startswith("_"):
            raise LoopError(f"access to '{attr}' is not allowed: templates cannot reach Python internals; "
                            f"{variable_list(name)}", path=path, line=node.lineno)


def _variable_line(source: str, name: str) -> int | None:
    for number, line in enumerate(source.splitlines(), start=1):
        if name in line:
            return number
    return None


def sample_variables(constitution: Constitution | None = None) -> dict[str, Any]:
    """Values for a dry-run render: a real principle when a constitution is at hand."""
    principle = constitution.principles[0] if constitution else Principle(
        id="sample", title="Sample", text="The response is helpful.", rubric={"low": "Unhelpful.", "high": "Helpful."},
        examples=(Example("What is 2 + 2?", "4.", "5."),))
    for p in (constitution.principles if constitution else ()):
        if p.rubric and p.examples:
            principle = p
            break
    return {"principle": principle, "principles": list(constitution.principles) if constitution else [principle],
            "prompt": "What is 2 + 2?", "response": "2 + 2 = 4.", "critique": "The answer is right and short.",
            "examples": list(principle.examples), "row": SampleRow(category="arithmetic", answer="4")}


class SampleRow(dict):
    """A pool row for a dry run: any column reads as sample text (whether the pool has it is `loop check`'s
    question: loop/template_columns.py)."""

    def __missing__(self, key: str) -> str:
        return f"sample {key}"


def row_reads(ast: nodes.Template) -> tuple[frozenset, frozenset]:
    """(required, optional) pool columns a template reads: `row.x` and `row["x"]` are required,
    `row.get("x")` optional."""
    required, optional = set(), set()
    for node in ast.find_all(nodes.Call):
        call = node.node
        if isinstance(call, nodes.Getattr) and isinstance(call.node, nodes.Name) and call.node.name == "row" \
                and call.attr == "get" and node.args and isinstance(node.args[0], nodes.Const):
            optional.add(str(node.args[0].value))
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if not (isinstance(node.node, nodes.Name) and node.node.name == "row"):
            continue
        column = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
        if isinstance(column, str) and column not in ("get", "items", "keys", "values"):
            required.add(column)
    return frozenset(required), frozenset(optional - required)


def compile_template(name: str, source: str, path: Path, constitution: Constitution | None = None,
                     kind: str | None = None) -> jinja2.Template:
    """Parse, check and compile one template (with `kind`'s variables, its name's by default); raises
    LoopError naming the template and line."""
    kind = kind or name
    try:
        ast = ENV.parse(source, name=name, filename=str(path))
    except jinja2.TemplateSyntaxError as err:
        raise LoopError(f"template syntax error: {err.message}; fix the Jinja syntax", path=path, line=err.lineno) from None
    _refuse_private_access(ast, path, kind)
    allowed = TEMPLATE_VARIABLES[kind]
    try:  # resolving names also resolves filters and tests: an unknown one is an error here, not a crash
        undeclared = meta.find_undeclared_variables(ast)
    except jinja2.TemplateSyntaxError as err:
        raise LoopError(f"template error: {err.message}; fix the template", path=path, line=err.lineno) from None
    for var in sorted(undeclared - allowed):
        from loop.errors import did_you_mean

        # The line of the first use in the template's syntax tree: a text search would also hit comments.
        uses = [node.lineno for node in ast.find_all(nodes.Name) if node.name == var]
        raise LoopError(f"undefined variable '{var}'{did_you_mean(var, allowed)}; {variable_list(kind)}",
                        path=path, line=min(uses) if uses else _variable_line(source, var))
    try:
        code = ENV.compile(source, name=name, filename=str(path))
    except jinja2.TemplateSyntaxError as err:
        raise LoopError(f"template error: {err.message}; fix the template", path=path, line=err.lineno) from None
    template = ENV.template_class.from_code(ENV, code, ENV.make_globals(None), None)
    try:  # dry run: catches misspelled attributes (principle.titel) and sandbox violations
        template.render(**{k: v for k, v in sample_variables(constitution).items() if k in allowed})
    except jinja2.exceptions.SecurityError as err:
        raise LoopError(f"unsafe template: {err}; templates cannot reach Python internals",
                        path=path, line=_line_in_template(err, str(path))) from None
    except jinja2.UndefinedError as err:
        raise LoopError(f"{err.message}; check the spelling: {variable_list(kind)}",
                        path=path, line=_line_in_template(err, str(path))) from None
    except Exception as err:  # a filter applied to the wrong type, a division by zero...
        raise LoopError(f"template fails to render: {err}", path=path, line=_line_in_template(err, str(path))) from None
    return template


def load_templates(root: str | Path, constitution: Constitution | None = None) -> Templates:
    root = Path(root)
    if not root.is_dir():
        raise LoopError("prompts directory not found; run `loop init` or fix the path", path=root)
    sources, compiled, reads = {}, {}, {}
    for name in TEMPLATE_VARIABLES:
        path = root / f"{name}.jinja"
        if name in OPTIONAL_TEMPLATES and not path.exists():
            continue
        sources[name] = read_text(path, f"template '{name}'")
        compiled[name] = compile_template(name, sources[name], path, constitution)
        reads[name] = row_reads(ENV.parse(sources[name]))
    kinds = {}
    for name, principle, key in principle_templates(constitution):
        path = root / f"{name}.jinja"
        if not path.is_file():
            where = Path(principle.path) if principle.path else None
            raise LoopError(f"{key} names prompts/{name}.jinja, which does not exist; create it (copy judge.jinja) or "
                            "fix the name", path=where, line=line_of_key(read_text(where, "principle file"), key)
                            if where and where.is_file() else None)
        sources[name] = read_text(path, f"template '{name}'")
        compiled[name] = compile_template(name, sources[name], path, constitution, kind="judge")
        reads[name] = row_reads(ENV.parse(sources[name]))
        kinds[name] = "judge"
    return Templates(root=str(root), sources=sources, compiled=compiled, kinds=kinds, reads=reads)


def template_name(file: str) -> str:
    """A template's name from its file in prompts/: "judge_reference.jinja" -> "judge_reference"."""
    return file[:-len(".jinja")] if file.endswith(".jinja") else file


def judge_template(principle: Principle, row: dict | None) -> str:
    """The template the judge asks its score-mode question with: the principle's own for the row's
    category, else its own, else judge.jinja (Principle.judge_template)."""
    return template_name(principle.judge_template(row))


def principle_templates(constitution: Constitution | None) -> list[tuple[str, Principle, str]]:
    """(name, principle, key) of every judge template a principle names beyond judge.jinja, once each."""
    out, seen = [], {"judge"}
    for p in constitution.principles if constitution else ():
        for file in p.template_files:
            name, key = template_name(file), "template" if file == p.template else "templates"
            if name not in seen:
                seen.add(name)
                out.append((name, p, key))
    return out


def policy_messages(templates: Templates, constitution: Constitution, prompt: str) -> list[dict[str, str]]:
    """What the policy sees for a user prompt: the system template, then the prompt."""
    system = templates.render("system", principles=list(constitution.principles))
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
