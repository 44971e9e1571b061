"""One table from command-line flags to loop.toml settings: `loop run` and `loop bench` name the same
knobs, and a flag changes the same setting wherever it is given.
"""

from __future__ import annotations

from typing import Any, Iterable

# flag (its argparse dest) -> (loop.toml section, key)
FLAG_SETTINGS: dict[str, tuple[str, str]] = {
    "model": ("model", "name"),
    "prompts_per_round": ("run", "prompts_per_round"),
    "num_generations": ("grpo", "num_generations"),
    "max_completion_length": ("grpo", "max_completion_length"),
    "judge_mode": ("judge", "mode"),
    "method": ("train", "method"),
    "stop_on_regression": ("train", "stop_on_regression"),
}


def flag_overrides(args, flags: Iterable[str] = FLAG_SETTINGS, *, zero_is_unset: bool = False) -> dict[str, dict]:
    """The plan overrides (loop/training/round.py plan_run) that `flags` of the parsed `args` make: a flag
    given changes its setting; one left unset (None, or False for a switch) keeps loop.toml's. With
    `zero_is_unset`, a 0 keeps it too, as `loop bench` has always read it."""
    overrides: dict[str, dict[str, Any]] = {}
    for flag in flags:
        value = getattr(args, flag)
        if value is None or value is False or (zero_is_unset and not value):
            continue
        section, key = FLAG_SETTINGS[flag]
        overrides.setdefault(section, {})[key] = value
    return overrides


def column_flags(pairs: list[str] | None) -> dict[str, str]:
    """--column NAME=VALUE flags as a pool row (what a rule check or a judge template reads)."""
    from loop.errors import LoopError

    row = {}
    for item in pairs or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise LoopError(f"--column takes NAME=VALUE (e.g. --column answer=42), got {item!r}")
        row[name.strip()] = value
    return row
