"""Who is running: the plugin context of the implementation that runs in this thread or task.

While an implementation runs, the dispatcher stores its :class:`PluginContext` in a
:class:`contextvars.ContextVar`. A context variable (not a thread-local) is what makes the identity
follow the work: asyncio tasks and callbacks scheduled by a plugin copy it, and the guard hands it
to threads that the plugin starts. Host code runs with ``None``.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import sys
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol, final

from securehost._permissions import Permission
from securehost.exceptions import PermissionDeniedError

if TYPE_CHECKING:
    from collections.abc import Callable

    from securehost._audit import AuditLog
    from securehost._permissions import PermissionSet

__all__ = ["CounterCell", "PluginContext", "current_plugin"]


class CounterCell(Protocol):
    """The counters of one (plugin, hook) pair that a context carries (``securehost._dispatch.stats.Cell``)."""

    append: Callable[[int], None]
    """Record one call's latency in nanoseconds (the hot path)."""

    def clear_streak(self) -> None:
        """Forget the run of consecutive errors (the plugin was released from quarantine)."""

    def record_denial(self) -> None:
        """Count one permission denial."""

    def record_error(self, threshold: int | None, error: str | None = None) -> bool:
        """Count one error (described by *error*); return whether the circuit breaker trips now."""


CURRENT: Final[contextvars.ContextVar[PluginContext | None]] = contextvars.ContextVar(
    "securehost_current_plugin", default=None
)
_get = CURRENT.get


def current_plugin() -> PluginContext | None:
    """Return the context of the plugin implementation running here (``None`` in host code)."""
    return _get()


def run_as_host(function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """Call *function* with no plugin identity (securehost's own bookkeeping: audit, logging)."""
    token = CURRENT.set(None)
    try:
        return function(*args, **kwargs)
    finally:
        CURRENT.reset(token)


def import_as_host(name: str) -> types.ModuleType:
    """Return securehost's own module *name*, importing it with no plugin identity if it is not imported yet.

    For the modules a start-up does not import, imported by their first use instead. That first use may happen
    inside a plugin's call (a hook left out for a missing permission while the plugin registers, a note about it):
    reading securehost's own files is then still the host's doing, not something the guard should judge against
    the plugin's ``fs.read`` grants.
    """
    module = sys.modules.get(name)
    if module is None:
        module = run_as_host(importlib.import_module, name)
    return module


_EMPTY: Final[Mapping[str, Any]] = types.MappingProxyType({})


def _describe(error: BaseException | None) -> str | None:
    if error is None:
        return None
    try:
        return f"{type(error).__name__}: {error}"[:300]
    except Exception:  # noqa: BLE001 - a hostile __str__ must not break error accounting
        return type(error).__name__


@functools.lru_cache(maxsize=1024)
def _as_permission(item: str | Permission) -> Permission:
    return item if isinstance(item, Permission) else Permission.parse(item)


@final
class PluginContext:
    """What a plugin implementation may do, and who it is, while it runs.

    One context exists per (plugin, hook) pair; it is created when the implementation is registered.
    Plugins get theirs with :func:`securehost.current_plugin`.

    Attributes:
        plugin: the name the plugin was registered under.
        hook: the hook whose implementation is running.
        permissions: the plugin's effective permissions.
        config: the plugin's resolved configuration (read-only: objects are mappings, arrays tuples; empty when
            it declares none). Secrets are in it: the plugin needs them, and only reports redact them.
        as_caller: the implementation belongs to a *host plugin* (one the host registered without permissions):
            the dispatcher counts its calls with this context but runs it with its caller's identity (the host's,
            when host code calls the hook), so the guard never judges it.
    """

    __slots__ = (
        "_audit",
        "_cell",
        "_on_trip",
        "as_caller",
        "config",
        "hook",
        "permissions",
        "plugin",
        "quarantined",
        "threshold",
    )

    def __init__(
        self,
        *,
        plugin: str,
        hook: str,
        permissions: PermissionSet,
        cell: CounterCell,
        audit: AuditLog,
        threshold: int | None = None,
        on_trip: Callable[[PluginContext], None] | None = None,
        config: Mapping[str, Any] | None = None,
        as_caller: bool = False,
    ) -> None:
        self.plugin: Final = plugin
        self.as_caller: Final = as_caller
        self.hook: Final = hook
        self.permissions: Final = permissions
        self.config: Final[Mapping[str, Any]] = config if config is not None else _EMPTY
        self._cell: Final = cell
        self._audit: Final = audit
        self.threshold = threshold
        self._on_trip = on_trip
        self.quarantined = False

    def __repr__(self) -> str:
        return f"<PluginContext plugin={self.plugin!r} hook={self.hook!r}>"

    def allows(self, kind: str, value: str | None = None) -> bool:
        """Return whether the permissions allow *kind* for *value* (``None``: unscoped use)."""
        return self.permissions.allows(kind, value)

    def require(self, *permissions: str | Permission) -> None:
        """Raise unless every one of *permissions* is covered by the plugin's effective permissions.

        A denial is counted for the running (plugin, hook) pair and recorded as a ``hook.denied``
        audit event.

        Raises:
            PermissionFormatError: a permission string is malformed.
            PermissionDeniedError: a permission is not covered.
        """
        for item in permissions:
            wanted = _as_permission(item)
            if not self.permissions.covers(wanted):
                self.deny(str(wanted), source="require")

    def deny(self, permission: str, *, source: str, detail: str | None = None) -> None:
        """Count and audit a denial of *permission*, then raise it.

        Raises:
            PermissionDeniedError: always.
        """
        self._cell.record_denial()
        event = "guard.denied" if source == "guard" else "hook.denied"
        run_as_host(
            self._audit.emit,
            event,
            plugin=self.plugin,
            hook=self.hook,
            permission=permission,
            detail=detail,
        )
        where = f" ({detail})" if detail else ""
        raise PermissionDeniedError(
            f"plugin {self.plugin!r} (hook {self.hook!r}) lacks permission {permission!r}{where}",
            plugin=self.plugin,
            permission=permission,
        )

    def count_denial(self) -> None:
        """Count a denial that was audited elsewhere (inside the plugin's worker, for an isolated plugin)."""
        self._cell.record_denial()

    def failed(self) -> None:
        """Count an error of the call that just ended; trip the breaker after enough in a row.

        Called inside the ``except`` block of the failed call: the error it handles is recorded as the last error.
        """
        tripped = self._cell.record_error(self.threshold, _describe(sys.exc_info()[1]))
        if tripped and self._on_trip is not None and not self.quarantined:
            self._on_trip(self)
