"""Forbidden files: members of a wheel that Python would run at every start-up once it is installed.

A ``.pth`` file, or a ``sitecustomize``/``usercustomize`` module or package (any extension, any case), at the top of
site-packages, that is: at the top of the wheel, at the top of ``*.data/purelib/`` or ``*.data/platlib/``, and
anywhere under ``*.data/data/`` (the data scheme is the environment prefix, which contains site-packages). A ``.pth``
inside a package directory is allowed: :mod:`site` only reads ``.pth`` files in site directories.

A module of its own (re-exported by :mod:`securehost._wheel.info`): the installed-file check runs it on every start-up,
which then does not import the wheel-metadata parsers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from securehost._verdict import Reason, ReasonCode

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["forbidden_files"]

_STARTUP_MODULES: Final = frozenset({"sitecustomize", "usercustomize"})


def _startup_file(parts: list[str], *, anywhere: bool) -> bool:
    """Whether *parts* (a path below site-packages) is a ``.pth`` file or a start-up module."""
    folded = [p.casefold() for p in parts]
    if anywhere:
        return folded[-1].endswith(".pth") or any(p.split(".", 1)[0] in _STARTUP_MODULES for p in folded)
    if len(folded) == 1 and folded[0].endswith(".pth"):
        return True
    top = folded[1] if folded[0] == "__pycache__" and len(folded) > 1 else folded[0]
    return top.split(".", 1)[0] in _STARTUP_MODULES


def forbidden_files(names: Iterable[str], *, data_dir: str | None = None) -> tuple[Reason, ...]:
    """Find members that Python would run at start-up once the wheel is installed.

    Args:
        names: the archive member names.
        data_dir: the wheel's ``.data`` directory; ``None`` treats every top-level ``*.data``
            directory as one (the safe choice before the wheel's name is known).

    Returns:
        One ``FORBIDDEN_FILE`` reason per such member.
    """
    reasons = []
    for name in names:
        parts = name.split("/")
        head = parts[0]
        is_data = len(parts) > 2 and (head == data_dir or (data_dir is None and head.endswith(".data")))
        if is_data and parts[1] in ("purelib", "platlib"):
            bad = _startup_file(parts[2:], anywhere=False)
        elif is_data and parts[1] == "data":
            bad = _startup_file(parts[2:], anywhere=True)
        elif is_data:
            bad = False
        else:
            bad = _startup_file(parts, anywhere=False)
        if bad:
            reasons.append(
                Reason(
                    code=ReasonCode.FORBIDDEN_FILE,
                    message=f"{name} would run at every Python start-up once installed",
                    subject=name,
                )
            )
    return tuple(reasons)
