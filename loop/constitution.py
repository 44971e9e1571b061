"""The constitution: principles kept as TOML data files that people edit, validated on load.

Layout of a constitution directory:

    constitution/constitution.toml      name, version, description
    constitution/principles/<id>.toml   one principle per file (reads well in diffs)
    constitution/pairs/<id>.jsonl       optional: labeled pairs the judge is checked on every round
    constitution/pairs/<id>.train.jsonl optional: labeled pairs for judge training (loop/pairs.py)

Every load computes a content hash over exactly the bytes of those files, so a round can say which
constitution it used. Unknown keys are errors (a typo must not silently drop a rubric).
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from loop.datafile import read_text, read_toml
from loop.errors import LoopError, Problems, did_you_mean, display_path, line_of_key
from loop.pairs import LabeledPair, read_pairs_folder

CONSTITUTION_KEYS = {"name", "version", "description"}
# The judge's likelihood signals (loop/judging/likelihood.py; specificity is derived from the prior in
# loop/judging/judge.py), named once here, where the loader checks them: a principle names a weight for
# each (a principle key of the same name).
SIGNALS = ("lift", "relevance", "prior", "specificity")
PRINCIPLE_KEYS = {"id", "title", "text", "question", "weight", "rubric", "examples", "check", "template", "templates",
                  *SIGNALS}
RUBRIC_KEYS = {"low", "high"}
EXAMPLE_TEXTS = ("prompt", "good", "bad")
EXAMPLE_KEYS = {*EXAMPLE_TEXTS, "row"}  # row: the pool columns a principle's own template reads (reference, ...)
# Rule checks and their parameters: (required, optional). The code behind each lives in loop/rules.py.
CHECK_KEYS: dict[str, tuple[set[str], set[str]]] = {
    "max_words": ({"max"}, {"fail_loops"}),
    "regex": (set(), {"must", "must_not"}),
    "answer": (set(), {"column", "mode"}),
    "refusal": (set(), {"column"}),
    "admits_unknown": (set(), {"column"}),
    "format": (set(), {"column"}),
    "custom": ({"path"}, set()),
}
# Checks that read a label from a column of the prompt pool, and the column each reads by default
# (`column = "..."` names another); the pool loader accepts these columns.
CHECK_COLUMNS: dict[str, str] = {"answer": "answer", "refusal": "expect", "admits_unknown": "expect", "format": "expect"}
ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Example:
    prompt: str
    good: str
    bad: str
    columns: tuple[tuple[str, str], ...] = ()  # the example's pool row (`row = {reference = "..."}`), sorted

    @property
    def row(self) -> dict[str, str]:
        return dict(self.columns)


@dataclass(frozen=True)
class Principle:
    id: str
    title: str
    text: str
    weight: float = 1.0
    rubric: dict[str, str] | None = None  # {"low": ..., "high": ...}
    examples: tuple[Example, ...] = ()
    check: dict[str, Any] | None = None  # {"type": "max_words", "max": 120}
    path: str = ""
    question: str = ""  # the judge's Yes/No question, when the title alone asks it badly
    lift: float = 0.0  # weight of the principle lift in the judge's log-odds (loop/judging/likelihood.py); 0 = off
    relevance: float = 0.0  # weight of how much the prompt makes the response likely (loop/judging/likelihood.py)
    prior: float = 0.0  # weight of the response's likelihood as the model's own reply (loop/judging/likelihood.py)
    specificity: float = 0.0  # weight of the penalty on replies likelier than the labeled answers (loop/judging/judge.py)
    # The judge template of this principle in prompts/ (score mode), instead of judge.jinja; "" = judge.jinja.
    template: str = ""
    # A judge template per pool category ({"arithmetic": "judge_math.jinja"}), sorted pairs; before `template`.
    templates: tuple[tuple[str, str], ...] = ()

    @property
    def template_files(self) -> tuple[str, ...]:
        """The judge templates it names beyond judge.jinja: its own, then its categories', once each."""
        return tuple(dict.fromkeys(f for f in (self.template, *dict(self.templates).values()) if f))

    def judge_template(self, row: dict | None = None) -> str:
        """The file in prompts/ its judge reads an answer with in score mode: the template of the row's
        category, else the principle's own, else judge.jinja."""
        category = (row or {}).get("category")
        return dict(self.templates).get(category, "") or self.template or "judge.jinja"

    @property
    def is_rule(self) -> bool:
        """A principle with a rule check is rewarded by the rule, never by the judge."""
        return self.check is not None


