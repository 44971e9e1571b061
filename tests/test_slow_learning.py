"""The training path can learn at all: two short self-rewarding rounds on the embedded model, with a
constitution of one strict rule, move the policy the rule's way (a word limit shortens the answers)."""

from __future__ import annotations

import json
import re
import shutil

import pytest
from tests.helpers import run_cli

pytestmark = pytest.mark.slow

BRIEF = """id = "brief"
title = "Brief"
text = "The response is at most eight words long."

[check]
type = "max_words"
max = 8
"""


def test_a_strict_word_limit_shortens_the_answers(workspace):
    principles = workspace / "constitution" / "principles"
    shutil.rmtree(principles)
    principles.mkdir()
    shutil.rmtree(workspace / "constitution" / "pairs")  # labeled pairs of principles this constitution drops
    (principles / "brief.toml").write_text(BRIEF)
    # Rules only, no warm start: what moves the policy here is GRPO on the rule's reward, nothing else.
    # A high learning rate and few, short rounds: the test must show movement in minutes on a CPU.
    toml = workspace / "loop.toml"
    text = re.sub(r"(?m)^warm_start = true$", "warm_start = false", toml.read_text())
    text = re.sub(r"(?m)^per_round = \d+$", "per_round = 2", text)
    text = re.sub(r"(?m)^reliability_sample = \d+$", "reliability_sample = 1", text)
    text = text.replace('gate_dir = "prompts/gate"', 'gate_dir = ""')  # no gate: every round is kept, and faster
    # Samples at temperature 1 (the default samples nearer the greedy answer): the word count varies more
    # within a group, so two short rounds have a difference to learn from.
    text = text.replace("temperature = 0.7", "temperature = 1.0").replace("top_p = 0.9", "top_p = 1.0")
    # Every answer sampled: a greedy member, one of four, left the word count nearly where it was after
    # two rounds this short (the default keeps it, for what the probes read greedily).
    text = text.replace("greedy_member = true", "greedy_member = false")
    # One group an optimizer step: the most steps two short rounds can take.
    text = re.sub(r"(\[grpo\]\nlearning_rate = )\S+", r"\g<1>0.001\ngradient_accumulation_steps = 1", text)
    toml.write_text(text)
    settings = toml.read_text()
    assert "warm_start = false" in settings and "per_round = 2" in settings and "learning_rate = 0.001" in settings
    assert "gradient_accumulation_steps = 1" in settings
    assert 'gate_dir = ""' in settings and "temperature = 1.0" in settings and "greedy_member = false" in settings
    code, out, err = run_cli("run", "--rounds", "2", "--prompts-per-round", "6", "--num-generations", "4",
                             "--max-completion-length", "32", "--json", "-C", str(workspace))
    assert code == 0, err
    rounds = {s["round"]: s for s in map(json.loads, out.splitlines())}
    assert set(rounds) == {0, 1, 2}
    before, after = rounds[0]["completion_words"], rounds[2]["completion_words"]
    assert after < before, f"held-out answers did not get shorter: {before:.1f} -> {after:.1f} words"
