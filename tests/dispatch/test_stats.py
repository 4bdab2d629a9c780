"""Per-plugin counters: exact under concurrency, errors and denials counted, histogram, reset."""

from __future__ import annotations

import threading
from typing import Any

import pluggy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import HookspecMarker, SecurePluginManager, current_plugin
from securehost._dispatch.snapshot import stats_of, take
from securehost._dispatch.stats import BUCKETS, Cell, StatsRegistry, bucket_upper_bounds_ns
from securehost.exceptions import PermissionDeniedError

hookspec = HookspecMarker("stats")
hookimpl = pluggy.HookimplMarker("stats")


class Spec:
    @hookspec
    def tick(self, n: int) -> Any: ...

    @hookspec(firstresult=True)
    def pick(self, n: int) -> Any: ...


def _bucket_of(ns: int) -> int:
    return next(i for i, bound in enumerate(bucket_upper_bounds_ns()) if ns <= bound)


@given(st.lists(st.integers(0, 2**63), max_size=300))
def test_cell_aggregates_exactly(samples: list[int]) -> None:
    cell = Cell("p", "h")
    for value in samples:
        cell.append(value)
    stats = stats_of(cell.counters())
    assert stats.calls == len(samples)
    assert stats.total_ns == sum(samples)
    assert stats.min_ns == (min(samples) if samples else None)
    assert stats.max_ns == (max(samples) if samples else None)
    expected = [0] * BUCKETS
    for value in samples:
        expected[_bucket_of(value)] += 1
    assert list(stats.buckets) == expected
    assert sum(stats.buckets) == len(samples)


def test_a_cell_makes_its_histogram_only_when_samples_arrive() -> None:
    cell = Cell("p", "h")
    assert cell.buckets is None  # a host of 1,000 plugins has thousands of cells, most never read
    assert stats_of(cell.counters()).buckets == (0,) * BUCKETS
    cell.flush()
    assert cell.buckets is None  # nothing to fold
    cell.append(3)
    assert stats_of(cell.counters()).buckets[2] == 1
    assert cell.buckets is not None
    cell.reset()
    assert cell.buckets is None
    assert stats_of(cell.counters()).buckets == (0,) * BUCKETS


def test_bucket_bounds_are_inclusive_powers_of_two() -> None:
    cell = Cell("p", "h")
    for value in (0, 1, 2, 3, 4, 5, 1024, 1025):
        cell.append(value)
    buckets = stats_of(cell.counters()).buckets
    assert buckets[0] == 2  # 0 and 1
    assert buckets[1] == 1  # 2
    assert buckets[2] == 2  # 3, 4
    assert buckets[3] == 1  # 5
    assert buckets[10] == 1  # 1024
    assert buckets[11] == 1  # 1025


def test_cell_drains_in_chunks_without_losing_samples() -> None:
    cell = Cell("p", "h")
    for value in range(1000):
        cell.append(value)
    cell.flush()
    for value in range(1000):
        cell.append(value)
    assert stats_of(cell.counters()).calls == 2000
    assert not cell.samples


def test_breaker_streak_counts_consecutive_errors_only() -> None:
    cell = Cell("p", "h")
    cell.append(1)
    assert not cell.record_error(2)
    cell.append(1)
    assert cell.record_error(2)
    cell.append(1)  # a success
    cell.append(1)
    assert not cell.record_error(2)
    cell.clear_streak()
    cell.append(1)
    assert not cell.record_error(None)


def test_registry_reset_and_snapshot_filtering() -> None:
    registry = StatsRegistry()
    registry.cell("a", "h").append(5)
    registry.cell("b", "h").append(7)
    registry.cell("c", "h")  # never called: not reported
    snapshot = take(registry)
    assert [(e.plugin, e.hook) for e in snapshot.entries] == [("a", "h"), ("b", "h")]
    assert snapshot.for_plugin("a")[0].total_ns == 5
    assert snapshot.get("zzz", "h") is None
    assert snapshot.to_json()[0]["histogram"] == {"8": 1}
    registry.reset(plugin="a")
    assert [e.plugin for e in take(registry).entries] == ["b"]
    registry.reset()
    assert take(registry).entries == ()


