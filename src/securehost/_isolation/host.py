"""Start an isolated plugin for the Host: its worker pool, its stand-ins in the plugin manager, its report entry.

:func:`start_isolated` turns every way the start can fail into one :class:`~securehost.Reason` (the Host rejects the
plugin with it): a required protection the kernel lacks (``isolation-unavailable``), a hook wrapper
(``isolation-unsupported``), a worker that cannot start, confine itself or import the plugin, or that breaks the
protocol (``isolation-failed``). Nothing of the plugin is ever imported in the host's process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import pluggy

from securehost._isolation.confine import probe
from securehost._isolation.proxy import UnsupportedHookimplError, build_proxy
from securehost._isolation.supervisor import WorkerPool
from securehost._log import LazyLogger
from securehost._verdict import Reason, ReasonCode
from securehost.exceptions import ConfinementUnavailableError, IsolationError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from securehost._audit import AuditLog
    from securehost._dispatch.manager import SecurePluginManager
    from securehost._isolation.policy import ProcessIsolation
    from securehost._isolation.zygote import Zygotes
    from securehost._permissions import PermissionSet

__all__ = ["IN_PROCESS", "planned_isolation", "start_isolated"]

#: The ``isolation`` entry of a plugin that runs in the host's process.
IN_PROCESS: Final[Mapping[str, Any]] = {"mode": "in-process"}
_logger = LazyLogger("securehost.host")


def start_isolated(
    *,
    name: str,
    payload: Mapping[str, Any],
    isolation: ProcessIsolation,
    audit: AuditLog,
    manager: SecurePluginManager,
    permissions: PermissionSet,
    plugin_names: Sequence[str],
    zygotes: Zygotes,
) -> tuple[WorkerPool, dict[str, Any]] | Reason:
    """Start the workers of plugin distribution *name* and register a stand-in per entry point.

    Returns:
        The pool and the report's ``isolation`` entry, or the reason the plugin cannot run isolated.
    """
    pool = WorkerPool(name=name, payload=payload, limits=isolation.limits, audit=audit, zygotes=zygotes)
    try:
        info = pool.start()
    except ConfinementUnavailableError as exc:
        return Reason(code=ReasonCode.ISOLATION_UNAVAILABLE, message=str(exc))
    except IsolationError as exc:
        return Reason(code=ReasonCode.ISOLATION_FAILED, message=str(exc))
    described = info.get("plugins")
    marker = pluggy.HookimplMarker(manager.project_name)
    registered: list[str] = []
    try:
        if not isinstance(described, dict) or set(described) != set(plugin_names):
            raise IsolationError(f"the worker of {name} described plugins {sorted(described or ())!r:.200}")
        for plugin_name in plugin_names:
            proxy = build_proxy(
                plugin_name=plugin_name,
                impls=described[plugin_name],
                pool=pool,
                marker=marker,
                callable_cell=manager.stats_cell(plugin_name, "<callable>"),
            )
            manager.register(proxy, name=plugin_name, permissions=permissions)
            registered.append(plugin_name)
    except (UnsupportedHookimplError, IsolationError, pluggy.PluginValidationError, ValueError) as exc:
        for plugin_name in registered:
            manager.unregister(name=plugin_name)
        pool.close()
        code = ReasonCode.ISOLATION_UNSUPPORTED if isinstance(exc, UnsupportedHookimplError) else None
        if isinstance(exc, pluggy.PluginValidationError):
            return Reason(code=ReasonCode.REGISTRATION_FAILED, message=str(exc))
        return Reason(code=code or ReasonCode.ISOLATION_FAILED, message=str(exc))
    found = info.get("protections")
    protections: dict[str, Any] = found if isinstance(found, dict) else {}
    entry: dict[str, Any] = {
        "mode": "process",
        "protections": {
            key: protections.get(key)
            for key in ("userns", "netns", "pidns", "landlock", "seccomp", "no_new_privs", "rlimits", "uid")
        },
        "unavailable": protections.get("unavailable", {}),
        "workers": isolation.limits.workers,
        "require": sorted(isolation.require),
    }
    missing = sorted(entry["unavailable"]) if isinstance(entry["unavailable"], dict) else []
    if missing:
        _logger.warning(
            "securehost: plugin %s runs isolated without %s (not required by the host): %s",
            name,
            ", ".join(missing),
            entry["unavailable"],
        )
        audit.emit("isolation.degraded", plugin=name, missing=missing)
    return pool, entry


def planned_isolation(isolation: ProcessIsolation | None, probed: dict[str, Any]) -> dict[str, Any]:
    """The ``isolation`` entry :meth:`Host.check` reports: where a plugin would run, and what this system provides.

    *probed* is a cache the host keeps: :func:`securehost._isolation.confine.probe` runs once (it starts a process).
    """
    if isolation is None:
        return dict(IN_PROCESS)
    if not probed:
        probed.update(probe())
    unavailable = probed.get("unavailable")
    return {
        "mode": "process",
        "planned": True,
        "protections": {
            key: probed.get(key) for key in ("userns", "netns", "pidns", "landlock", "seccomp", "no_new_privs")
        }
        | {"rlimits": isolation.limits.rlimits()},
        "unavailable": dict(unavailable) if isinstance(unavailable, dict) else {},
        "workers": isolation.limits.workers,
        "require": sorted(isolation.require),
    }
