"""Labeled pairs: two answers to one prompt, the better one `chosen`, judged against one principle.

The judge is measured on them (pairwise accuracy, loop/judging/judge_check.py), each round reads them
to know how far to trust its judge (loop/judging/reliability.py), and `loop judge-train` learns from
them. One JSON object a line:

    {"prompt": ..., "chosen": ..., "rejected": ..., "principle": "honest", "note": "what differs"}

`principle` is an id of the constitution, or `principle_text` an ad-hoc principle (judge-check files
only). A file named for a principle (`honest.jsonl`, `honest.train.jsonl`) may leave `principle` out,
and a line that names another principle is an error. Unknown keys are errors (a typo must not drop
a label), except on a rule principle's pairs: there the extra keys are the prompt-pool columns its
rule reads (e.g. "answer"), as the pool gives them to the rule in training. Any pair may carry a
`row`, the pool columns a principle's own judge template reads ({"reference": ..., "category": ...}),
so the judge reads a labeled pair as it reads a round's answer.

A constitution ships its pairs in `constitution/pairs/`, two files a principle at most:
`<id>.jsonl`, the reliability split that every round reads, and `<id>.train.jsonl`, for judge
training only. This module is the one loader of both kinds of file.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from loop.datafile import iter_jsonl
from loop.errors import LoopError, did_you_mean

TEXT_KEYS = ("prompt", "chosen", "rejected")
PAIR_KEYS = {*TEXT_KEYS, "principle", "principle_text", "note", "row"}
# The splits a constitution's pairs/ folder holds: file-name suffix -> split name.
SPLITS = {"": "reliability", ".train": "train"}
_FILE_NAME = re.compile(r"^(?P<id>[a-z][a-z0-9_]*)(?P<split>\.train)?\.jsonl$")


@dataclass(frozen=True)
class LabeledPair:
    """One labeled pair as read from its file; `principle` is an id ("" for an ad-hoc principle_text)."""

    prompt: str
    chosen: str
    rejected: str
    principle: str
    principle_text: str = ""
    note: str = ""
    columns: tuple[tuple[str, Any], ...] = ()  # the pair's pool columns (its `row`, a rule's), sorted (kept hashable)
    line: int = 0
    path: str = ""

    @property
    def row(self) -> dict[str, Any]:
        """The pool row a rule check or a judge template reads for this pair."""
        return dict(self.columns)

    @property
    def key(self) -> str:
        return pair_key(self.principle or self.principle_text, self.prompt, self.chosen, self.rejected, self.row)


def pair_key(principle: str, prompt: str, chosen: str, rejected: str, row: dict | None = None) -> str:
    """A stable name for a pair, whatever file or line it is on: its outcomes are recorded under it. Its
    row (a reference answer the judge reads beside it) is part of it, where it has one."""
    texts = (principle, prompt, chosen, rejected) + ((json.dumps(row, sort_keys=True),) if row else ())
    return hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()[:16]


def named_for(path: str | Path) -> tuple[str, str] | None:
    """(principle id, split) of a file named `<id>.jsonl` or `<id>.train.jsonl`; None for other names."""
    match = _FILE_NAME.match(Path(path).name)
    if match is None:
        return None
    return match.group("id"), SPLITS[match.group("split") or ""]


def read_pairs(path: str | Path, rules: Mapping[str, bool], *, principle: str | None = None) -> list[LabeledPair]:
    """Read and validate a pairs file; any problem is one LoopError naming the file and line.

    `rules` maps every principle id of the constitution to whether it is a rule principle (whose pairs
    may carry pool columns). `principle`: the id the file is named for; without it, a file whose name
    is `<known id>.jsonl` or `<known id>.train.jsonl` is taken as named for that id."""
    if principle is None:
        named = named_for(path)
        principle = named[0] if named and named[0] in rules else None
    pairs = [_pair(obj, rules, principle, path, line) for line, obj in iter_jsonl(path, "pairs file")]
    if not pairs:
        raise LoopError("no pairs in the file; write one JSON object per line", path=path)
    return pairs


def _pair(obj: dict[str, Any], rules: Mapping[str, bool], file_principle: str | None, path, line: int) -> LabeledPair:
    for key in TEXT_KEYS:
        if key not in obj:
            raise LoopError(f"missing key '{key}'; each line needs prompt, chosen, rejected and principle "
                            "(or principle_text)", path=path, line=line)
        if not isinstance(obj[key], str):
            raise LoopError(f"'{key}' must be a string", path=path, line=line)
    has_id, has_text = "principle" in obj, "principle_text" in obj
    if has_id and has_text:
        raise LoopError("give exactly one of 'principle' (an id in the constitution) or 'principle_text'",
                        path=path, line=line)
    pid, text = obj.get("principle", file_principle), obj.get("principle_text", "")
    if has_text:
        if file_principle is not None:
            raise LoopError(f"'principle_text' has no place in a file named for principle '{file_principle}'; "
                            "remove it, or rename the file", path=path, line=line)
        if not isinstance(text, str) or not text.strip():
            raise LoopError("'principle_text' must be a non-empty string", path=path, line=line)
        pid = ""
    elif pid is None:
        raise LoopError("missing key 'principle' (an id in the constitution) or 'principle_text'", path=path, line=line)
    elif not isinstance(pid, str):
        raise LoopError("'principle' must be a string id", path=path, line=line)
    elif pid not in rules:
        raise LoopError(f"no principle '{pid}' in the constitution{did_you_mean(pid, rules)}; known ids: "
                        f"{', '.join(rules)}", path=path, line=line)
    elif file_principle is not None and pid != file_principle:
        raise LoopError(f"principle '{pid}' disagrees with the file name, which holds pairs for '{file_principle}'; "
                        "move the line to its own file, or fix the id", path=path, line=line)
    row = obj.get("row", {})
    if not isinstance(row, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                            for k, v in row.items()):
        raise LoopError("'row' must be an object of non-empty strings, the pool columns the principle's template "
                        "reads, e.g. {\"reference\": \"...\"}", path=path, line=line)
    extra = sorted(set(obj) - PAIR_KEYS)
    if extra and not rules.get(pid, False):
        raise LoopError(f"unknown key '{extra[0]}'{did_you_mean(extra[0], PAIR_KEYS)}; allowed keys: "
                        f"{', '.join(sorted(PAIR_KEYS))} (a rule principle's pairs may add the pool columns its "
                        "check reads)", path=path, line=line)
    note = obj.get("note", "")
    if not isinstance(note, str):
        raise LoopError("'note' must be a string", path=path, line=line)
    return LabeledPair(obj["prompt"], obj["chosen"], obj["rejected"], pid, text.strip(), note,
                       tuple(sorted({**{k: obj[k] for k in extra}, **row}.items())), line, str(path))


def read_pairs_folder(folder: Path, rules: Mapping[str, bool]) -> dict[tuple[str, str], list[LabeledPair]]:
    """A constitution's pairs/ folder: {(principle id, split): pairs}. A file whose name is not
    `<id>.jsonl` or `<id>.train.jsonl` for a principle of the constitution is refused."""
    out: dict[tuple[str, str], list[LabeledPair]] = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.iterdir()):
        if path.name.startswith("."):
            continue  # editor and OS droppings (.DS_Store, .swp)
        named = named_for(path)
        if named is None:
            raise LoopError("a pairs file is named <principle id>.jsonl (read every round) or <id>.train.jsonl "
                            "(judge training); rename it, or move it out of pairs/", path=path)
        if named[0] not in rules:
            raise LoopError(f"pairs for '{named[0]}', which is no principle of this constitution"
                            f"{did_you_mean(named[0], rules)}; delete the file with its principle, or rename it "
                            "<id>.jsonl for the principle it labels", path=path)
        out[named] = read_pairs(path, rules, principle=named[0])
    _refuse_shared(out)
    return out


def _refuse_shared(splits: dict[tuple[str, str], list[LabeledPair]]) -> None:
    """A pair in both of a principle's splits would train the judge on what measures it: refused."""
    for (pid, split), pairs in splits.items():
        if split != "train":
            continue
        measured = {pair.key: pair for pair in splits.get((pid, "reliability"), [])}
        for pair in pairs:
            if pair.key in measured:
                raise LoopError(f"this pair is also line {measured[pair.key].line} of {Path(measured[pair.key].path).name}, "
                                "the split that measures the judge; delete it from one of the two files",
                                path=pair.path, line=pair.line)
