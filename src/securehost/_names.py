"""Distribution-name normalisation (PEP 503), without importing ``packaging.utils``.

``packaging.utils`` imports ``packaging.tags`` (platform detection, ``sysconfig``): about 15 ms that every start-up
would pay for one string function. :func:`canonicalize_name` is ``packaging.utils.canonicalize_name`` (without its
``validate`` option), character for character; a property test holds the two to the same answers.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from packaging.version import Version

__all__ = ["canonicalize_name", "check_version", "parse_version", "version_above", "versions_equal"]


def canonicalize_name(name: str) -> str:
    """Return the normalised form of a distribution name: lowercase, runs of ``-``, ``_`` and ``.`` as one ``-``."""
    value = name.lower().replace("_", "-").replace(".", "-")
    while "--" in value:
        value = value.replace("--", "-")
    return value


@functools.lru_cache(maxsize=4096)
def parse_version(text: str) -> Version:
    """Return ``packaging.version.Version(text)``, parsed once per distinct string (a version is immutable).

    A load compares the same few version strings about ten times per plugin (discovery, the statement, rollback).

    Raises:
        packaging.version.InvalidVersion: *text* is not a PEP 440 version (not cached).
    """
    from packaging.version import Version  # noqa: PLC0415 - a leaf module: import what the caller needs, on call

    return Version(text)


def _plain_release(text: str) -> bool:
    """Whether *text* is a bare release number (``1``, ``2.0.11``), which is always a PEP 440 version."""
    return bool(text) and all(part.isascii() and part.isdigit() for part in text.split("."))


def check_version(text: str) -> None:
    """Check that *text* is a PEP 440 version; a bare release number needs no parser.

    Raises:
        packaging.version.InvalidVersion: it is not.
        TypeError: *text* is not a string.
    """
    if not isinstance(text, str):
        raise TypeError(f"a version must be a str, not {type(text).__name__}")
    if not _plain_release(text):
        parse_version(text)


def versions_equal(one: str, other: str) -> bool:
    """Whether two version strings name the same PEP 440 version; a string that is not a version equals only itself.

    Equal strings need no parser (a load compares a plugin's version with itself a few times).
    """
    if one == other:
        return True
    from packaging.version import InvalidVersion  # noqa: PLC0415 - only when the strings differ

    try:
        return parse_version(one) == parse_version(other)
    except InvalidVersion:
        return False


def version_above(one: str, other: str) -> bool:
    """Whether version *one* is above version *other* (equal strings need no parser).

    Raises:
        packaging.version.InvalidVersion: the strings differ and one of them is not a version.
    """
    return one != other and parse_version(one) > parse_version(other)
