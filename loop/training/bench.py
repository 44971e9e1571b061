"""Moved to loop/bench/round.py, loop/bench/step.py, loop/bench/timing.py; this path works for one release."""

from loop.bench.round import *  # noqa: F401,F403  # moved; this path works for one release
from loop.bench.step import *  # noqa: F401,F403  # moved; this path works for one release
from loop.bench.timing import *  # noqa: F401,F403  # moved; this path works for one release
