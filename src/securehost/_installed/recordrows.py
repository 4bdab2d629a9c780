"""The rows of an installed ``RECORD``, with :mod:`csv` imported on first use.

A warm start-up whose plugins are re-checked by ``lstat`` alone reads no ``RECORD``; importing :mod:`csv` up front
cost it about 0.5 ms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["record_rows"]


def record_rows(lines: Iterable[str]) -> list[list[str]]:
    """Return the CSV rows of *lines* (a ``RECORD``'s lines, or some of them).

    Raises:
        ValueError: the text is not CSV that :mod:`csv` reads (a NUL byte on Python 3.10, say).
    """
    import csv  # noqa: PLC0415 - see the module docstring

    try:
        return list(csv.reader(lines))
    except csv.Error as exc:
        raise ValueError(str(exc)) from exc
