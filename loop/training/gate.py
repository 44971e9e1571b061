"""Moved to loop/measure/gate.py; this path works for one release."""

from loop.measure.gate import *  # noqa: F401,F403  # moved; this path works for one release
