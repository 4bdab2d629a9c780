"""Entry-point discovery: securehost's scan (uncached and cached) against importlib_metadata.

Each figure scans one site directory for one entry-point group and is repeated (median of ``repeats``):

* ``importlib_metadata``: ``distributions(path=[site])`` and ``dist.entry_points.select(group=...)`` plus
  ``dist.name`` for the matches (what a plugin loader needs);
* ``importlib_metadata_names``: the same but asking every distribution its name (what duplicate detection needs);
* ``securehost``: :func:`securehost._installed.discovery.discover` without a cache (includes ``METADATA`` of
  the candidates);
* ``securehost_cached``: the same with a warm :class:`~securehost._installed.discovery.DiscoveryCache`.

Sites: the running interpreter's site-packages, and a synthetic one with 400 distributions (40 of them plugins).
"""

from __future__ import annotations

import statistics
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from unittest import mock

import importlib_metadata

from securehost._installed.discovery import DiscoveryCache, discover

REPEATS = 15
GROUP = "bench.plugins"


def _synthetic(root: Path, count: int = 400) -> Path:
    for i in range(count):
        info = root / f"dist_{i}-1.{i}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: dist-{i}\nVersion: 1.{i}\n\n" + "x" * 2000)
        groups = "[console_scripts]\nrun = m:main\n"
        if i % 10 == 0:
            groups += f"[{GROUP}]\np{i} = dist_{i}.plugin:Plugin\n"
        (info / "entry_points.txt").write_text(groups)
    return root


def _median_ms(func: object, repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()  # type: ignore[operator]
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e3


def _figures(site: Path, group: str, repeats: int, label: str) -> list[dict[str, object]]:
    def with_importlib_metadata() -> None:
        for dist in importlib_metadata.distributions(path=[str(site)]):
            for _ in dist.entry_points.select(group=group):
                _ = dist.name

    def with_importlib_metadata_names() -> None:
        for dist in importlib_metadata.distributions(path=[str(site)]):
            _ = dist.name, dist.entry_points.select(group=group)

    cache = DiscoveryCache()
    with mock.patch(
        "securehost._installed.scan._RACY_NS", 0
    ):  # files were just written: allow caching them for the bench
        discover(group, [site], cache=cache)
        results = {
            "importlib_metadata": _median_ms(with_importlib_metadata, repeats),
            "importlib_metadata_names": _median_ms(with_importlib_metadata_names, repeats),
            "securehost": _median_ms(lambda: discover(group, [site]), repeats),
            "securehost_cached": _median_ms(lambda: discover(group, [site], cache=cache), repeats),
        }
    found = len(discover(group, [site]).distributions)
    return [{"site": label, "name": k, "median_ms": v, "candidates": found} for k, v in results.items()]


def run(repeats: int = REPEATS) -> list[dict[str, object]]:
    """Return ``[{"site", "name", "median_ms", "candidates"}...]``."""
    results = _figures(Path(sysconfig.get_paths()["purelib"]), "console_scripts", repeats, "interpreter")
    with tempfile.TemporaryDirectory() as tmp:
        results += _figures(_synthetic(Path(tmp)), GROUP, repeats, "synthetic-400")
    return results


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS
    for row in run(repeats):
        print(f"{row['site']:14} {row['name']:26} {row['median_ms']:8.2f} ms  ({row['candidates']} candidates)")


if __name__ == "__main__":
    main()
