"""Metrics export: Prometheus text exposition (parsed back) and OpenTelemetry instruments."""

from __future__ import annotations

import contextlib
from typing import Any

import pluggy
import pytest

from securehost import HookspecMarker, SecurePluginManager
from securehost._dispatch.snapshot import HookStats, StatsSnapshot
from securehost._dispatch.stats import BUCKETS
from securehost.metrics import EXPORTED_BUCKETS, prometheus_text, register_otel

hookspec = HookspecMarker("metrics")
hookimpl = pluggy.HookimplMarker("metrics")


class Spec:
    @hookspec
    def work(self, fail: bool) -> Any: ...


class Plugin:
    @hookimpl
    def work(self, fail: bool) -> int:
        if fail:
            raise ValueError("fail")
        return 1


@pytest.fixture
def manager() -> SecurePluginManager:
    manager = SecurePluginManager("metrics")
    manager.add_hookspecs(Spec)
    manager.register(Plugin(), name='odd "name"\\with\nnewline')
    for fail in (False, False, True):
        with contextlib.suppress(ValueError):
            manager.hook.work(fail=fail)
    return manager


def test_prometheus_text_parses_and_carries_the_counters(manager: SecurePluginManager) -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    families = {f.name: f for f in parser.text_string_to_metric_families(prometheus_text(manager))}
    labels = {"plugin": 'odd "name"\\with\nnewline', "hook": "work"}
    calls = families["securehost_hook_calls"]
    assert calls.type == "counter"
    assert [(s.labels, s.value) for s in calls.samples] == [(labels, 3)]
    assert families["securehost_hook_errors"].samples[0].value == 1
    assert families["securehost_hook_denials"].samples[0].value == 0
    histogram = families["securehost_hook_latency_seconds"]
    assert histogram.type == "histogram"
    buckets = [s for s in histogram.samples if s.name.endswith("_bucket")]
    assert len(buckets) == len(EXPORTED_BUCKETS) + 1
    counts = [s.value for s in buckets]
    assert counts == sorted(counts)  # cumulative
    assert buckets[-1].labels["le"] == "+Inf"
    assert counts[-1] == 3
    count = next(s for s in histogram.samples if s.name.endswith("_count"))
    assert count.value == 3
    assert families["securehost_hook_latency_min_seconds"].samples[0].value > 0


def test_prometheus_buckets_are_exact_cumulative_counts() -> None:
    buckets = [0] * BUCKETS
    buckets[0], buckets[7], buckets[8], buckets[40] = 2, 3, 4, 5
    entry = HookStats(plugin="p", hook="h", calls=14, total_ns=10, min_ns=0, max_ns=2**40, buckets=tuple(buckets))
    text = prometheus_text(StatsSnapshot(entries=(entry,)), namespace="app")
    assert 'app_hook_latency_seconds_bucket{plugin="p",hook="h",le="1.28e-07"} 5' in text
    assert 'app_hook_latency_seconds_bucket{plugin="p",hook="h",le="2.56e-07"} 9' in text
    assert 'app_hook_latency_seconds_bucket{plugin="p",hook="h",le="+Inf"} 14' in text
    assert 'app_hook_latency_seconds_sum{plugin="p",hook="h"} 1e-08' in text


def test_prometheus_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="namespace"):
        prometheus_text(StatsSnapshot(), namespace="bad-name")
    with pytest.raises(TypeError):
        prometheus_text(object())  # type: ignore[arg-type]


def test_empty_snapshot_renders_headers_only() -> None:
    text = prometheus_text(StatsSnapshot())
    assert all(line.startswith("#") for line in text.strip().splitlines())


def test_opentelemetry_observations(manager: SecurePluginManager) -> None:
    sdk_metrics = pytest.importorskip("opentelemetry.sdk.metrics")
    export = pytest.importorskip("opentelemetry.sdk.metrics.export")
    reader = export.InMemoryMetricReader()
    provider = sdk_metrics.MeterProvider(metric_readers=[reader])
    registration = register_otel(manager, meter_provider=provider)
    assert len(registration.instruments) == 6
    data = reader.get_metrics_data()
    metrics = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    points = {name: list(metric.data.data_points) for name, metric in metrics.items()}
    assert [p.value for p in points["securehost.hook.calls"]] == [3]
    assert [p.value for p in points["securehost.hook.errors"]] == [1]
    assert [p.value for p in points["securehost.hook.denials"]] == [0]
    assert points["securehost.hook.duration"][0].value > 0
    attributes = dict(points["securehost.hook.calls"][0].attributes)
    assert attributes == {
        "securehost.plugin": 'odd "name"\\with\nnewline',
        "securehost.hook": "work",
    }
    manager.hook.work(fail=False)
    again = reader.get_metrics_data()
    calls = next(
        m for rm in again.resource_metrics for sm in rm.scope_metrics for m in sm.metrics if m.name.endswith(".calls")
    )
    assert [p.value for p in calls.data.data_points] == [4]
    provider.shutdown()
