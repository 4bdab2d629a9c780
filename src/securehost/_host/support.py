"""Stateless helpers of the Host: grants, the default state directory, versions, the envelope file, import reasons."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Final

from securehost._fileio import read_file_stat
from securehost._names import canonicalize_name, versions_equal
from securehost._permissions import PermissionSet
from securehost._verdict import Reason, ReasonCode
from securehost.exceptions import DependencyNotAllowedError, VerificationImportError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["default_state_root", "import_reason", "parse_grants", "read_envelope", "same_version"]

MAX_ENVELOPE_FILE: Final = 8 * 1024 * 1024
_R = ReasonCode


def parse_grants(grants: Mapping[str, Iterable[str]] | None) -> tuple[tuple[str, PermissionSet], ...]:
    if grants is None:
        return ()
    parsed = []
    for pattern, permissions in grants.items():
        if isinstance(permissions, str):
            raise TypeError(f"grants[{pattern!r}] must be a list of permissions, not a single string")
        canonical = "*" if pattern == "*" else "*".join(canonicalize_name(p) if p else "" for p in pattern.split("*"))
        parsed.append((canonical, PermissionSet.parse(permissions)))
    return tuple(parsed)


def default_state_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "securehost"


def same_version(signed: str, installed: str | None) -> bool:
    return installed is not None and versions_equal(signed, installed)


def read_envelope(path: str) -> tuple[bytes, os.stat_result] | None:
    """Read the envelope file *path* of an installed distribution, with its ``fstat``; ``None`` when there is none.

    Raises:
        OSError: it exists but cannot be read safely (a symlink, a special file, too large, unreadable).
    """
    try:
        return read_file_stat(path, MAX_ENVELOPE_FILE)
    except FileNotFoundError:
        return None


def import_reason(exc: BaseException, *, registering: bool) -> Reason:
    if isinstance(exc, DependencyNotAllowedError):
        return Reason(code=_R.DEPENDENCY_NOT_ALLOWED, message=str(exc))
    if registering:  # pluggy.PluginValidationError, ValueError (already registered), or the plugin object raised
        return Reason(code=_R.REGISTRATION_FAILED, message=f"{type(exc).__name__}: {exc}")
    if isinstance(exc, VerificationImportError):
        return Reason(code=_R.IMPORT_FAILED, message=str(exc))
    return Reason(code=_R.IMPORT_FAILED, message=f"the plugin raised {type(exc).__name__} while loading: {exc}")
