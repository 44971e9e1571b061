"""Moved to loop/measure/probes.py; this path works for one release."""

from loop.measure.probes import *  # noqa: F401,F403  # moved; this path works for one release
