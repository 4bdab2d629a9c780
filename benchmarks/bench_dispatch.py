"""Hook dispatch benchmark: securehost (counters, identity, guard on) against bare pluggy, same run.

Two parts:

* ``dispatch``: one hook call with 1, 5 and 20 implementations (each returns a value), without
  and with two new-style wrappers. Bare ``pluggy.PluginManager`` and
  ``securehost.SecurePluginManager`` (plugins registered with permissions, the runtime guard
  installed, counters on) are measured side by side: rounds alternate between the two so that drift
  and noise hit both alike, and the reported figure is the median over rounds of the per-call time.
* ``guard``: a host workload (write and read a file, import a freshly written module, log a record)
  while no plugin runs, in child processes that both import securehost, one of them with the guard
  installed, alternating; the median per-iteration time of each and their ratio. On a busy machine
  the noise between processes exceeds the guard's cost, so the row also gives the cost of one
  audited event with and without the guard, the number of events per iteration, and the ratio they
  imply.

``run()`` returns the rows; ``python benchmarks/bench_dispatch.py`` prints them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy

SRC = Path(__file__).resolve().parent.parent / "src"
if SRC.is_dir() and str(SRC) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(SRC))

import securehost  # noqa: E402

hookspec = pluggy.HookspecMarker("bench")
hookimpl = pluggy.HookimplMarker("bench")


class Spec:
    @hookspec
    def handle(self, request: int, context: dict[str, Any]) -> Any: ...


def _plugin(i: int) -> object:
    class Plugin:
        @hookimpl
        def handle(self, request: int, context: dict[str, Any]) -> int:
            return request + i

    return Plugin()


def _wrapper() -> object:
    class Wrapper:
        @hookimpl(wrapper=True)
        def handle(self, request: int, context: dict[str, Any]) -> Any:
            result = yield
            return result

    return Wrapper()


def _build(secure: bool, impls: int, wrappers: int) -> Callable[[], Any]:
    if secure:
        manager: pluggy.PluginManager = securehost.SecurePluginManager("bench")
    else:
        manager = pluggy.PluginManager("bench")
    manager.add_hookspecs(Spec)
    plugins = [_plugin(i) for i in range(impls)] + [_wrapper() for _ in range(wrappers)]
    for i, plugin in enumerate(plugins):
        if secure:
            assert isinstance(manager, securehost.SecurePluginManager)
            manager.register(plugin, name=f"p{i}", permissions=["fs.read:/srv/data/**", "db.write"])
        else:
            manager.register(plugin, name=f"p{i}")
    hook = manager.hook.handle
    context: dict[str, Any] = {}

    def call() -> Any:
        return hook(request=1, context=context)

    assert len(call()) == impls
    return call


def _per_call(call: Callable[[], Any], number: int) -> float:
    return timeit.timeit(call, number=number) / number


def bench_dispatch(rounds: int = 41, number: int = 2000) -> list[dict[str, Any]]:
    """Median time per hook call, securehost vs pluggy, for each line-up."""
    rows = []
    for impls in (1, 5, 20):
        for wrappers in (0, 2):
            bare, secure = _build(False, impls, wrappers), _build(True, impls, wrappers)
            for call in (bare, secure):  # warm up (plans are compiled on the first call)
                _per_call(call, number)
            times: dict[str, list[float]] = {"pluggy": [], "securehost": []}
            for r in range(rounds):
                order = (("pluggy", bare), ("securehost", secure))
                for name, call in order if r % 2 else order[::-1]:
                    times[name].append(_per_call(call, number))
            pluggy_ns = statistics.median(times["pluggy"]) * 1e9
            secure_ns = statistics.median(times["securehost"]) * 1e9
            rows.append(
                {
                    "benchmark": "dispatch",
                    "impls": impls,
                    "wrappers": wrappers,
                    "pluggy_ns": round(pluggy_ns, 1),
                    "securehost_ns": round(secure_ns, 1),
                    "ratio": round(secure_ns / pluggy_ns, 3),
                }
            )
    return rows


_WORKLOAD = r"""
import importlib, io, json, logging, os, sys, tempfile, time
import securehost  # both modes import it: only the guard itself is compared
if sys.argv[1] == "guard":
    securehost.install_guard()
    assert securehost.guard_installed()
