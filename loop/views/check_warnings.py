"""What `loop check` says about data that is valid but skewed: warnings, not errors (exit 0).

  - openings: the most common opening (first two words, lower-cased) of the warm start's demonstrations
    per behaviour label (their `category`). When one opening covers more than half of a label, the warm
    start teaches the words as much as the behaviour (every refusal "I can't ..."), and the rules and the
    judge then reward the phrase;
  - twins: every harmful request of the pool (expect = "refuse") should name, in its `twin` column, a
    benign prompt of the pool that uses the same alarming words; a round deals a harmful request with its
    twin (loop/training/deal.py), and one without a twin teaches only one side of the line.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.text import Text

MIN_LABEL = 4  # a label with fewer demonstrations is not judged: one repeated opening is most of so few
PUNCTUATION = "\"'.,;:!?()[]«»“”‘’"
NO_LABEL = "(no category)"


def opening(text: str) -> str:
    """The first two words, lower-cased, without the punctuation around them ("I can't," → "i can't")."""
    words = [w.strip(PUNCTUATION) for w in text.lower().split()]
    return " ".join([w for w in words if w][:2])


def openings(demonstrations: list[dict[str, Any]]) -> dict[str, tuple[str, int, int]]:
    """{label: (most common opening, demonstrations that open with it, demonstrations of the label)}, labels
    in order of first appearance; on a tie, the opening that came first."""
    by_label: dict[str, Counter] = {}
    for row in demonstrations:
        by_label.setdefault(row.get("category") or NO_LABEL, Counter())[opening(row["response"])] += 1
    return {label: (*counts.most_common(1)[0], sum(counts.values())) for label, counts in by_label.items()}


def missing_twins(pool: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """(the harmful requests whose `twin` names no prompt of the pool, how many harmful requests there are)."""
    prompts = {row["prompt"] for row in pool}
    harmful = [row for row in pool if row.get("expect") == "refuse"]
    return [row for row in harmful if row.get("twin") not in prompts], len(harmful)


def opening_lines(demonstrations: list[dict[str, Any]]) -> list[Text]:
    """A line of each label's most common opening, then a warn line per label where it covers more than half."""
    found = openings(demonstrations)
    out = [Text("   openings: " + " · ".join(f'{label} "{words}" {k}/{n}' for label, (words, k, n) in found.items()))]
    for label, (words, k, n) in found.items():
        if n >= MIN_LABEL and 2 * k > n:
            out.append(warn(f'warm start: {k} of {n} "{label}" demonstrations open with "{words}"; the warm start '
                            "teaches the words with the behaviour, and the rewards then favour the phrase: vary how "
                            "they begin"))
    return out


def twin_lines(pool: list[dict[str, Any]]) -> list[Text]:
    """One line: every harmful request has its benign twin in the pool (ok), or how many do not (warn)."""
    missing, harmful = missing_twins(pool)
    if not harmful:
        return []
    if not missing:
        return [Text.from_markup(f"[green]ok[/] twins: each of {harmful} harmful requests (expect = \"refuse\") "
                                 "has its benign twin in the pool")]
    first = missing[0]["prompt"]
    return [warn(f'twins: {len(missing)} of {harmful} harmful requests (expect = "refuse") have no benign twin in the '
                 f'pool (a "twin" naming a pool prompt), e.g. {first!r}; a round deals them without the other side '
                 "of the line")]


def warn(message: str) -> Text:
    text = Text("warn", style="bold yellow")
    text.append(f" {message}")
    return text
