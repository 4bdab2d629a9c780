"""The library import on the warm host path, broken down: what the 1.5x target leaves once attrs is paid for.

Fresh interpreters, alternating, timed from their first statement (as ``bench_startup`` times its ``lib_ms``):

* anchor: ``import json, sys``, then ``import importlib_metadata, pluggy``;
* securehost: ``import json, sys``, then ``import pluggy``, then ``import attrs``, then ``import securehost`` and
  ``securehost.Host`` (the namespace is lazy: this imports the host path). The process also sums the time attrs
  spends making securehost's model classes (``@attrs.frozen``), by timing the function every attrs class decorator
  calls, ``attr._next_gen.attrs``.

The row reports the medians of each part and what the target leaves: ``budget_ms`` is 1.5 times the anchor;
``left_for_securehost_ms`` is the budget less ``json`` + ``pluggy`` (the anchor imports them too), less the attrs
import and the attrs model classes that securehost's public models are made of (the house style makes every model an
``@attrs.frozen`` class). ``securehost_own_ms`` is what securehost's own modules take beyond that: finding, reading
and running them, and the standard modules they import that the anchor does not (``datetime``, ``sysconfig``,
``ipaddress``, ...).

``run()`` returns one row; ``python benchmarks/bench_libimport.py [runs]`` prints it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

RUNS = 21
SRC = Path(__file__).resolve().parent.parent / "src"

ANCHOR = """
import time
t0 = time.perf_counter()
import json, sys
import importlib_metadata, pluggy
t1 = time.perf_counter()
print(json.dumps({"total": t1 - t0}))
"""

SECUREHOST = """
import time
t0 = time.perf_counter()
import json, sys
sys.path.append({src!r})
import pluggy
t1 = time.perf_counter()
import attrs
t2 = time.perf_counter()
import attr._next_gen
_make = attr._next_gen.attrs
_spent = [0.0, 0]


def _timed(*args, **kwargs):
    start = time.perf_counter()
    try:
        return _make(*args, **kwargs)
    finally:
        _spent[0] += time.perf_counter() - start
        _spent[1] += 1


attr._next_gen.attrs = _timed
import securehost
securehost.Host
t3 = time.perf_counter()
modules = sum(1 for name in sys.modules if name == "securehost" or name.startswith("securehost."))
print(json.dumps({{
    "total": t3 - t0, "json_pluggy": t1 - t0, "attrs": t2 - t1, "models": _spent[0], "classes": _spent[1],
    "securehost": t3 - t2, "modules": modules,
}}))
"""


def _measure(code: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


def run(runs: int = RUNS) -> list[dict[str, object]]:
    """Measure both sides alternately, one fresh interpreter per sample; return one row of medians."""
    secure = SECUREHOST.format(src=str(SRC))
    _measure(ANCHOR)  # bytecode caches in place before the first sample
    _measure(secure)
    anchor: list[dict[str, float]] = []
    ours: list[dict[str, float]] = []
    for _ in range(runs):
        anchor.append(_measure(ANCHOR))
        ours.append(_measure(secure))

    def ms(samples: list[dict[str, float]], key: str) -> float:
        return statistics.median(s[key] for s in samples) * 1e3

    a, total = ms(anchor, "total"), ms(ours, "total")
    json_pluggy, attrs_import, models = ms(ours, "json_pluggy"), ms(ours, "attrs"), ms(ours, "models")
    budget = 1.5 * a
    left = budget - json_pluggy - attrs_import - models
    return [
        {
            "bench": "library import on the warm host path, broken down",
            "anchor_ms": round(a, 1),
            "securehost_ms": round(total, 1),
            "ratio": round(total / a, 2),
            "target": "<= 1.5",
            "budget_ms": round(budget, 1),
            "json_pluggy_ms": round(json_pluggy, 1),
            "attrs_import_ms": round(attrs_import, 1),
            "attrs_models_ms": round(models, 1),
            "attrs_classes": int(statistics.median(s["classes"] for s in ours)),
            "left_for_securehost_ms": round(left, 1),
            "securehost_own_ms": round(ms(ours, "securehost") - models, 1),
            "securehost_modules": int(statistics.median(s["modules"] for s in ours)),
            "runs": runs,
        }
    ]


if __name__ == "__main__":
    for row in run(int(sys.argv[1]) if len(sys.argv) > 1 else RUNS):
        print(row)
