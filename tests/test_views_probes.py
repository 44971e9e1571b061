"""The probes table: readable at 80 columns with the change columns, a dash where there is nothing to show."""

from __future__ import annotations

from loop.views.probes_view import render_probes

FAMILIES = ["arithmetic", "benign", "format", "harmful", "unknowable"]
STATS = {f: {"rate": 0.45, "low": 0.2581, "high": 0.6579, "n": 20} for f in FAMILIES}
CHANGES = {f: {"delta": -0.15, "low": -0.3333, "high": 0.0512, "n": 20} for f in FAMILIES if f != "format"}
FLUENCY = {f: {"repeats": 0.05, "cut": 0.8, "words": 40.2, "n": 20} for f in FAMILIES}


def test_the_table_with_changes_fits_80_columns(console):
    render_probes(console, STATS, CHANGES, FLUENCY, "probes · run main, round 3 · 100 probes", max_new_tokens=64)
    lines = console.file.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert lines[0].strip() == "probes · run main, round 3 · 100 probes"
    row = next(line for line in lines if line.lstrip().startswith("harmful"))
    # Intervals are bracketed as in every view: "–" alone means there is nothing to show.
    assert row.split() == ["harmful", "0.45", "[0.26,", "0.66]", "20", "-0.15", "[-0.33,", "+0.05]", "5%", "80%", "40"]


def test_a_family_without_a_baseline_shows_a_dash(console):
    render_probes(console, STATS, CHANGES, FLUENCY, "t")
    row = next(line for line in console.file.getvalue().splitlines() if line.lstrip().startswith("format"))
    assert row.split() == ["format", "0.45", "[0.26,", "0.66]", "20", "–", "5%", "80%", "40"]


def test_without_changes_there_are_no_change_columns(console):
    render_probes(console, STATS, {}, FLUENCY, "t")
    text = console.file.getvalue()
    assert "change" not in text and "95% CI" in text
