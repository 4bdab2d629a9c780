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

__all__ = ["canonicalize_name", "parse_version"]


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
