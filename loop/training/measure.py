"""Moved to loop/measure/outside_view.py; this path works for one release."""

from loop.measure.outside_view import *  # noqa: F401,F403  # moved; this path works for one release
