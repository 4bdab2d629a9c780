"""Regular expressions compiled on first use, so that importing a module does not pay for patterns it may not need.

A warm start-up imports many modules whose patterns only a rare path uses (a malformed permission, a strict
``entry_points.txt`` reading, a ``__pycache__`` name); each costs tens of microseconds to compile at import time.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["lazy_pattern"]


def lazy_pattern(expression: str, flags: int = 0) -> Callable[[], re.Pattern[str]]:
    """Return a function that compiles *expression* with *flags* on its first call and returns that pattern after."""

    @functools.cache
    def pattern() -> re.Pattern[str]:
        return re.compile(expression, flags)

    return pattern
