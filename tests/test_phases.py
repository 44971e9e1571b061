"""The phase clock: each phase's seconds without the phases nested in it, a fresh count after each take."""

from __future__ import annotations

import pytest

from loop import phases


@pytest.fixture
def clock(monkeypatch):
    """A clock that moves only when the test says so."""
    now = [0.0]
    monkeypatch.setattr(phases.time, "perf_counter", lambda: now[0])
    phases.take()
    return now


def test_a_nested_phase_is_not_counted_twice(clock):
    with phases.phase("training"):
        clock[0] += 2
        with phases.phase("generation"):
            clock[0] += 5
        clock[0] += 1
        with phases.phase("rewards"):
            clock[0] += 3
    assert phases.take() == {"training": 3.0, "generation": 5.0, "rewards": 3.0}


def test_take_starts_a_fresh_count_and_repeated_phases_add_up(clock):
    with phases.phase("probes"):
        clock[0] += 1
    phases.take()
    for _ in range(3):
        with phases.phase("probes"):
            clock[0] += 0.5
    assert phases.take() == {"probes": 1.5}
    assert phases.take() == {}


def test_a_timed_function_counts_even_when_it_raises(clock):
    @phases.timed("gate")
    def gate():
        clock[0] += 4
        raise ValueError("bad")

    with pytest.raises(ValueError):
        gate()
    assert phases.take() == {"gate": 4.0}
