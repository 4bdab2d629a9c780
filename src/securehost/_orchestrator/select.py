"""Selecting plugins by capability, and hook calls restricted to them.

:meth:`securehost.Host.select` returns the loaded plugins that offer a capability (or match a pattern such as
``data.*``), sorted by name. :meth:`securehost.Host.hook_for` returns a :class:`CapabilityRelay`: ``relay.name(**kw)``
calls hook *name* on the implementations of those plugins only, through the plugin manager's
``subset_hook_caller``, so the call has the same permission checks, counters, quarantine and isolation as
``host.hook.name(**kw)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, final

from securehost._orchestrator.capabilities import check_capability, check_pattern, pattern_matches

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = ["CapabilityRelay", "SubsetManager", "check_query", "offering"]


class SubsetManager(Protocol):
    """What the relay needs from the plugin manager (pluggy's ``PluginManager``)."""

    def list_name_plugin(self) -> list[tuple[str, object]]:
        """Return ``(name, plugin)`` pairs."""

    def subset_hook_caller(self, name: str, remove_plugins: Iterable[object]) -> Any:
        """Return a caller of hook *name* without *remove_plugins*."""


def check_query(query: str) -> str:
    """Return *query* if it is a capability or a capability pattern.

    Raises:
        TypeError: *query* is not a :class:`str`.
        CapabilityFormatError: it is neither.
    """
    if isinstance(query, str) and not query.endswith("*"):
        return check_capability(query)
    return check_pattern(query)


def offering(capabilities: Mapping[str, Iterable[str]], query: str) -> tuple[str, ...]:
    """Return the names in *capabilities* (name → capabilities) that offer a capability *query* matches, sorted."""
    pattern = check_query(query)
    return tuple(sorted(name for name, caps in capabilities.items() if any(pattern_matches(pattern, c) for c in caps)))


@final
class CapabilityRelay:
    """Hook callers restricted to the plugins registered under *plugin_names*."""

    __slots__ = ("_capability", "_keep", "_manager")

    def __init__(self, manager: SubsetManager, capability: str, plugin_names: Iterable[str]) -> None:
        self._manager = manager
        self._capability = capability
        self._keep = frozenset(plugin_names)

    def __repr__(self) -> str:
        return f"<CapabilityRelay {self._capability!r}: {sorted(self._keep)}>"

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)
        others = [plugin for plugin_name, plugin in self._manager.list_name_plugin() if plugin_name not in self._keep]
        caller: Callable[..., Any] = self._manager.subset_hook_caller(name, remove_plugins=others)
        return caller
