"""Argument checks for the public constructors: a wrong type is a :class:`TypeError` that names the argument.

Without them a wrong type fails far from the call, or worse, works: ``Host(path="site")`` iterated the string one
character at a time. Each check says what was passed and what to pass instead.
"""

from __future__ import annotations

from typing import Any

__all__ = ["describe", "require_type"]


def describe(value: object) -> str:
    """``str 'site'``, ``PosixPath '/srv'``: the type and a short repr of *value*, for error messages."""
    text = repr(value)
    text = text[:60] + "..." if len(text) > 63 else text
    return text if text.startswith(type(value).__name__) else f"{type(value).__name__} {text}"


def require_type(owner: str, name: str, value: object, expected: type[Any] | tuple[type[Any], ...], hint: str) -> None:
    """Raise unless *value* is an instance of *expected* (``bool`` never passes for ``int``).

    Args:
        owner: the callable, for the message (``Host``).
        name: the argument.
        value: what was passed.
        expected: the accepted types (include ``type(None)`` for an optional argument).
        hint: what to pass instead, in words.

    Raises:
        TypeError: *value* has another type.
    """
    kinds = expected if isinstance(expected, tuple) else (expected,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise TypeError(f"{owner}({name}=...) takes {hint}, not {describe(value)}")
