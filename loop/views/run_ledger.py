"""Moved to loop/ledger/queries.py; this path works for one release."""

from loop.ledger.queries import *  # noqa: F401,F403  # moved; this path works for one release