@dataclass(frozen=True)
class Constitution:
    name: str
    version: str
    description: str
    principles: tuple[Principle, ...]
    root: str
    sha256: str
    files: dict[str, str] = field(default_factory=dict, repr=False)  # relative path -> text, as loaded
    # Labeled pairs from pairs/ (loop/pairs.py): {(principle id, split): pairs}, split "reliability" or "train".
    labeled: dict[tuple[str, str], tuple[LabeledPair, ...]] = field(default_factory=dict, repr=False)

    def get(self, principle_id: str) -> Principle:
        for p in self.principles:
            if p.id == principle_id:
                return p
        ids = [p.id for p in self.principles]
        raise LoopError(
            f"no principle '{principle_id}' in constitution '{self.name}'{did_you_mean(principle_id, ids)}; "
            f"known ids: {', '.join(ids)}"
        )

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]

    def pairs(self, principle_id: str, split: str = "reliability") -> tuple[LabeledPair, ...]:
        """The principle's labeled pairs of one split (pairs/<id>.jsonl, or <id>.train.jsonl); () when none."""
        return self.labeled.get((principle_id, split), ())

    def judge_training_pairs(self) -> list[LabeledPair]:
        """The train split's labeled pairs of every judged principle (pairs/<id>.train.jsonl)."""
        return [pair for p in self.principles if not p.is_rule for pair in self.pairs(p.id, "train")]


def _require_str(value: Any, key: str, path: Path, text: str, *, allow_empty: bool = False,
                 section: str | None = None, start: int = 0) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        problem = "must be a string" if not isinstance(value, str) else "is empty"
        raise LoopError(f"'{key}' {problem}; write some text in it", path=path,
                        line=line_of_key(text, key, section, start) or line_of_key(text, key))
    return value.strip()


def _example_offsets(text: str) -> list[int]:
    """Where each `[[examples]]` header starts, so an error in the third example names its own line."""
    return [m.start() for m in re.finditer(r"^[ \t]*\[\[[ \t]*examples[ \t]*\]\]", text, re.MULTILINE)]


def _check_keys(data: dict, allowed: set[str], where: str, path: Path, text: str, *, section: str | None = None,
                start: int = 0) -> None:
    for key in data:
        if key not in allowed:
            raise LoopError(
                f"unknown key '{key}' in {where}{did_you_mean(key, allowed)}; allowed keys: {', '.join(sorted(allowed))}",
                path=path,
                line=(line_of_key(text, key, section, start) if section else line_of_key(text, key, start=start))
                or line_of_key(text, key),
            )


def _check_line(text: str, key: str) -> int | None:
    """The line of `key` under [check] (or anywhere, for an inline `check = {...}`)."""
    return line_of_key(text, key, "check") or line_of_key(text, key)


