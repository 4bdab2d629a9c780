"""Health: one typed status per loaded plugin, from what it reports, its counters and its quarantine state.

The state is the worst of:

* what the plugin's ``securehost_health`` hook reports (``ok``, ``degraded``, ``failing``); a health hook that
  raises, times out or answers something else is ``failing``;
* quarantine: every implementation quarantined is ``failing``, some is ``degraded``;
* errors: a plugin with hook errors since its counters were last reset
  (:meth:`~securehost.SecurePluginManager.reset_stats`) is ``degraded``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, final

import attrs

from securehost._models import value_model

__all__ = ["HealthReport", "HealthState", "PluginHealth", "parse_reported", "worst"]

HealthState = Literal["ok", "degraded", "failing"]
_RANK: Final = {"ok": 0, "degraded": 1, "failing": 2}


def worst(*states: HealthState) -> HealthState:
    """Return the worst of *states* (``ok`` for none)."""
    return max(states, key=_RANK.__getitem__, default="ok")


def parse_reported(value: object) -> tuple[HealthState, str | None]:
    """Read a ``securehost_health`` answer: a state, ``{"status": state, "reason": text}`` or ``None`` (``ok``)."""
    if value is None:
        return "ok", None
    status, reason = (value.get("status"), value.get("reason")) if isinstance(value, Mapping) else (value, None)
    if status in _RANK:
        state: HealthState = status  # type: ignore[assignment]  # checked against _RANK
        return state, None if reason is None else str(reason)[:300]
    return "failing", f"the health hook answered {str(value)[:80]!r}, not ok/degraded/failing"


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class PluginHealth:
    """The health of one loaded plugin (a distribution; its entry points together).

    Attributes:
        name: the canonical distribution name.
        state: ``ok``, ``degraded`` or ``failing``.
        reason: why it is not ``ok`` (``None`` when it is).
        last_error: the latest error of a hook call or lifecycle call, secrets scrubbed; ``None`` if none.
        calls: hook calls so far (every hook of every entry point).
        errors: calls that raised.
        denials: permission denials.
        quarantined: ``(plugin, hook)`` pairs taken out of calls by the circuit breaker or the host.
        isolation: ``in-process`` or ``process``.
        capabilities: what the plugin offers.
        config: its configuration with every secret redacted.
    """

    name: str
    state: HealthState
    reason: str | None = None
    last_error: str | None = None
    calls: int = 0
    errors: int = 0
    denials: int = 0
    quarantined: tuple[tuple[str, str], ...] = ()
    isolation: str = "in-process"
    capabilities: tuple[str, ...] = ()
    config: Mapping[str, Any] = attrs.field(factory=dict, eq=False)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-serialisable dict."""
        return {
            "name": self.name,
            "state": self.state,
            "reason": self.reason,
            "last_error": self.last_error,
            "calls": self.calls,
            "errors": self.errors,
            "denials": self.denials,
            "quarantined": [list(pair) for pair in self.quarantined],
            "isolation": self.isolation,
            "capabilities": list(self.capabilities),
            "config": dict(self.config),
        }


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class HealthReport:
    """The health of every loaded plugin, sorted by name (:meth:`securehost.Host.health`)."""

    plugins: tuple[PluginHealth, ...] = ()

    def __getitem__(self, name: str) -> PluginHealth:
        for plugin in self.plugins:
            if plugin.name == name:
                return plugin
        raise KeyError(name)

    def __iter__(self) -> Any:
        return iter(self.plugins)

    def __len__(self) -> int:
        return len(self.plugins)

    @property
    def state(self) -> HealthState:
        """The worst state of any plugin (``ok`` with none loaded)."""
        return worst(*(p.state for p in self.plugins))

    def to_json(self) -> list[dict[str, Any]]:
        """Return a JSON-serialisable list."""
        return [p.to_json() for p in self.plugins]

    def table(self) -> str:
        """Return a plain-text table: plugin, state, calls, errors, denials, where it runs, and why."""
        rows = [("plugin", "state", "calls", "errors", "denials", "runs", "reason / last error")]
        for p in self.plugins:
            why = p.reason or p.last_error or ""
            if p.reason and p.last_error and p.last_error not in p.reason:
                why = f"{p.reason}; last error: {p.last_error}"
            rows.append((p.name, p.state, str(p.calls), str(p.errors), str(p.denials), p.isolation, why[:70]))
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        return "\n".join(
            "  ".join(cell.ljust(widths[i]) if i < 6 else cell for i, cell in enumerate(row)).rstrip() for row in rows
        )
