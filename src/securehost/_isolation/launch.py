"""What a worker is told: the confinement derived from the plugin's permissions, and the Init payload.

The confinement follows the effective permissions (granted, requested and vouched for):

* ``fs.read:GLOB`` / ``fs.write:GLOB`` become Landlock rules on the glob's longest directory without wildcards
  (Landlock knows directories and files, not globs); the runtime guard inside the worker still narrows to the glob.
  Everything else the worker reads is read-only: the interpreter, its standard library and site directories, the
  plugin's own files and ``ProcessIsolation(read_paths=...)``; the rest of the host's ``sys.path`` (a project
  directory, say) is not readable.
  The worker's private directory is the one writable place it always has.
* ``net.connect`` / ``net.bind`` keep the host's network namespace and INET sockets, with TCP ports limited by
  Landlock (ABI 4+) to those the grants name; a grant without a port allows every port. Without them the worker has a
  network namespace of its own with no interface.
* ``proc.spawn`` (unscoped or scoped) allows ``fork`` and ``exec``; without it seccomp refuses both.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from securehost._isolation.confine import runtime_read_paths
from securehost._isolation.spec import ConfinementSpec
from securehost.exceptions import ConfinementUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from securehost._installed.dependencies import DependencyPolicy
    from securehost._installed.modules import VerifiedModule
    from securehost._isolation.policy import ProcessIsolation
    from securehost._permissions import PermissionSet

__all__ = ["confinement_for", "worker_payload"]


def _glob_root(pattern: str) -> str:
    parts = []
    for part in pattern.split("/"):
        if "*" in part:
            break
        parts.append(part)
    return "/".join(parts) or "/"


def _ports(scopes: Iterable[str | None]) -> tuple[int, ...] | None:
    ports: set[int] = set()
    for scope in scopes:
        text = scope or ""
        tail = text.rpartition("]")[2] if text.startswith("[") else text  # [::1]:8080 -> :8080
        _, sep, port = tail.rpartition(":")
        if not sep or not port.isdigit():
            return None  # a grant without a port allows every port
        ports.add(int(port))
    return tuple(sorted(ports))


def confinement_for(
    permissions: PermissionSet, isolation: ProcessIsolation, *, extra_read: Iterable[str] = ()
) -> ConfinementSpec:
    """Derive the worker's confinement from the plugin's effective *permissions* and the host's *isolation*.

    Raises:
        ConfinementUnavailableError: the host requires ``netns`` for a plugin it granted network access, which needs
            the host's network namespace.
    """
    reads = [_glob_root(p.scope) for p in permissions if p.kind == "fs.read" and p.scope]
    writes = [_glob_root(p.scope) for p in permissions if p.kind == "fs.write" and p.scope]
    connect = [p.scope for p in permissions if p.kind == "net.connect"]
    bind = [p.scope for p in permissions if p.kind == "net.bind"]
    if (connect or bind) and "netns" in isolation.require:
        raise ConfinementUnavailableError(
            "the host requires netns, but the plugin is granted net.connect/net.bind, which needs the host's network "
            "namespace; drop 'netns' from ProcessIsolation(require=...) for this plugin, or the network grant"
        )
    return ConfinementSpec(
        read_paths=(*runtime_read_paths(network=bool(connect or bind)), *isolation.read_paths, *extra_read, *reads),
        write_paths=tuple(writes),
        net_connect_ports=_ports(connect) if connect else (),
        net_bind_ports=_ports(bind) if bind else (),
        allow_network=bool(connect or bind),
        allow_spawn=any(p.kind == "proc.spawn" for p in permissions),
        rlimits=isolation.limits.rlimits(),
        require=isolation.require,
    )


def worker_payload(
    *,
    project: str,
    distribution: str,
    entry_points: Iterable[tuple[str, str]],
    modules: Mapping[str, VerifiedModule],
    requires: Iterable[str],
    policy: DependencyPolicy,
    permissions: PermissionSet,
    isolation: ProcessIsolation,
    guard: bool,
    site: str,
    config: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the Init payload for the workers of one plugin distribution (plain data only).

    *config* is the plugin's resolved configuration (plain JSON data), given to it as ``current_plugin().config``.
    """
    module_dirs = {os.path.dirname(m.path) for m in modules.values()}
    spec = confinement_for(permissions, isolation, extra_read=(site, *sorted(module_dirs)))
    return {
        "project": project,
        "distribution": distribution,
        "entry_points": [[name, value] for name, value in entry_points],
        "modules": {name: [m.path, m.sha256, m.is_package, m.kind.value] for name, m in sorted(modules.items())},
        "requires": list(requires),
        "policy": {
            "mode": policy.mode,
            "allowed_modules": sorted(policy.allowed_modules),
            "allowed_distributions": sorted(policy.allowed_distributions),
        },
        "permissions": permissions.strings(),
        "sys_path": [p for p in sys.path if isinstance(p, str) and p],
        "confinement": spec.to_dict(),
        "guard": guard,
        "config": dict(config or {}),
    }
