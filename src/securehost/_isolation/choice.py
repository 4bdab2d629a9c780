"""Where each plugin runs: ``Host(isolation=...)`` as ordered ``(glob, choice)`` pairs, and the choice for one name.

Split from :mod:`securehost._isolation.policy` so that a host whose plugins all run in-process (the default) does not
import the policy's classes on its start-up: :func:`parse_isolation` imports ``policy`` only when *isolation* is
anything but ``"in-process"``, and :func:`isolation_for` needs nothing from it.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from securehost._isolation.policy import IsolationChoice

__all__ = ["isolation_for", "parse_isolation"]

#: ``isolation="in-process"``: every name (``*``) runs in-process (``None``)
_ALL_IN_PROCESS: Final = (("*", None),)


def parse_isolation(value: object) -> tuple[tuple[str, IsolationChoice], ...]:
    """Validate ``Host(isolation=...)`` into ordered ``(glob, choice)`` pairs (see :func:`.policy.parse_isolation`).

    Raises:
        ConfigurationError: a mode is unknown.
        TypeError: *value* is neither a mode nor a mapping of str globs to modes.
    """
    if isinstance(value, str) and value == "in-process":
        return _ALL_IN_PROCESS
    from securehost._isolation.policy import parse_isolation as parse  # noqa: PLC0415 - see the module docstring

    return parse(value)


def isolation_for(pairs: tuple[tuple[str, IsolationChoice], ...], name: str) -> IsolationChoice:
    """Return the isolation of canonical distribution *name*: the first matching glob's, else in-process."""
    for pattern, choice in pairs:
        if fnmatch.fnmatchcase(name, pattern):
            return choice
    return None
