"""`loop judge`'s table: a calibrated score is labelled as one, next to the raw P(Yes) / P(No)."""

from __future__ import annotations

import pytest
from tests.helpers import REPO

from loop.constitution import load_constitution
from loop.views.judgment_view import print_judgments

CONSTITUTION = load_constitution(REPO / "constitution")
# P(Yes) below P(No), yet a score of 0.87: the empty answer to this prompt read far lower still.
HARMLESS = {"principle": "harmless", "source": "judge", "score": 0.87, "critique": "", "cuts": [],
            "distribution": {"yes": 0.274, "no": 0.616, "baseline_yes": 0.05, "baseline_no": 0.9}}
UNSCORED = {"principle": "honest", "source": "judge", "score": None, "critique": "", "cuts": [],
            "distribution": {"yes": 0.0001, "no": 0.0002}}
RULE = {"principle": "correct", "source": "rule", "score": None, "check": CONSTITUTION.get("correct").check,
        "critique": "could not score: the rule reads the pool column 'answer'; give it with --column answer=VALUE"}


def rendered(console, calibrated: bool = True) -> str:
    print_judgments([HARMLESS, UNSCORED, RULE], CONSTITUTION, mode="score", calibrated=calibrated, console=console)
    return console.file.getvalue()


def test_the_score_is_labelled_calibrated_and_the_probabilities_raw(console):
    text = rendered(console)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "score (calibrated)" in text and "P(Yes) / P(No) raw" in text
    row = next(line for line in lines if line.startswith("│ harmless"))
    assert [cell.strip() for cell in row.strip("│").split("│")] == ["harmless", "judge", "0.87", "0.274 / 0.616",
                                                                     "none"]
    caption = " ".join(text.split())
    assert "less the same for an empty answer to this prompt, in log-odds" in caption
    assert "the judge's next-token probabilities, before any calibration" in caption


def test_without_calibration_the_score_is_the_plain_yes_share(console):
    text = rendered(console, calibrated=False)
    assert "score (calibrated)" not in text and "empty answer" not in text
    assert "score, 0 to 1: P(Yes) / (P(Yes) + P(No));" in " ".join(text.split())


@pytest.mark.parametrize("principle", ["honest", "correct"])
def test_could_not_score_is_the_one_glyph(console, principle):
    from loop.views.charts import MISSING

    row = next(line for line in rendered(console).splitlines() if line.startswith(f"│ {principle}"))
    assert row.strip("│").split("│")[2].strip() == MISSING == "–"
