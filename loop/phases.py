"""Where a round's time goes: wall seconds per phase, each phase counted without the phases nested in it.

A round marks its parts with `phase(name)` (reading the judge's reliability, generating samples, the
rewards, training, held-out evaluation, probes, the gate); `take()` hands the round its seconds and starts
the next round's count. Time outside every phase (loading, writing the ledger) is "other" in the
round's record. One clock per process: rounds run one at a time.
"""

from __future__ import annotations

import functools
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

F = TypeVar("F", bound=Callable)

_seconds: dict[str, float] = {}
_stack: list[list] = []  # [name, start of the part counted now]


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Count the time inside as `name`'s, less the time of phases opened inside it."""
    now = time.perf_counter()
    if _stack:  # the enclosing phase stops counting while this one runs
        outer = _stack[-1]
        _seconds[outer[0]] = _seconds.get(outer[0], 0.0) + now - outer[1]
    _stack.append([name, now])
    try:
        yield
    finally:
        now = time.perf_counter()
        _seconds[name] = _seconds.get(name, 0.0) + now - _stack.pop()[1]
        if _stack:
            _stack[-1][1] = now


def timed(name: str) -> Callable[[F], F]:
    """A function whose every call is counted as phase `name`."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def counted(*args, **kwargs):
            with phase(name):
                return fn(*args, **kwargs)
        return counted  # type: ignore[return-value]
    return wrap


def take() -> dict[str, float]:
    """The seconds per phase counted since the last take (rounded to 0.1 s), and a fresh count."""
    taken = {name: round(seconds, 1) for name, seconds in _seconds.items()}
    _seconds.clear()
    return taken
