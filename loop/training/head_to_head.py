"""Moved to loop/bench/head_to_head.py; this path works for one release."""

from loop.bench.head_to_head import *  # noqa: F401,F403  # moved; this path works for one release
