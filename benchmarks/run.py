"""Run every benchmark and print medians and ratios against the anchors measured in the same run.

Usage: ``nox -s bench`` (or ``PYTHONPATH=src python benchmarks/run.py [NAME ...]``). Each module in this folder
exposes ``run() -> list[dict]``; the anchors (raw hashlib, bare pluggy, plain importlib-metadata loading) are
measured side by side inside each module, in the same process, so the ratios survive a noisy machine.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

BENCHMARKS = [
    "bench_verify",
    "bench_wheel",
    "bench_import",
    "bench_discovery",
    "bench_dispatch",
    "bench_startup",
    "bench_libimport",
    "bench_isolation",
]


def main(argv: list[str]) -> int:
    wanted = argv or BENCHMARKS
    print(f"# securehost benchmarks: Python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.machine()}")
    out = []
    for name in wanted:
        if not (HERE / f"{name}.py").exists():
            print(f"\n## {name}: not present, skipped")
            continue
        module = importlib.import_module(name)
        start = time.perf_counter()
        rows = module.run()
        print(f"\n## {name} ({time.perf_counter() - start:.1f} s)")
        for row in rows:
            print("  " + ", ".join(f"{k}={v}" for k, v in row.items()))
        out.append({"benchmark": name, "results": rows})
    target = os.environ.get("SECUREHOST_BENCH_JSON")
    if target:
        Path(target).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
