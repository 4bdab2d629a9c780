"""Benchmark: verifying a wheel with ``read_archive`` against raw ``hashlib.sha256`` of its bytes.

``run()`` builds wheels with :mod:`zipfile` (as build backends do) in a temporary directory and
times, side by side in each round, with a warm page cache:

* ``raw``: ``hashlib.sha256`` over the wheel file, read in 1 MiB pieces (the anchor);
* ``floor``: the least any verifier must do: inflate every member with :mod:`zlib` and SHA-256
  the result, with no checks at all;
* ``scan``: ``read_archive(path)`` with automatic threading, and ``scan-1t`` with one thread.

``ratio`` is the throughput of ``scan`` relative to ``raw`` (``raw / scan`` time); ``overhead`` is
``scan - floor``: what the checks cost beyond inflating and hashing. Medians over ``ROUNDS`` rounds.

Run ``PYTHONPATH=src python benchmarks/bench_wheel.py``.
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import sysconfig
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

from securehost._wheel.zipsafe import read_archive

ROUNDS = 21
MiB = 1 << 20


def _python_sources() -> list[bytes]:
    """Real Python source files (the running interpreter's standard library)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return [p.read_bytes() for p in sorted(stdlib.glob("*.py")) if p.stat().st_size > 2000]


def build_wheel(path: Path, *, source_bytes: int, binary_bytes: int, seed: int = 0) -> None:
    """Write a wheel with about *source_bytes* of deflated .py files and *binary_bytes* of data.

    The .py files are real source (compressing about 3.5:1); the binary data is random, deflated
    like build backends do (deflate then stores it in raw blocks).
    """
    rng = random.Random(seed)
    sources = _python_sources()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        written = 0
        index = 0
        while written < source_bytes:
            data = sources[index % len(sources)]
            info = zipfile.ZipInfo(f"bench_pkg/sub{index // 100}/mod{index}.py")
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
            written += archive.getinfo(info.filename).compress_size
            index += 1
        pieces = [binary_bytes // 2, binary_bytes // 4, binary_bytes // 8, binary_bytes // 8]
        for i, size in enumerate(pieces):
            archive.writestr(f"bench_pkg/_native{i}.so", rng.randbytes(size))
        archive.writestr("bench_pkg-1.0.dist-info/METADATA", "Name: bench-pkg\nVersion: 1.0\n")
        archive.writestr("bench_pkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n")
        archive.writestr("bench_pkg-1.0.dist-info/RECORD", "")


def _raw(path: Path) -> None:
    sha = hashlib.sha256()
    with path.open("rb", buffering=0) as stream:
        while chunk := stream.read(MiB):
            sha.update(chunk)
    sha.digest()


def _floor(path: Path, spans: list[tuple[int, int, int]]) -> None:
    data = path.read_bytes()
    view = memoryview(data)
    for start, size, method in spans:
        sha = hashlib.sha256()
        if method == 0:
            sha.update(view[start : start + size])
        else:
            sha.update(zlib.decompress(view[start : start + size], -15))
        sha.digest()


def _spans(path: Path) -> list[tuple[int, int, int]]:
    with zipfile.ZipFile(path) as archive:
        return [
            (i.header_offset + 30 + len(i.filename.encode()), i.compress_size, i.compress_type)
            for i in archive.infolist()
        ]


def _time(function: object, *args: object) -> float:
    start = time.perf_counter()
    function(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def _bench(label: str, path: Path) -> dict[str, object]:
    spans = _spans(path)
    scan = read_archive(path)
    assert scan.ok, scan.reasons
    times: dict[str, list[float]] = {"raw": [], "floor": [], "scan": [], "scan-1t": []}
    for _ in range(ROUNDS):
        times["raw"].append(_time(_raw, path))
        times["floor"].append(_time(_floor, path, spans))
        times["scan"].append(_time(read_archive, path))
        times["scan-1t"].append(_time(lambda: read_archive(path, threads=1)))
    med = {k: statistics.median(v) for k, v in times.items()}
    size = path.stat().st_size
    return {
        "name": label,
        "file_mib": round(size / MiB, 2),
        "content_mib": round(sum(m.size for m in scan.members) / MiB, 2),
        "members": len(scan.members),
        "rounds": ROUNDS,
        **{f"{k}_ms": round(v * 1e3, 2) for k, v in med.items()},
        "ratio": round(med["raw"] / med["scan"], 2),
        "ratio_1t": round(med["raw"] / med["scan-1t"], 2),
        "overhead_ms": round((med["scan-1t"] - med["floor"]) * 1e3, 2),
    }


def _small_wheel_overhead(directory: Path) -> dict[str, object]:
    """Per-wheel cost beyond hashing, for a typical small plugin wheel (10 members, ~30 KiB)."""
    path = directory / "small.whl"
    sources = _python_sources()[:6]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for i, data in enumerate(sources):
            archive.writestr(f"small/m{i}.py", data[:5000])
        for name in ("METADATA", "WHEEL", "entry_points.txt", "RECORD"):
            archive.writestr(f"small-1.0.dist-info/{name}", "x = 1\n" * 20)
    contents = [zipfile.ZipFile(path).read(n) for n in zipfile.ZipFile(path).namelist()]
    scan, hashing = [], []
    for _ in range(ROUNDS * 5):
        scan.append(_time(read_archive, path))
        hashing.append(_time(lambda: [hashlib.sha256(c).digest() for c in contents]))
    return {
        "name": "small wheel (10 members): per-wheel overhead",
        "file_kib": round(path.stat().st_size / 1024, 1),
        "rounds": ROUNDS * 5,
        "scan_ms": round(statistics.median(scan) * 1e3, 3),
        "sha256_of_contents_ms": round(statistics.median(hashing) * 1e3, 3),
        "overhead_ms": round((statistics.median(scan) - statistics.median(hashing)) * 1e3, 3),
    }


def run() -> list[dict[str, object]]:
    """Build the benchmark wheels in a temporary directory and return one result dict per case."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        cases = [
            ("mixed 10 MiB: 1 MiB deflated .py + 9 MiB binary", 1 * MiB, 9 * MiB),
            ("source-heavy 10 MiB: 3 MiB deflated .py + 7 MiB binary", 3 * MiB, 7 * MiB),
            ("binary 10 MiB: incompressible members only", 0, 10 * MiB),
        ]
        for label, source_bytes, binary_bytes in cases:
            path = directory / f"{source_bytes}-{binary_bytes}.whl"
            build_wheel(path, source_bytes=source_bytes, binary_bytes=binary_bytes)
            results.append(_bench(label, path))
        results.append(_small_wheel_overhead(directory))
    return results


if __name__ == "__main__":
    print(f"cpus={os.cpu_count()}")
    for result in run():
        print(result)
