"""Capabilities: what a plugin offers, as a small dotted grammar a trust-store key can be scoped to.

A capability is two to eight dot-separated segments, each a lowercase letter followed by up to 31 lowercase
letters, digits or ``_`` (``data.transform``, ``agent.skill.decompose``), at most 100 characters. A capability
*pattern* (a trust-store key's ``capabilities``, :meth:`securehost.Host.select`) is a capability, a prefix of one or
more segments followed by ``.*`` (``data.*`` matches ``data.transform`` and ``data.csv.load``, any depth, but not
``data`` itself), or ``*`` alone (every capability).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from securehost._patterns import lazy_pattern
from securehost.exceptions import CapabilityFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["MAX_CAPABILITY_CHARS", "check_capability", "check_pattern", "pattern_covers", "pattern_matches"]

MAX_CAPABILITY_CHARS: Final = 100
_SEGMENT: Final = r"[a-z][a-z0-9_]{0,31}"


_capability_re = lazy_pattern(rf"{_SEGMENT}(?:\.{_SEGMENT}){{1,7}}")


_prefix_re = lazy_pattern(rf"{_SEGMENT}(?:\.{_SEGMENT}){{0,6}}")


def _show(value: str) -> str:
    return repr(value[:80])


def check_capability(text: object) -> str:
    """Return *text* if it is a capability.

    Raises:
        TypeError: *text* is not a :class:`str`.
        CapabilityFormatError: it does not follow the grammar.
    """
    if not isinstance(text, str):
        raise TypeError(f"a capability must be a str, not {type(text).__name__}")
    if len(text) > MAX_CAPABILITY_CHARS or not _capability_re().fullmatch(text):
        raise CapabilityFormatError(
            f"invalid capability {_show(text)}: use 2-8 dot-separated lowercase segments "
            "(a letter, then letters, digits or '_'), such as 'data.transform'"
        )
    return text


def check_pattern(text: object) -> str:
    """Return *text* if it is a capability pattern: a capability, ``PREFIX.*`` or ``*``.

    Raises:
        TypeError: *text* is not a :class:`str`.
        CapabilityFormatError: it is neither.
    """
    if not isinstance(text, str):
        raise TypeError(f"a capability pattern must be a str, not {type(text).__name__}")
    if text == "*":
        return text
    if text.endswith(".*") and len(text) <= MAX_CAPABILITY_CHARS and _prefix_re().fullmatch(text[:-2]):
        return text
    try:
        return check_capability(text)
    except CapabilityFormatError:
        raise CapabilityFormatError(
            f"invalid capability pattern {_show(text)}: use a capability ('data.transform'), "
            "a prefix followed by '.*' ('data.*') or '*'"
        ) from None


def pattern_matches(pattern: str, capability: str) -> bool:
    """Return whether the (valid) *pattern* matches the (valid) *capability*."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return capability.startswith(pattern[:-1])
    return pattern == capability


def pattern_covers(patterns: Iterable[str], capability: str) -> bool:
    """Return whether one of *patterns* matches *capability*."""
    return any(pattern_matches(p, capability) for p in patterns)