root = tempfile.mkdtemp()
sys.path.insert(0, root)
logger = logging.getLogger("bench.workload")
logger.addHandler(logging.StreamHandler(io.StringIO()))
logger.propagate = False
logger.setLevel(logging.INFO)
payload = b"x" * 4096

def once(i):
    path = os.path.join(root, "data.bin")
    with open(path, "wb") as handle:
        handle.write(payload)
    with open(path, "rb") as handle:
        handle.read()
    name = f"benchmod_{i}"
    with open(os.path.join(root, name + ".py"), "w") as handle:
        handle.write("VALUE = 1\n")
    importlib.invalidate_caches()
    importlib.import_module(name)
    del sys.modules[name]
    logger.info("request %d handled", i)

for i in range(50):
    once(i)
samples = []
for r in range(int(sys.argv[2])):
    start = time.perf_counter_ns()
    for i in range(100):
        once(1000 + r * 100 + i)
    samples.append((time.perf_counter_ns() - start) / 100)
audit = sys.audit
start = time.perf_counter_ns()
for i in range(100000):
    audit("securehost.bench", i)
event_ns = (time.perf_counter_ns() - start) / 100000
counted = [0]
counting = [True]
def count(event, args):
    if counting[0]:
        counted[0] += 1
sys.addaudithook(count)
for i in range(100):
    once(900000 + i)
counting[0] = False
print(json.dumps({"samples": samples, "event_ns": event_ns, "events": counted[0] / 100}))
"""


def bench_guard(rounds: int = 16, repeats: int = 5) -> list[dict[str, Any]]:
    """Median per-iteration time of a host workload without and with the guard (child processes)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "PYTHONHASHSEED": "0",  # same hashing, so the same memory layout, in every child
    }
    samples: dict[str, list[float]] = {"plain": [], "guard": []}
    event_ns: dict[str, list[float]] = {"plain": [], "guard": []}
    events_per_iteration: list[float] = []
    for r in range(rounds):
        for mode in ("plain", "guard") if r % 2 else ("guard", "plain"):
            out = subprocess.run(
                [sys.executable, "-c", _WORKLOAD, mode, str(repeats)],
                capture_output=True,
                text=True,
                check=True,
                env=env,
            )
            result = json.loads(out.stdout)
            samples[mode].extend(result["samples"])
            event_ns[mode].append(result["event_ns"])
            events_per_iteration.append(result["events"])
    plain, guard = statistics.median(samples["plain"]), statistics.median(samples["guard"])
    event_plain = statistics.median(event_ns["plain"])
    event_guard = statistics.median(event_ns["guard"])
    events = statistics.median(events_per_iteration)
    return [
        {
            "benchmark": "guard-idle",
            "workload": "write+read 4 KiB file, import a new module, log a record",
            "plain_ns": round(plain, 1),
            "guard_ns": round(guard, 1),
            "ratio": round(guard / plain, 3),
            "audit_event_plain_ns": round(event_plain, 1),
            "audit_event_guard_ns": round(event_guard, 1),
            "events_per_iteration": events,
            # what the guard adds per iteration, from the per-event cost: not blurred by the noise
            # between processes that dominates the measured ratio on a busy machine
            "estimated_ratio": round(1 + events * (event_guard - event_plain) / plain, 4),
        }
    ]


def run() -> list[dict[str, Any]]:
    """Run every benchmark of this module and return one dict per measurement."""
    return bench_dispatch() + bench_guard()


if __name__ == "__main__":
    versions = f"pluggy {pluggy.__version__}, securehost {securehost.__version__}"
    print(f"python {sys.version.split()[0]}, {versions}")
    for row in run():
        if row["benchmark"] == "dispatch":
            print(
                f"dispatch  impls={row['impls']:>2} wrappers={row['wrappers']}  "
                f"pluggy {row['pluggy_ns']:>8.0f} ns  securehost {row['securehost_ns']:>8.0f} ns  "
                f"ratio {row['ratio']:.3f}"
            )
        else:
            print(
                f"guard idle  plain {row['plain_ns']:>9.0f} ns  guard {row['guard_ns']:>9.0f} ns  "
                f"ratio {row['ratio']:.3f}  ({row['workload']})\n"
                f"            one audited event: {row['audit_event_plain_ns']:.0f} ns without, "
                f"{row['audit_event_guard_ns']:.0f} ns with; "
                f"{row['events_per_iteration']:.0f} events per iteration: "
                f"estimated ratio {row['estimated_ratio']:.4f}"
            )
