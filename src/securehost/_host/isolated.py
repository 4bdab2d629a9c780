"""Starting an isolated plugin's worker pool: the worker's payload from what the host verified, then the start.

The supervisor and the payload builder (asyncio, msgspec) are imported here, on first use: only a host that isolates a
plugin pays for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from securehost._verdict import Reason, ReasonCode
from securehost.exceptions import ConfinementUnavailableError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from securehost._audit import AuditLog
    from securehost._dispatch.manager import SecurePluginManager
    from securehost._installed.dependencies import DependencyPolicy
    from securehost._installed.discovery import DiscoveredDistribution
    from securehost._installed.distcheck import InstalledDistribution
    from securehost._isolation.policy import ProcessIsolation
    from securehost._isolation.supervisor import WorkerPool
    from securehost._isolation.zygote import Zygotes
    from securehost._permissions import PermissionSet

__all__ = ["launch_worker"]


def launch_worker(
    *,
    project: str,
    dist: DiscoveredDistribution,
    entry_points: Sequence[tuple[str, str]],
    installed: InstalledDistribution,
    policy: DependencyPolicy,
    permissions: PermissionSet,
    isolation: ProcessIsolation,
    guard: bool,
    config: Mapping[str, Any],
    audit: AuditLog,
    manager: SecurePluginManager,
    zygotes: Zygotes,
) -> Reason | tuple[WorkerPool, Mapping[str, Any]]:
    """Start the worker pool of the verified *dist* and register its stand-ins with *manager*.

    Args:
        project: the host's project name (the workers' pluggy project).
        dist: the verified distribution.
        entry_points: ``(plugin name, entry point value)`` of each entry point.
        installed: its installed check: the verified modules and their digests, its requirements.
        policy: the dependency policy the worker's importer applies (the host's closure and approvals spelt out).
        permissions: the plugin's effective permissions (they decide the worker's confinement too).
        isolation: the worker limits and required protections.
        guard: whether the worker installs the runtime guard as well.
        config: the plugin's resolved configuration.
        audit: where the pool's events go.
        manager: the plugin manager the stand-ins are registered with.
        zygotes: the host's fork servers.

    Returns:
        The pool and the protections in force, or the reason the plugin could not be started (the kernel lacks a
        required protection, the worker failed to start or to import the plugin).
    """
    from securehost._isolation.host import start_isolated  # noqa: PLC0415 - see the module docstring
    from securehost._isolation.launch import worker_payload  # noqa: PLC0415

    try:
        payload = worker_payload(
            project=project,
            distribution=dist.name,
            entry_points=list(entry_points),
            modules=installed.modules,
            requires=installed.requires,
            policy=policy,
            permissions=permissions,
            isolation=isolation,
            guard=guard,
            site=str(dist.metadata_dir.parent),
            config=config,
        )
    except ConfinementUnavailableError as exc:
        return Reason(code=ReasonCode.ISOLATION_UNAVAILABLE, message=str(exc))
    return start_isolated(
        name=dist.name,
        payload=payload,
        isolation=isolation,
        audit=audit,
        manager=manager,
        permissions=permissions,
        plugin_names=[plugin_name for plugin_name, _ in entry_points],
        zygotes=zygotes,
    )
