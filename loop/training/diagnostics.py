"""Moved to loop/measure/diagnostics.py; this path works for one release."""

from loop.measure.diagnostics import *  # noqa: F401,F403  # moved; this path works for one release
