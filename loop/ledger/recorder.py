"""Moved to loop/training/recorder.py; this path works for one release."""

from loop.training.recorder import *  # noqa: F401,F403  # moved; this path works for one release