def _load_check(raw: Any, key: str, path: Path, text: str) -> dict[str, Any]:
    line = line_of_key(text, "check")
    if not isinstance(raw, dict):
        raise LoopError("'check' must be a table, e.g. [check] type = \"max_words\" max = 120", path=path, line=line)
    kind = raw.get("type")
    if kind not in CHECK_KEYS:
        raise LoopError(
            f"check type {kind!r} is not known; use one of: {', '.join(CHECK_KEYS)}", path=path,
            line=_check_line(text, "type") if "type" in raw else line,
        )
    required, optional = CHECK_KEYS[kind]
    _check_keys(raw, required | optional | {"type"}, f"a '{kind}' check", path, text, section="check")
    for key in required:
        if key not in raw:
            raise LoopError(f"a '{kind}' check needs '{key}'", path=path, line=line)
    max_words = raw.get("max")
    if kind == "max_words" and (isinstance(max_words, bool) or not isinstance(max_words, int) or max_words <= 0):
        raise LoopError(f"check 'max' must be a positive whole number of words, got {max_words!r}", path=path,
                        line=_check_line(text, "max"))
    if kind == "max_words" and not isinstance(raw.get("fail_loops", False), bool):
        raise LoopError("check 'fail_loops' must be true or false", path=path, line=_check_line(text, "fail_loops"))
    if kind == "regex":
        if not raw.get("must") and not raw.get("must_not"):
            raise LoopError("a 'regex' check needs 'must' or 'must_not' (or both)", path=path, line=line)
        for key in ("must", "must_not"):
            if key in raw:
                try:
                    re.compile(raw[key])
                except (re.error, TypeError) as err:
                    raise LoopError(f"check '{key}' is not a valid regular expression ({err})", path=path,
                                    line=_check_line(text, key)) from None
    if kind == "answer" and raw.get("mode", "numeric") not in ("numeric", "exact"):
        raise LoopError("answer check 'mode' must be \"numeric\" or \"exact\"", path=path, line=_check_line(text, "mode"))
    if kind in CHECK_COLUMNS and "column" in raw and (not isinstance(raw["column"], str) or not raw["column"].strip()):
        raise LoopError(f"{kind} check 'column' must name a column of the prompt pool, e.g. column = "
                        f"\"{CHECK_COLUMNS[kind]}\"", path=path, line=_check_line(text, "column"))
    if kind == "custom" and not re.fullmatch(r"[A-Za-z_][\w.]*[:.][A-Za-z_]\w*", str(raw["path"])):
        raise LoopError("custom check 'path' must be a dotted import path such as \"mypkg.checks:no_emoji\"",
                        path=path, line=_check_line(text, "path"))
    return dict(raw)


def load_principle(path: Path, problems: Problems | None = None) -> Principle | None:
    """Load and validate one principle file. Every mistake in it is found: with `problems` they are added
    there (and None is returned when there are any), else they are raised."""
    data, text = read_toml(path, "principle file")
    found = Problems()
    fields: dict[str, Any] = {}
    with found.gather():
        _check_keys(data, PRINCIPLE_KEYS, "principle", path, text)
    for key in ("id", "title", "text"):
        if key not in data:
            found.add(LoopError(f"missing '{key}'; every principle needs id, title and text", path=path))
    for key, read in _FIELDS.items():
        if key in data:
            with found.gather():
                fields[key] = read(data[key], key, path, text)
    with found.gather():
        examples_read = "examples" in fields or "examples" not in data  # not when they are wrong: said once
        if fields.get("specificity") and examples_read and not fields.get("examples"):
            raise LoopError("specificity needs [[examples]]: it is measured against their answers' likelihood; "
                            "add examples, or set specificity = 0", path=path, line=line_of_key(text, "specificity"))
    with found.gather():
        if fields.get("check") and (fields.get("template") or fields.get("templates")):
            key = "template" if fields.get("template") else "templates"
            raise LoopError(f"a principle with a [check] is scored by its rule, never judged; remove '{key}'",
                            path=path, line=line_of_key(text, key))
    if found:
        return found.settle(None, problems)
    return Principle(**{**fields, "examples": tuple(fields.get("examples", ()))}, path=str(path))


def _load_id(value: Any, key: str, path: Path, text: str) -> str:
    pid = _require_str(value, key, path, text)
    if not ID_PATTERN.match(pid):
        raise LoopError(f"id '{pid}' must be lower-case letters, digits and underscores, starting with a letter",
                        path=path, line=line_of_key(text, "id"))
    return pid


