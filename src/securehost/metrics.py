"""Export per-plugin hook counters: Prometheus text exposition, and OpenTelemetry metrics.

Both read :meth:`SecurePluginManager.stats() <securehost.SecurePluginManager.stats>` snapshots;
nothing is added to the hot path.

* :func:`prometheus_text` renders the text exposition format (version 0.0.4): counters for calls,
  errors and denials, a histogram of latencies (buckets at powers of two nanoseconds, from 128 ns to
  about 34 s, plus ``+Inf``) and gauges for the smallest and largest latency. Serve it from any HTTP
  endpoint; no client library is needed.
* :func:`register_otel` (extra ``securehost[otel]``) registers observable instruments on an
  OpenTelemetry meter: ``securehost.hook.calls``, ``.errors``, ``.denials`` (counters),
  ``securehost.hook.duration`` (the latency sum, a counter in seconds) and
  ``securehost.hook.duration.min`` / ``.max`` (gauges). OpenTelemetry has no asynchronous histogram
  instrument, so the latency histogram itself is exported through Prometheus and snapshots only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, final

from securehost._dispatch.snapshot import HookStats, StatsSnapshot

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from securehost._dispatch.manager import SecurePluginManager
    from securehost._orchestrator.health import HealthReport

__all__ = ["OtelRegistration", "prometheus_text", "register_otel"]

#: Exported histogram bounds: bucket indexes (upper bound ``2**i`` ns) from 128 ns to about 34 s.
EXPORTED_BUCKETS: Final = tuple(range(7, 36))
_INF: Final = 'le="+Inf"'


def _snapshot(source: SecurePluginManager | StatsSnapshot) -> StatsSnapshot:
    if isinstance(source, StatsSnapshot):
        return source
    stats = getattr(source, "stats", None)
    if not callable(stats):
        raise TypeError(f"expected a SecurePluginManager or a StatsSnapshot, not {type(source).__name__}")
    snapshot = stats()
    if not isinstance(snapshot, StatsSnapshot):
        raise TypeError("stats() did not return a StatsSnapshot")
    return snapshot


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(entry: HookStats, extra: str = "") -> str:
    labels = f'plugin="{_escape(entry.plugin)}",hook="{_escape(entry.hook)}"'
    return "{" + labels + (f",{extra}" if extra else "") + "}"


def _seconds(ns: int) -> str:
    return repr(ns / 1e9)


def prometheus_text(
    source: SecurePluginManager | StatsSnapshot, *, namespace: str = "securehost", health: HealthReport | None = None
) -> str:
    """Render hook counters in the Prometheus text exposition format (0.0.4).

    Args:
        source: a manager (its current counters are read) or a snapshot.
        namespace: metric name prefix.
        health: a :meth:`Host.health <securehost.Host.health>` report, exported as the gauge
            ``<namespace>_plugin_health{plugin, state}`` (1 for the plugin's state, 0 for the others) and
            ``<namespace>_plugin_quarantined_hooks{plugin}``.

    Raises:
        TypeError: *source* is neither a manager nor a snapshot.
        ValueError: *namespace* is not a valid metric name prefix.
    """
    if not namespace or not namespace.replace("_", "a").isalnum() or namespace[0].isdigit():
        raise ValueError(f"invalid metric namespace {namespace!r}")
    entries = _snapshot(source).entries
    prefix = f"{namespace}_hook"
    lines: list[str] = []
    for name, helptext, field in (
        ("calls_total", "Completed calls of a plugin's hook implementation.", "calls"),
        ("errors_total", "Calls of a plugin's hook implementation that raised.", "errors"),
        (
            "denials_total",
            "Permission denials while a plugin's hook implementation ran.",
            "denials",
        ),
    ):
        lines += [f"# HELP {prefix}_{name} {helptext}", f"# TYPE {prefix}_{name} counter"]
        lines += [f"{prefix}_{name}{_labels(e)} {getattr(e, field)}" for e in entries]
    metric = f"{prefix}_latency_seconds"
    lines += [
        f"# HELP {metric} Latency of a plugin's hook implementation.",
        f"# TYPE {metric} histogram",
    ]
    for e in entries:
        cumulative = 0
        previous = 0
        for index in EXPORTED_BUCKETS:
            cumulative += sum(e.buckets[previous : index + 1])
            previous = index + 1
            bound = 'le="' + _seconds(1 << index) + '"'
            lines.append(f"{metric}_bucket{_labels(e, bound)} {cumulative}")
        lines.append(f"{metric}_bucket{_labels(e, _INF)} {e.calls}")
        lines.append(f"{metric}_sum{_labels(e)} {_seconds(e.total_ns)}")
        lines.append(f"{metric}_count{_labels(e)} {e.calls}")
    for name, helptext, field in (
        ("latency_min_seconds", "Smallest latency of a plugin's hook implementation.", "min_ns"),
        ("latency_max_seconds", "Largest latency of a plugin's hook implementation.", "max_ns"),
    ):
        lines += [f"# HELP {prefix}_{name} {helptext}", f"# TYPE {prefix}_{name} gauge"]
        lines += [
            f"{prefix}_{name}{_labels(e)} {_seconds(getattr(e, field))}"
            for e in entries
            if getattr(e, field) is not None
        ]
    if health is not None:
        metric = f"{namespace}_plugin_health"
        helptext = "Health state of a loaded plugin (1 for its current state)."
        lines += [f"# HELP {metric} {helptext}", f"# TYPE {metric} gauge"]
        for plugin in health.plugins:
            for state in ("ok", "degraded", "failing"):
                labels = f'{{plugin="{_escape(plugin.name)}",state="{state}"}}'
                lines.append(f"{metric}{labels} {int(plugin.state == state)}")
        metric = f"{namespace}_plugin_quarantined_hooks"
        lines += [f"# HELP {metric} Quarantined hook implementations of a plugin.", f"# TYPE {metric} gauge"]
        lines += [f'{metric}{{plugin="{_escape(p.name)}"}} {len(p.quarantined)}' for p in health.plugins]
    return "\n".join(lines) + "\n"


@final
class OtelRegistration:
    """The instruments that :func:`register_otel` created (keep it while they should report)."""

    __slots__ = ("instruments",)

    def __init__(self, instruments: tuple[Any, ...]) -> None:
        self.instruments = instruments


def register_otel(
    manager: SecurePluginManager,
    *,
    meter_provider: Any = None,
    meter_name: str = "securehost",
) -> OtelRegistration:
    """Register observable OpenTelemetry instruments that report *manager*'s hook counters.

    Every observation carries the attributes ``securehost.plugin`` and ``securehost.hook``.

    Args:
        manager: the plugin manager whose counters are reported.
        meter_provider: the meter provider (default: the global one).
        meter_name: the instrumentation scope name.

    Raises:
        ImportError: ``opentelemetry-api`` is not installed (install ``securehost[otel]``).
    """
    try:
        import opentelemetry.metrics as metrics  # noqa: PLC0415, PLR0402 - optional; mypy resolves the submodule only this way
    except ImportError as exc:
        raise ImportError("register_otel() needs opentelemetry-api: pip install 'securehost[otel]'") from exc
    from securehost._version import __version__  # noqa: PLC0415

    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    meter = provider.get_meter(meter_name, __version__)

    def observe(
        value_of: Callable[[HookStats], float | int | None],
    ) -> Callable[[Any], Iterable[Any]]:
        def callback(_options: Any) -> Iterable[Any]:
            for entry in manager.stats().entries:
                value = value_of(entry)
                if value is not None:
                    attributes = {"securehost.plugin": entry.plugin, "securehost.hook": entry.hook}
                    yield metrics.Observation(value, attributes)

        return callback

    def seconds(ns: int | None) -> float | None:
        return None if ns is None else ns / 1e9

    instruments = (
        meter.create_observable_counter(
            "securehost.hook.calls",
            callbacks=[observe(lambda e: e.calls)],
            unit="{call}",
            description="Completed calls of a plugin's hook implementation.",
        ),
        meter.create_observable_counter(
            "securehost.hook.errors",
            callbacks=[observe(lambda e: e.errors)],
            unit="{call}",
            description="Calls of a plugin's hook implementation that raised.",
        ),
        meter.create_observable_counter(
            "securehost.hook.denials",
            callbacks=[observe(lambda e: e.denials)],
            unit="{denial}",
            description="Permission denials while a plugin's hook implementation ran.",
        ),
        meter.create_observable_counter(
            "securehost.hook.duration",
            callbacks=[observe(lambda e: e.total_ns / 1e9)],
            unit="s",
            description="Total time spent in a plugin's hook implementation.",
        ),
        meter.create_observable_gauge(
            "securehost.hook.duration.min",
            callbacks=[observe(lambda e: seconds(e.min_ns))],
            unit="s",
            description="Smallest latency of a plugin's hook implementation.",
        ),
        meter.create_observable_gauge(
            "securehost.hook.duration.max",
            callbacks=[observe(lambda e: seconds(e.max_ns))],
            unit="s",
            description="Largest latency of a plugin's hook implementation.",
        ),
    )
    return OtelRegistration(instruments)
