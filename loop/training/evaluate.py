"""Moved to loop/measure/evaluate.py; this path works for one release."""

from loop.measure.evaluate import *  # noqa: F401,F403  # moved; this path works for one release
