"""Per-plugin, per-hook counters: calls, errors, denials, latency (total, min, max, histogram).

The hot path does one thing per implementation call: it appends the measured latency (integer
nanoseconds) to the cell's sample list. ``list.append`` is a single C operation, so appends from
many threads never lose a sample (on GIL builds because the GIL serialises it, on free-threaded
builds because the list locks itself). Aggregation runs under the cell's lock, off the hot path:
every 1024 calls of a hook, on every error, and before each snapshot. A drain takes exactly the
first ``n`` samples (``chunk = samples[:n]; del samples[:n]``), so a sample appended while the drain
runs stays for the next one. Counts are therefore exact: after all calls have returned, the sum of
``calls`` over a snapshot equals the number of implementation calls made.

Histogram: bucket ``i`` counts latencies ``d`` with ``2**(i-1) < d <= 2**i`` nanoseconds (bucket 0:
``d <= 1``). A drain sorts its chunk once (``list.sort``, in C), which gives the minimum and maximum, and counts
each bucket with one binary search of its upper bound: about half the cost of bucketing every sample on its own
(``Counter(map(...))``), and a drain's cost is paid by the hook calls that filled it.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from typing import Final, final

__all__ = ["BUCKETS", "Cell", "Counters", "StatsRegistry", "bucket_upper_bounds_ns"]

BUCKETS: Final = 64
FLUSH_MASK: Final = 1023  # drain every 1024 hook calls
_NO_CALLS: Final = (0,) * BUCKETS
#: One cell's counters: plugin, hook, calls, errors, denials, total, min and max (ns), histogram, last error
#: (``securehost._dispatch.snapshot`` makes them :class:`~securehost.HookStats`, which a start-up does not define).
Counters = tuple[str, str, int, int, int, int, "int | None", "int | None", tuple[int, ...], "str | None"]


def bucket_upper_bounds_ns() -> tuple[int, ...]:
    """Return the inclusive upper bound (ns) of every histogram bucket: ``1, 2, 4, ... 2**63``."""
    return tuple(1 << i for i in range(BUCKETS))


@final
class Cell:
    """Counters of one (plugin, hook) pair; ``append`` is the lock-free hot-path entry point."""

    __slots__ = (
        "_lock",
        "_streak",
        "_streak_at",
        "append",
        "buckets",
        "calls",
        "denials",
        "errors",
        "hook",
        "last_error",
        "max_ns",
        "min_ns",
        "plugin",
        "samples",
        "total_ns",
    )

    def __init__(self, plugin: str, hook: str) -> None:
        self.plugin = plugin
        self.hook = hook
        self.samples: list[int] = []
        self.append = self.samples.append
        self._lock = threading.Lock()
        self._streak = 0
        self._streak_at = -1
        self._zero()

    def _zero(self) -> None:
        self.calls = 0
        self.errors = 0
        self.denials = 0
        self.total_ns = 0
        self.min_ns: int | None = None
        self.max_ns: int | None = None
        self.buckets: list[int] | None = None  # made by the first drain: most cells of a large host are never read
        self.last_error: str | None = None

    def _drain(self) -> None:
        """Fold pending samples into the aggregates; the caller holds the lock."""
        samples = self.samples
        n = len(samples)
        if not n:
            return
        chunk = samples[:n]
        del samples[:n]
        chunk.sort()
        self.calls += n
        self.total_ns += sum(chunk)
        low, high = chunk[0], chunk[-1]
        if self.min_ns is None or low < self.min_ns:
            self.min_ns = low
        if self.max_ns is None or high > self.max_ns:
            self.max_ns = high
        buckets = self.buckets
        if buckets is None:
            buckets = self.buckets = [0] * BUCKETS
        _count_sorted(chunk, buckets)

    def flush(self) -> None:
        """Fold pending samples into the aggregates."""
        with self._lock:
            self._drain()

    def record_error(self, threshold: int | None, error: str | None = None) -> bool:
        """Count an error of the call just recorded (described by *error*); return whether the breaker must trip."""
        with self._lock:
            self._drain()
            self.errors += 1
            if error is not None:
                self.last_error = error[:300]
            self._streak = self._streak + 1 if self._streak_at == self.calls - 1 else 1
            self._streak_at = self.calls
            return threshold is not None and self._streak >= threshold

    def record_denial(self) -> None:
        """Count one permission denial."""
        with self._lock:
            self.denials += 1

    def clear_streak(self) -> None:
        """Forget consecutive failures (when a quarantined implementation is restored)."""
        with self._lock:
            self._streak = 0
            self._streak_at = -1

    def counters(self) -> Counters:
        """Return the current counters (pending samples included), in the field order of ``HookStats``."""
        with self._lock:
            self._drain()
            return (
                self.plugin,
                self.hook,
                self.calls,
                self.errors,
                self.denials,
                self.total_ns,
                self.min_ns,
                self.max_ns,
                _NO_CALLS if self.buckets is None else tuple(self.buckets),
                self.last_error,
            )

    def reset(self) -> None:
        """Zero every counter and drop pending samples."""
        with self._lock:
            del self.samples[: len(self.samples)]
            self._zero()


def _count_sorted(ordered: list[int], buckets: list[int]) -> None:
    """Add the sorted samples *ordered* to *buckets*: bucket ``i`` counts ``2**(i-1) < d <= 2**i`` (0: ``d <= 1``).

    One binary search per bucket from the lowest sample's bucket up to the highest's.
    """
    start, count = 0, len(ordered)
    index = max(ordered[0] - 1, 0).bit_length()
    while start < count:
        end = bisect_right(ordered, 1 << index, start)
        buckets[index] += end - start
        start = end
        index += 1


@final
class StatsRegistry:
    """All cells of one plugin manager, keyed by (plugin, hook)."""

    __slots__ = ("_cells", "_lock")

    def __init__(self) -> None:
        self._cells: dict[tuple[str, str], Cell] = {}
        self._lock = threading.Lock()

    def cell(self, plugin: str, hook: str) -> Cell:
        """Return the cell of (*plugin*, *hook*), creating it on first use."""
        key = (plugin, hook)
        with self._lock:
            cell = self._cells.get(key)
            if cell is None:
                cell = self._cells[key] = Cell(plugin, hook)
            return cell

    def counters(self) -> list[Counters]:
        """Return the counters of every cell that has seen a call, an error or a denial, sorted by plugin and hook."""
        with self._lock:
            cells = sorted(self._cells.items())
        counters = (cell.counters() for _, cell in cells)
        return [c for c in counters if c[2] or c[3] or c[4]]  # calls, errors, denials

    def reset(self, plugin: str | None = None, hook: str | None = None) -> None:
        """Zero the counters of the cells matching *plugin* and *hook* (``None`` matches all)."""
        with self._lock:
            cells = list(self._cells.items())
        for (p, h), cell in cells:
            if (plugin is None or p == plugin) and (hook is None or h == hook):
                cell.reset()