def _load_weight(value: Any, key: str, path: Path, text: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise LoopError(f"weight must be a positive number, got {value!r}; use e.g. weight = 1.0",
                        path=path, line=line_of_key(text, "weight"))
    return float(value)


def _load_signal(value: Any, key: str, path: Path, text: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
        raise LoopError(f"{key} must be a number from 0 to 100, got {value!r}; use e.g. {key} = 2.0, or 0 for none",
                        path=path, line=line_of_key(text, key))
    return float(value)


def _load_rubric(rubric: Any, key: str, path: Path, text: str) -> dict[str, str]:
    """A principle's rubric: a table with exactly 'low' and 'high'."""
    if not isinstance(rubric, dict):
        raise LoopError("'rubric' must be a table with 'low' and 'high'", path=path, line=line_of_key(text, "rubric"))
    _check_keys(rubric, RUBRIC_KEYS, "rubric", path, text, section="rubric")
    missing = RUBRIC_KEYS - rubric.keys()
    if missing:
        raise LoopError(f"the rubric is missing '{', '.join(sorted(missing))}'; give both low and high", path=path,
                        line=line_of_key(text, "rubric"))
    return {k: _require_str(rubric[k], k, path, text, section="rubric") for k in ("low", "high")}


def _load_examples(raw_examples: Any, key: str, path: Path, text: str) -> list[Example]:
    """A principle's [[examples]], each with prompt, good and bad; errors name the example's own line."""
    examples = []
    if not isinstance(raw_examples, list):
        raise LoopError("'examples' must be an array of tables: [[examples]]", path=path, line=line_of_key(text, "examples"))
    offsets = _example_offsets(text)
    for number, ex in enumerate(raw_examples):
        # With [[examples]] headers, search from this example's header; an inline array has none.
        if len(offsets) == len(raw_examples):
            start, header = offsets[number], text.count("\n", 0, offsets[number]) + 1
        else:
            start, header = 0, line_of_key(text, "examples")
        if not isinstance(ex, dict):
            raise LoopError("each [[examples]] entry must be a table", path=path, line=line_of_key(text, "examples"))
        _check_keys(ex, EXAMPLE_KEYS, "an example", path, text, start=start)
        missing = set(EXAMPLE_TEXTS) - ex.keys()
        if missing:
            raise LoopError(f"an example is missing {', '.join(sorted(missing))}; give prompt, good and bad",
                            path=path, line=header)
        row = _string_table(ex.get("row", {}), "row", path, text, 'row = {reference = "..."}', start=start)
        examples.append(Example(**{k: _require_str(ex[k], k, path, text, start=start) for k in EXAMPLE_TEXTS},
                                columns=row))
    return examples


def _string_table(raw: Any, key: str, path: Path, text: str, example: str, start: int = 0) -> tuple[tuple[str, str], ...]:
    """A table of non-empty strings (an example's row, a principle's templates), as sorted pairs."""
    line = line_of_key(text, key, start=start) or line_of_key(text, key)
    if not isinstance(raw, dict) or not all(isinstance(v, str) and v.strip() for v in raw.values()):
        raise LoopError(f"'{key}' must be a table of non-empty strings, e.g. {example}", path=path, line=line)
    return tuple(sorted((str(k), v.strip()) for k, v in raw.items()))


def _load_template(value: Any, key: str, path: Path, text: str) -> str:
    """A judge template's file, relative to prompts/ and inside it."""
    name = _require_str(value, key, path, text)
    if not name.endswith(".jinja") or name.startswith(("/", "\\")) or ".." in Path(name).parts:
        raise LoopError(f"'{key}' must name a .jinja file inside prompts/, e.g. \"judge_reference.jinja\"", path=path,
                        line=line_of_key(text, key))
    return name


def _load_templates(value: Any, key: str, path: Path, text: str) -> tuple[tuple[str, str], ...]:
    """A judge template per pool category: {category = "file.jinja"}."""
    table = _string_table(value, key, path, text, '[templates] arithmetic = "judge_math.jinja"')
    return tuple((category, _load_template(name, key, path, text)) for category, name in table)


def _load_text(value: Any, key: str, path: Path, text: str) -> str:
    return _require_str(value, key, path, text)


# How each key of a principle file is read and checked: (value, key, path, file text) -> the field's value.
_FIELDS: dict[str, Callable[[Any, str, Path, str], Any]] = {
    "id": _load_id, "title": _load_text, "text": _load_text, "question": _load_text, "weight": _load_weight,
    **{signal: _load_signal for signal in SIGNALS}, "rubric": _load_rubric, "examples": _load_examples,
    "check": _load_check, "template": _load_template, "templates": _load_templates,
}


def load_constitution(root: str | Path, problems: Problems | None = None) -> Constitution:
    """Load and validate a constitution directory; raises LoopError naming the file and line. Every
    mistake is found: with `problems` they are added there and what did load is returned."""
    root = Path(root)
    if not root.is_dir():
        raise LoopError("constitution directory not found; run `loop init` or pass the right directory", path=root)
    found = Problems()
    name = version = description = head_text = ""
    with found.gather():  # the principles are checked even when constitution.toml cannot be read
        name, version, description, head_text = _load_head(root / "constitution.toml", found)
    files = sorted((root / "principles").glob("*.toml"))
    if not files:
        found.add(LoopError("no principles found; add principles/<id>.toml files", path=root / "principles"))
    principles: list[Principle] = []
    seen: dict[str, str] = {}
    for f in files:
        with found.gather():
            p = load_principle(f, found)
            if p is None:
                continue
            if p.id in seen:
                raise LoopError(f"duplicate principle id '{p.id}' (also in {display_path(seen[p.id])}); give each "
                                "principle its own id", path=f, line=line_of_key(f.read_text("utf-8"), "id"))
            seen[p.id] = str(f)
            principles.append(p)
    labeled: dict = {}
    if len(principles) == len(files):  # else a failed principle's pairs would read as pairs of no principle
        with found.gather():
            labeled = read_pairs_folder(root / "pairs", {p.id: p.is_rule for p in principles})
    texts = {"constitution.toml": head_text}
    # read_text keeps the bytes as they are (Path.read_text would turn CRLF into LF and hide that change).
    texts.update({f"principles/{Path(p.path).name}": read_text(p.path, "principle file") for p in principles})
    # The pairs are part of the constitution: hashed, snapshotted with each round, diffed like principles.
    texts.update({f"pairs/{Path(pairs[0].path).name}": read_text(pairs[0].path, "pairs file")
                  for pairs in labeled.values()})
    constitution = Constitution(name=name, version=version, description=description, principles=tuple(principles),
                                root=str(root), sha256=hash_files(texts), files=texts,
                                labeled={key: tuple(pairs) for key, pairs in labeled.items()})
    return found.settle(constitution, problems)


def _load_head(path: Path, found: Problems) -> tuple[str, str, str, str]:
    """constitution.toml's name, version and description (each "" where refused), and its text."""
    head, text = read_toml(path, "constitution file")
    with found.gather():
        _check_keys(head, CONSTITUTION_KEYS, "constitution.toml", path, text)
    values = {"name": "", "version": "", "description": ""}
    for key in ("name", "version"):
        if key not in head:
            found.add(LoopError(f"missing '{key}'; e.g. {key} = \"1.0.0\"" if key == "version" else f"missing '{key}'",
                                path=path))
    with found.gather():
        if "version" in head and (not isinstance(head["version"], str) or not head["version"].strip()):
            raise LoopError("'version' must be a non-empty string such as \"1.0.0\"", path=path,
                            line=line_of_key(text, "version"))
        values["version"] = str(head.get("version", "")).strip()
    with found.gather():
        values["name"] = _require_str(head["name"], "name", path, text) if "name" in head else ""
    with found.gather():
        values["description"] = _require_str(head.get("description", ""), "description", path, text, allow_empty=True)
    return values["name"], values["version"], values["description"], text


def hash_files(texts: dict[str, str]) -> str:
    """One hash over named texts: the same content gives the same hash, wherever it lives on disk."""
    digest = hashlib.sha256()
    for name in sorted(texts):
        digest.update(name.encode() + b"\0" + texts[name].encode("utf-8") + b"\0")
    return digest.hexdigest()


def diff_files(a: dict[str, str], b: dict[str, str], label_a: str = "a", label_b: str = "b",
               *, headers: tuple[str, str] | None = None) -> dict[str, list[str]]:
    """Unified diffs per file between two snapshots {relative path: text}; files equal in both are left out.

    The diff headers are `label/name`; `headers` gives them whole instead, for two single files
    compared under one name (whose own paths are not a folder plus that name)."""
    out: dict[str, list[str]] = {}
    for name in sorted(set(a) | set(b)):
        old, new = a.get(name, ""), b.get(name, "")
        if old == new:
            continue
        head_a, head_b = headers or (f"{label_a}/{name}", f"{label_b}/{name}")
        out[name] = list(difflib.unified_diff(old.splitlines(), new.splitlines(), head_a, head_b, lineterm=""))
    return out
