"""Whether a value read from TOML fits a dataclass field's type annotation, and that type in words.

loop.toml's sections are our dataclasses and its [grpo], [dpo] and [sft] tables TRL's; TRL does not
check its fields' types when its config is built (temperature = "hot" passes), so loop reads the
annotations (str, int, float, bool, Optional, Union, Literal, list, dict, enums) and checks each value
when the file is read.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from typing import Any


def expected_type(value: Any, hint: Any, one_for_list: bool = False) -> str | None:
    """None when a TOML value fits the type `hint` (a dataclass field's: str, int, float, bool, Optional,
    Union, Literal, list, dict, an enum); else that type in words. With `one_for_list`, one item fits a
    list (TRL turns DPOConfig's loss_type = "ipo" into ["ipo"])."""
    return None if _fits(value, hint, one_for_list) else _describe(hint)


def _fits(value: Any, hint: Any, one_for_list: bool) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arm, one_for_list) for arm in args)
    if origin is typing.Literal:
        return any(value == arm and type(value) is type(arm) for arm in args)
    if origin in (list, tuple) or hint in (list, tuple):
        if isinstance(value, list):
            return not args or all(_fits(item, args[0], False) for item in value)
        return one_for_list and bool(args) and _fits(value, args[0], False)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    if hint is float:  # TOML writes 0 for 0.0
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return value in {member.value for member in hint}
    return isinstance(value, hint) if isinstance(hint, type) else True  # a type we cannot read: TRL checks it


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        words = [_describe(arm) for arm in args if arm is not type(None)]
        return " or ".join(dict.fromkeys(words))  # each once: "SchedulerType | str" is a str
    if origin is typing.Literal:
        return " or ".join(("true" if arm else "false") if isinstance(arm, bool) else repr(arm) for arm in args)
    if origin in (list, tuple) or hint in (list, tuple):
        return f"a list of {_describe(args[0])}" if args else "a list"
    if origin is dict or hint is dict:
        return "a table"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "str"
    return getattr(hint, "__name__", str(hint))


@functools.cache
def field_types(cls: type) -> dict[str, Any]:
    """{field name: type} of a dataclass (one of ours or TRL's), its annotations resolved."""
    return typing.get_type_hints(cls)
