"""``Host(...)`` argument types: checked before anything is created, each error naming the argument and the fix."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from securehost._args import describe, require_type
from securehost._audit import AuditLog
from securehost._installed.dependencies import DependencyPolicy
from securehost._installed.discovery import DiscoveryCache
from securehost._trust.store import TrustStore

__all__ = ["check_host_arguments"]

_NONE: Final = type(None)
_PATH: Final = (str, os.PathLike)
_NUMBER: Final = (int, float)

#: argument -> (accepted types, what to pass instead); ``None`` is accepted where the default is ``None``
_SIMPLE: Final[Mapping[str, tuple[tuple[type[Any], ...], str]]] = {
    "project": ((str,), "a string: the host's project name (pluggy's project name)"),
    "group": ((str,), 'a string: the entry-point group, e.g. "myapp.plugins"'),
    "trust_store": ((TrustStore, *_PATH), "a TrustStore or the path of a trust-store TOML file"),
    "state_dir": ((*_PATH, _NONE), "a directory path (str or pathlib.Path) or None"),
    "dependency_policy": ((DependencyPolicy, _NONE), "a securehost.DependencyPolicy or None"),
    "dependency_approvals": ((*_PATH, _NONE), "the approvals file's path (str or pathlib.Path) or None"),
    "audit": ((AuditLog, _NONE), "a securehost.AuditLog or None"),
    "audit_sink": ((*_PATH, _NONE), "a file path (str or pathlib.Path) or None"),
    "max_statement_age": ((dt.timedelta, _NONE), "a datetime.timedelta or None"),
    "isolate": ((bool,), "True or False"),
    "guard": ((bool,), "True or False"),
    "paranoid": ((bool,), "True or False"),
    "refuse_bytecode": ((bool,), "True or False"),
    "quarantine_after": ((int, _NONE), "a number of consecutive failures (int) or None"),
    "discovery_cache": ((DiscoveryCache, _NONE), "a securehost.DiscoveryCache or None"),
    "config_file": ((*_PATH, _NONE), "a TOML file path (str or pathlib.Path) or None"),
    "lifecycle_timeout": (_NUMBER, "a number of seconds (int or float)"),
}


def _check_path(value: object) -> None:
    if value is None:
        return
    if isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"Host(path=...) takes a list of directories, not one {describe(value)}: pass path=[{value!r}]")
    if not isinstance(value, Iterable):
        raise TypeError(f"Host(path=...) takes a list of directories (str or pathlib.Path), not {describe(value)}")
    for item in value:
        if not isinstance(item, (str, os.PathLike)):
            raise TypeError(
                f"Host(path=...): each entry must be a directory path (str or pathlib.Path), not {describe(item)}"
            )


def _check_names(name: str, value: object) -> None:
    if value is None or isinstance(value, str):
        return
    if isinstance(value, (bytes, os.PathLike)) or not isinstance(value, Iterable):
        raise TypeError(f"Host({name}=...) takes a distribution name or a list of them, not {describe(value)}")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"Host({name}=...): each entry must be a distribution name (str), not {describe(item)}")


def _check_mapping(name: str, value: object, hint: str) -> None:
    if value is not None and not isinstance(value, Mapping):
        raise TypeError(f"Host({name}=...) takes {hint}, not {describe(value)}")


def check_host_arguments(values: Mapping[str, object]) -> None:
    """Check the types of ``Host`` arguments (*values*: the constructor's arguments by name; others are ignored).

    Raises:
        TypeError: an argument has the wrong type; the message names it and says what to pass.
    """
    for name, (kinds, hint) in _SIMPLE.items():
        if name in values:
            require_type("Host", name, values[name], kinds, hint)
    _check_path(values.get("path"))
    _check_names("host_distribution", values.get("host_distribution"))
    _check_mapping(
        "grants",
        values.get("grants"),
        "a mapping of distribution-name globs to permission lists, e.g. "
        '{"acme-*": ["net.connect:api.acme.example:443"]}',
    )
    _check_mapping("pins", values.get("pins"), 'a mapping of distribution names to versions, e.g. {"acme-csv": "1.2"}')
    _check_mapping(
        "config",
        values.get("config"),
        'a mapping of distribution names to configuration tables, e.g. {"acme-csv": {"delimiter": ";"}}',
    )
    hookspecs = values.get("hookspecs")
    if isinstance(hookspecs, (str, bytes)):
        raise TypeError(
            f"Host(hookspecs=...) takes the module or class of hook specifications (or a list of them), "
            f"not its name {hookspecs!r}: import it and pass the object"
        )
    clock = values.get("clock")
    if clock is not None and not isinstance(clock, Callable):  # type: ignore[arg-type]
        raise TypeError(f"Host(clock=...) takes a function returning an aware datetime, not {describe(clock)}")
