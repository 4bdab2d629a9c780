"""Verified import vs a normal import, for one ~10 KiB module.

Four figures, measured side by side in the same loop (one import of a fresh module name each, so ``sys.modules``
never answers):

* ``normal_pyc``: a plain ``import`` of a module whose ``__pycache__`` file exists (the usual warm case);
* ``verified_warm``: :class:`securehost._installed.importer.VerifiedImporter` with a warm host bytecode cache
  (read source,
  SHA-256, read cache entry, HMAC, unmarshal, dependency check, exec);
* ``normal_cold`` and ``verified_cold``: the same without any cache (compile from source, then write the cache).

``run()`` returns one dict per figure; ``python benchmarks/bench_import.py [repeats]`` prints medians and ratios.
"""

from __future__ import annotations

import compileall
import gc
import hashlib
import importlib
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from securehost._installed.importer import VerifiedImporter
from securehost._installed.modules import ModuleKind, VerifiedModule

REPEATS = 25


def module_source() -> str:
    """About 10 KiB of ordinary Python: functions, a class, constants, an stdlib import."""
    parts = ['"""A generated module of about 10 KiB."""\n\nimport math\n\nTABLE = {\n']
    parts.extend(f"    'key_{i}': ({i}, {i * 1.5!r}, 'value {i}'),\n" for i in range(70))
    parts.append("}\n\n")
    for i in range(34):
        parts.append(
            f"def function_{i}(x, y=2):\n"
            f'    """Compute something for case {i}."""\n'
            f"    total = 0\n"
            f"    for k in range(x):\n"
            f"        total += math.floor(k * y + {i}) % 7\n"
            f"    return total\n\n\n"
        )
    parts.append("class Processor:\n    def __init__(self, n):\n        self.n = n\n\n")
    parts.extend(f"    def step_{i}(self, v):\n        return v * self.n + {i}\n\n" for i in range(20))
    text = "".join(parts)
    assert 9 * 1024 <= len(text.encode()) <= 12 * 1024, len(text)
    return text


def _timed_import(name: str) -> float:
    gc.disable()
    try:
        start = time.perf_counter()
        importlib.import_module(name)
        return time.perf_counter() - start
    finally:
        gc.enable()


def run(repeats: int = REPEATS) -> list[dict[str, object]]:
    """Measure the four figures; return ``[{"name", "median_us", "samples_us", "size"}...]``."""
    source = module_source()
    digest = hashlib.sha256(source.encode()).hexdigest()
    tag = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        plain, site, state = root / "plain", root / "site", root / "state"
        for directory in (plain, site):
            directory.mkdir()
        names: dict[str, list[str]] = {"normal_pyc": [], "normal_cold": [], "verified_warm": [], "verified_cold": []}
        warm_table: dict[str, VerifiedModule] = {}
        cold_table: dict[str, VerifiedModule] = {}
        for i in range(repeats):
            for kind, kind_names in names.items():
                name = f"bench_{kind}_{tag}_{i}"
                kind_names.append(name)
                target = (plain if kind.startswith("normal") else site) / f"{name}.py"
                target.write_text(source)
                if kind.startswith("verified"):
                    table = warm_table if kind == "verified_warm" else cold_table
                    table[name] = VerifiedModule(path=target, sha256=digest, is_package=False, kind=ModuleKind.SOURCE)
        for name in names["normal_pyc"]:
            compileall.compile_file(str(plain / f"{name}.py"), quiet=1)
        # Warm the host cache for the "warm" modules with a first importer, then forget the modules.
        warmer = VerifiedImporter(state / "bytecode", state / "key")
        warmer.add_distribution("bench-warm", warm_table)
        for name in names["verified_warm"]:
            warmer.load_entry_point(name)
        warmer.remove_distribution("bench-warm")
        warmer.uninstall()

        importer = VerifiedImporter(state / "bytecode", state / "key")
        importer.add_distribution("bench-warm", warm_table)
        importer.add_distribution("bench-cold", cold_table)
        importer.install()
        sys.path.insert(0, str(plain))
        importlib.invalidate_caches()
        samples: dict[str, list[float]] = {kind: [] for kind in names}
        try:
            for i in range(repeats):  # side by side: one of each per round
                for kind in names:
                    samples[kind].append(_timed_import(names[kind][i]))
        finally:
            sys.path.remove(str(plain))
            for distribution in importer.distributions:
                importer.remove_distribution(distribution)
            importer.uninstall()
            for kind in ("normal_pyc", "normal_cold"):
                for name in names[kind]:
                    sys.modules.pop(name, None)
    return [
        {
            "name": kind,
            "median_us": statistics.median(values) * 1e6,
            "samples_us": [v * 1e6 for v in values],
            "size": len(source.encode()),
        }
        for kind, values in samples.items()
    ]


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else REPEATS
    results = {r["name"]: r for r in run(repeats)}
    size = results["normal_pyc"]["size"]
    print(f"one {size} byte module, {repeats} fresh imports each, medians:")
    for name, result in results.items():
        print(f"  {name:14} {result['median_us']:9.1f} us")
    warm = results["verified_warm"]["median_us"] / results["normal_pyc"]["median_us"]  # type: ignore[operator]
    cold = results["verified_cold"]["median_us"] / results["normal_cold"]["median_us"]  # type: ignore[operator]
    print(f"verified warm / normal pyc: {warm:.2f}x (target <= 1.0x)")
    print(f"verified cold / normal cold: {cold:.2f}x")


if __name__ == "__main__":
    main()
