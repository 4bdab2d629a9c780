"""Distribution-name normalisation (PEP 503), without importing ``packaging.utils``.

``packaging.utils`` imports ``packaging.tags`` (platform detection, ``sysconfig``): about 15 ms that every start-up
would pay for one string function. :func:`canonicalize_name` is ``packaging.utils.canonicalize_name`` (without its
``validate`` option), character for character; a property test holds the two to the same answers.
"""

from __future__ import annotations

__all__ = ["canonicalize_name"]


def canonicalize_name(name: str) -> str:
    """Return the normalised form of a distribution name: lowercase, runs of ``-``, ``_`` and ``.`` as one ``-``."""
    value = name.lower().replace("_", "-").replace(".", "-")
    while "--" in value:
        value = value.replace("--", "-")
    return value