def _manager(plugins: int) -> SecurePluginManager:
    manager = SecurePluginManager("stats")
    manager.add_hookspecs(Spec)
    for i in range(plugins):

        class Plugin:
            @hookimpl
            def tick(self, n: int) -> int:
                if n < 0:
                    raise ValueError("negative")
                return n

            @hookimpl
            def pick(self, n: int) -> int | None:
                return n if n % 2 else None

        manager.register(Plugin(), name=f"p{i}")
    return manager


def test_counters_are_exact_under_many_threads() -> None:
    manager = _manager(plugins=5)
    threads, calls = 16, 3000  # > 1024 per thread: drains race with appends
    barrier = threading.Barrier(threads)

    def worker() -> None:
        barrier.wait()
        for n in range(calls):
            manager.hook.tick(n=n)
            manager.hook.pick(n=n)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    snapshot = manager.stats()
    for i in range(5):
        tick = snapshot.get(f"p{i}", "tick")
        assert tick is not None
        assert tick.calls == threads * calls
        assert sum(tick.buckets) == tick.calls
        assert tick.errors == 0
    # firstresult: only the first implementation in call order (p4) runs on odd n
    picks = {i: snapshot.get(f"p{i}", "pick") for i in range(5)}
    assert picks[4] is not None
    assert picks[4].calls == threads * calls
    assert sum(p.calls for p in picks.values() if p) == threads * calls + 4 * threads * calls // 2


def test_errors_and_denials_are_counted_exactly_across_threads() -> None:
    manager = SecurePluginManager("stats")
    manager.add_hookspecs(Spec)

    class Strict:
        @hookimpl
        def tick(self, n: int) -> int:
            context = current_plugin()
            assert context is not None
            if n % 3 == 0:
                context.require("db.write")  # denied: counted as a denial and as an error
            if n % 3 == 1:
                raise ValueError("odd")
            return n

    manager.register(Strict(), name="strict", permissions=())
    threads, calls = 8, 900
    failures = [0] * threads

    def worker(slot: int) -> None:
        for n in range(calls):
            try:
                manager.hook.tick(n=n)
            except (ValueError, PermissionDeniedError):
                failures[slot] += 1

    pool = [threading.Thread(target=worker, args=(slot,)) for slot in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    stats = manager.stats().get("strict", "tick")
    assert stats is not None
    assert stats.calls == threads * calls
    assert stats.errors == sum(failures) == threads * calls * 2 // 3
    assert stats.denials == threads * calls // 3


def test_reset_stats_zeroes_counters() -> None:
    manager = _manager(plugins=2)
    manager.hook.tick(n=1)
    manager.reset_stats(hook="tick")
    assert manager.stats().entries == ()
    manager.hook.tick(n=1)
    assert manager.stats().calls == 2


def test_latency_is_measured() -> None:
    manager = SecurePluginManager("stats")
    manager.add_hookspecs(Spec)

    class Slow:
        @hookimpl
        def tick(self, n: int) -> int:
            threading.Event().wait(0.01)
            return n

    manager.register(Slow(), name="slow")
    manager.hook.tick(n=1)
    stats = manager.stats().get("slow", "tick")
    assert stats is not None
    assert stats.min_ns is not None
    assert stats.min_ns >= 10_000_000
    assert stats.mean_ns == pytest.approx(stats.total_ns)


def test_the_histogram_has_the_64_buckets_hookstats_documents() -> None:
    from securehost import HookStats
    from securehost._dispatch.stats import BUCKETS, bucket_upper_bounds_ns

    assert "64 counts" in (HookStats.__doc__ or "")
    assert BUCKETS == len(HookStats(plugin="p", hook="h").buckets) == 64
    assert bucket_upper_bounds_ns()[:3] == (1, 2, 4)
