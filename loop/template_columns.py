"""The pool columns the judge's templates read (`row.reference`, `row.category`), checked by `loop check`
against the prompt pool and the labeled pairs before any model loads.

A template that reads a column no row of the pool has would leave its principle unscored on every
prompt, silently; a category template whose category no row has would never be used; a labeled pair
without the column its principle's template needs could never be read right, and would count as a
miss against the judge. Each is refused, naming the file, the line and the fix.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import nodes

from loop.constitution import Constitution, Principle
from loop.errors import LoopError, display_path
from loop.templates import ENV, Templates, judge_template, template_name


def column_problems(constitution: Constitution, templates: Templates, pool: list[tuple[int, dict]],
                    pool_path: str | Path) -> list[LoopError]:
    """Every template reading a column the pool lacks, and every labeled pair of a principle with its own
    templates that lacks a column they need."""
    problems = []
    for name, rows, scope in _scopes(constitution, [row for _, row in pool]):
        if scope and not rows:
            problems.append(LoopError(f"no prompt in {display_path(pool_path)} has category '{scope}', so the "
                                      f"template {name}.jinja named for it is never used; fix the category",
                                      path=_principle_path(constitution, name)))
            continue
        for column in sorted(set().union(*templates.reads.get(name, ((), ())))):
            if not any(row.get(column) not in (None, "") for row in rows):
                where = f"prompt of category '{scope}'" if scope else "prompt"
                problems.append(LoopError(
                    f"{name}.jinja reads row.{column}, but no {where} in {display_path(pool_path)} has a '{column}' "
                    f"column; add it to the pool's rows, or fix the template", path=Path(templates.root) / f"{name}.jinja",
                    line=_first_use(templates.sources[name], column)))
    for principle in constitution.principles:
        if principle.template_files:
            problems += _pair_problems(constitution, templates, principle)
    return problems


def _scopes(constitution: Constitution, rows: list[dict]) -> list[tuple[str, list[dict], str]]:
    """(template name, the pool rows it reads, their category or "") of every judge template in use."""
    out = [(name, rows, "") for name in ("judge", "critique", "verdict")]
    for p in constitution.principles:
        if p.template:
            out.append((template_name(p.template), rows, ""))
        for category, file in p.templates:
            out.append((template_name(file), [row for row in rows if row.get("category") == category], category))
    return out


def _pair_problems(constitution: Constitution, templates: Templates, principle: Principle) -> list[LoopError]:
    problems = []
    for split in ("reliability", "train"):
        for pair in constitution.pairs(principle.id, split):
            name = judge_template(principle, pair.row)
            missing = templates.missing(name, pair.row)
            if missing:
                problems.append(LoopError(
                    f"principle '{principle.id}' is judged with {name}.jinja, which needs row.{missing[0]}; add "
                    f"\"row\": {{\"{missing[0]}\": \"...\"}} to this pair", path=pair.path, line=pair.line))
    return problems


def _principle_path(constitution: Constitution, name: str) -> str | None:
    for p in constitution.principles:
        if any(template_name(file) == name for _, file in p.templates):
            return p.path
    return None


def _first_use(source: str, column: str) -> int | None:
    """The line where a template first reads row.<column>."""
    lines = [node.lineno for node in ENV.parse(source).find_all((nodes.Getattr, nodes.Getitem, nodes.Const))
             if getattr(node, "attr", getattr(node, "value", None)) == column]
    return min(lines) if lines else None
