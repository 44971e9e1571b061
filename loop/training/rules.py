"""Moved to loop/rules.py; this path works for one release."""

from loop.rules import *  # noqa: F401,F403  # moved; this path works for one release
