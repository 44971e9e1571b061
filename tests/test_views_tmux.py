"""Smoke tests of `loop log` in a real terminal: a tmux pane on a private tmux server.

No fixed sleeps: every wait polls `capture-pane` until the expected text shows or a deadline passes.
The commands echo their exit code into the pane, so the tests see how they ended.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid

import pytest
from tests.fixture_ledger import append_running_step, copy_fixture_ledger, finish_running_round

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
DEADLINE = 30.0  # seconds; generous for a loaded CI machine, the waits end as soon as the text shows


class Pane:
    """One detached tmux session on a private server (-L), killed at the end."""

    def __init__(self, command: str, width: int = 100, height: int = 40):
        self.socket = f"loop-test-{uuid.uuid4().hex[:8]}"
        self.tmux("new-session", "-d", "-s", "t", "-x", str(width), "-y", str(height), command)

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True, text=True).stdout

    def text(self, escapes: bool = False) -> str:
        """The pane's whole history and screen; wrapped lines joined."""
        return self.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "t", *(["-e"] if escapes else []))

    def wait_for(self, needle: str) -> str:
        end = time.monotonic() + DEADLINE
        while True:
            text = self.text()
            if needle in text:
                return text
            if time.monotonic() > end:
                raise AssertionError(f"{needle!r} did not show within {DEADLINE}s; the pane shows:\n{text}")
            time.sleep(0.05)  # polling interval, not a guess at how long anything takes

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


def colours(text_with_escapes: str) -> set[str]:
    """Foreground colour codes (30-37, 38;..., 90-97) in the SGR escapes of a captured pane."""
    found = set()
    for params in re.findall(r"\x1b\[([0-9;]*)m", text_with_escapes):
        found |= {p for p in params.split(";") if p in {*map(str, range(30, 39)), *map(str, range(90, 98))}}
    return found


def loop_command(workspace, args: str, env: str = "") -> str:
    """A shell line that runs `loop ARGS` in the workspace, then prints its exit code and keeps the pane open."""
    return (f"cd {shlex.quote(str(workspace))} && env {env} {shlex.quote(sys.executable)} -m loop {args}; "
            f"echo LOOP-EXIT=$?; sleep 600")


@pytest.fixture
def ledger(workspace):
    return copy_fixture_ledger(workspace / "runs")


def test_log_follow_tails_a_running_round_in_a_terminal(ledger, workspace):
    pane = Pane(loop_command(workspace, "log --follow --principle helpful", env="NO_COLOR=1"))
    try:
        pane.wait_for("round 4 · step 1 · prompt 1 · sample 3")  # what was already written
        assert "LOOP-EXIT" not in pane.text()  # still following
        append_running_step(ledger, 4, 2)
        pane.wait_for("round 4 · step 2 · prompt 3 · sample 3")
        finish_running_round(ledger, 4)
        text = pane.wait_for("LOOP-EXIT=0")
        assert "round 4 complete" in text
        assert text.count("╭─ round 4") == 16
        assert colours(pane.text(escapes=True)) == set()  # NO_COLOR: styles maybe, colours never
    finally:
        pane.close()


def test_log_pages_long_output_on_a_terminal(ledger, workspace):
    less = shutil.which("less")
    if less is None:
        pytest.skip("less is not installed")
    pane = Pane(loop_command(workspace, "log --round 3", env=f"PAGER={less} LESS=-R"), height=30)
    try:
        pane.wait_for("round 3 · step 1 · prompt 0 · sample 0")
        assert "LOOP-EXIT" not in pane.text()  # the pager holds the output until it is quit
        assert colours(pane.text(escapes=True))  # a terminal gets colour, through `less -R`
        pane.tmux("send-keys", "-t", "t", "q")
        pane.wait_for("LOOP-EXIT=0")
    finally:
        pane.close()
