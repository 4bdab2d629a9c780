"""Plugin names: entry points are registered under their entry-point name, as pluggy does, and never overwrite.

``pluggy.PluginManager.load_setuptools_entrypoints`` registers each entry point under ``ep.name`` and silently skips
one whose name is already registered or blocked. The host registers under the same names, so an application that
swaps pluggy's loader for :class:`~securehost.Host` sees the same plugin names, but it never skips silently:

* a name already registered (by host code, by a plugin loaded earlier, or by a distribution found earlier on the
  search path in the same load) rejects the newcomer with ``plugin-name-taken``, naming the holder: the first on the
  path keeps the name, as Python's own import shadowing and pluggy's loop would have it, and the report says so;
* a name the host blocked (``pm.set_blocked(name)``) reports the distribution as ``disabled``, with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from securehost._verdict import Reason, ReasonCode

if TYPE_CHECKING:
    from collections.abc import Mapping

    from securehost._dispatch.manager import SecurePluginManager
    from securehost._installed.discovery import DiscoveredDistribution

__all__ = ["blocked_reason", "record_distinfo", "taken_reasons"]


def blocked_reason(dist: DiscoveredDistribution, manager: SecurePluginManager) -> Reason | None:
    """Return why *dist* is disabled when the host blocked one of its entry-point names, else ``None``."""
    blocked = [ep.name for ep in dist.entry_points if manager.is_blocked(ep.name)]
    if not blocked:
        return None
    return Reason(
        code=ReasonCode.DISABLED,
        message=f"entry point name(s) {', '.join(map(repr, blocked))} of {dist.name} are blocked in the plugin "
        "manager (pm.set_blocked); unblock them to load it",
        subject=blocked[0],
    )


def taken_reasons(
    dist: DiscoveredDistribution, manager: SecurePluginManager, holders: Mapping[str, str]
) -> list[Reason]:
    """Return one ``plugin-name-taken`` reason per entry-point name of *dist* that is already in use.

    Args:
        dist: the candidate.
        manager: the plugin manager (names registered by host code or by loaded plugins).
        holders: plugin name -> the distribution that holds it (loaded, or verified earlier in this check).
    """
    reasons = []
    for ep in dist.entry_points:
        holder = holders.get(ep.name)
        if holder == dist.name:
            continue
        if holder is None and manager.get_plugin(ep.name) is None:
            continue
        by = f"distribution {holder}" if holder is not None else "the host (registered with pm.register)"
        reasons.append(
            Reason(
                code=ReasonCode.PLUGIN_NAME_TAKEN,
                message=f"entry point {ep.name!r} ({ep.value}): the plugin name {ep.name!r} is already registered by "
                f"{by}; rename one entry point, or disable or uninstall one of them",
                subject=ep.name,
            )
        )
    return reasons


def record_distinfo(manager: SecurePluginManager, plugins: tuple[str, ...], dist: DiscoveredDistribution) -> None:
    """Record (plugin, distribution) pairs for :meth:`pluggy.PluginManager.list_plugin_distinfo`, as pluggy does."""
    for name in plugins:
        plugin = manager.get_plugin(name)
        if plugin is not None:
            manager.record_distribution(plugin, str(dist.metadata_dir))
