"""The public view of the counters: :class:`HookStats` per (plugin, hook) and a :class:`StatsSnapshot` of them all.

Defined on first use (``SecurePluginManager.stats()``, the metrics export), not on every start-up: the counters
themselves are plain cells (``securehost._dispatch.stats``), and a host that never asks for them never builds these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

import attrs

from securehost._dispatch.stats import BUCKETS
from securehost._models import value_model

if TYPE_CHECKING:
    from securehost._dispatch.stats import Counters, StatsRegistry

__all__ = ["HookStats", "StatsSnapshot", "stats_of", "take"]


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class HookStats:
    """Counters of one plugin's implementation of one hook.

    Attributes:
        plugin: the plugin name.
        hook: the hook name.
        calls: completed calls (successful or not).
        errors: calls that raised.
        denials: permission denials (guard or ``require``) while the implementation ran.
        total_ns: sum of latencies.
        min_ns: smallest latency, ``None`` before the first call.
        max_ns: largest latency, ``None`` before the first call.
        buckets: latency histogram, 64 counts: bucket *i* holds the calls that took *d* ns with
            ``2**(i-1) < d <= 2**i`` (bucket 0: ``d <= 1``).
        last_error: ``"ExceptionType: message"`` of the latest error (at most 300 characters), or ``None``.
    """

    plugin: str
    hook: str
    calls: int = 0
    errors: int = 0
    denials: int = 0
    total_ns: int = 0
    min_ns: int | None = None
    max_ns: int | None = None
    buckets: tuple[int, ...] = (0,) * BUCKETS
    last_error: str | None = None

    @property
    def mean_ns(self) -> float | None:
        """Mean latency, ``None`` before the first call."""
        return self.total_ns / self.calls if self.calls else None

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict (histogram: ``{upper_bound_ns: count}``, non-empty)."""
        return {
            "plugin": self.plugin,
            "hook": self.hook,
            "calls": self.calls,
            "errors": self.errors,
            "denials": self.denials,
            "total_ns": self.total_ns,
            "min_ns": self.min_ns,
            "max_ns": self.max_ns,
            "histogram": {str(1 << i): c for i, c in enumerate(self.buckets) if c},
        }


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class StatsSnapshot:
    """Counters of every (plugin, hook) pair at one moment, sorted by plugin then hook."""

    entries: tuple[HookStats, ...] = ()

    def get(self, plugin: str, hook: str) -> HookStats | None:
        """Return the counters of *plugin*'s implementation of *hook*, if it has any."""
        for entry in self.entries:
            if entry.plugin == plugin and entry.hook == hook:
                return entry
        return None

    def for_plugin(self, plugin: str) -> tuple[HookStats, ...]:
        """Return the counters of every hook that *plugin* implements."""
        return tuple(e for e in self.entries if e.plugin == plugin)

    @property
    def calls(self) -> int:
        """Total calls over every entry."""
        return sum(e.calls for e in self.entries)

    def to_json(self) -> list[dict[str, Any]]:
        """Return a JSON-serialisable list."""
        return [e.to_json() for e in self.entries]


def take(registry: StatsRegistry) -> StatsSnapshot:
    """The counters of every (plugin, hook) pair of *registry* that was called, failed or denied."""
    return StatsSnapshot(entries=tuple(map(stats_of, registry.counters())))


def stats_of(counters: Counters) -> HookStats:
    """One cell's :meth:`~securehost._dispatch.stats.Cell.counters` as :class:`HookStats`."""
    plugin, hook, calls, errors, denials, total_ns, min_ns, max_ns, buckets, last_error = counters
    return HookStats(
        plugin=plugin,
        hook=hook,
        calls=calls,
        errors=errors,
        denials=denials,
        total_ns=total_ns,
        min_ns=min_ns,
        max_ns=max_ns,
        buckets=buckets,
        last_error=last_error,
    )
