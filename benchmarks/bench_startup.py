"""Whole-process start-up of a host with N signed plugins, against plain entry-point loading of the same plugins.

Each plugin is a small package (``__init__``, ``core`` with a few functions and a class, ``plugin`` with a
hookimpl) written as a wheel here from files (no build tool). The securehost side signs the wheels with
:func:`securehost.sign_wheel`; both sides unpack them into a directory of their own the way an installer lays a pure
wheel out (no bytecode). Each sample is a **fresh interpreter** that times, from its first statement, the library
imports, the start-up and one hook call:

* anchor, the host the issue names: ``import pluggy`` and ``PluginManager.load_setuptools_entrypoints(group)``
  (pluggy imports the standard library's ``importlib.metadata`` inside the call, reads every distribution's entry
  points, loads and registers the group's);
* second anchor, reported beside it (``backport_*``, warm only): ``import importlib_metadata, pluggy``,
  ``importlib_metadata.entry_points(group=...)``, ``ep.load()`` and ``register`` of every plugin. This was the only
  anchor until 2026-12-07; the backport's import and scan make it 15-20 % slower than the host the issue names;
* securehost: ``import securehost`` and ``Host(...)`` (trust-store file, state directory, importer, plugin manager
  with the guard) and ``host.load()``: discover, verify (signature, trust, every installed file, the package walk),
  import from the verified bytes, register.

Both scan the whole :data:`sys.path` (the plugin directory first), as a host with the default path does; both call the
hook once. Both plugin directories also hold what most ``site-packages`` hold: setuptools'
``distutils-precedence.pth`` start-up hook, listed in its ``RECORD``. *warm*: the anchor's ``__pycache__`` and
securehost's state directory (bytecode cache, signature memo, file record) were filled by earlier runs; *cold*: the
anchor's ``__pycache__`` is deleted before each run, securehost gets an empty state directory; *paranoid*: warm state,
``Host(paranoid=True)`` (every file read and hashed). The sides alternate, so both see the same machine load. Each row
also carries the library-import part (``lib_ms``), the CPU time of the whole process (``cpu_ms``, user + system from
``exec`` to the end, interpreter start-up included; a shared machine moves it less than wall time) and the peak RSS
of the process (``rss_mib``, ``VmHWM``: ``ru_maxrss`` would report the parent's peak, which survives ``fork`` and
``exec``).

``run()`` returns one dict per (plugins, mode) with medians and the ratio; ``python benchmarks/bench_startup.py
[--runs N] [--sizes N ...] [--profile N]`` prints them (``--profile`` prints a cProfile of one warm securehost
start-up with N plugins instead).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

from securehost import PermissionSet, PrivateKey, sign_wheel  # noqa: E402
from securehost._trust.edit import add_key  # noqa: E402

RUNS = 9
SIZES = (10, 100, 1000)
#: Fewer samples for the largest sizes: each one loads a thousand plugins twice.
RUNS_AT = {1000: 5}
GROUP = "benchapp.plugins"

SPEC = '''"""benchapp's hook specifications."""
import pluggy

hookspec = pluggy.HookspecMarker("benchapp")


class Spec:
    @hookspec
    def startup(self, config):
        """Called once when the application starts."""
'''

CORE = '''"""Core helpers of plugin {i}."""

import math

LIMITS = {{"low": {i}, "high": {i} * 10, "name": "plugin-{i}"}}


def scale(value, factor=2):
    """Scale *value*."""
    return value * factor + {i}


def norm(values):
    """Euclidean norm."""
    return math.sqrt(sum(v * v for v in values))


class Processor:
    """Processes records."""

    def __init__(self, config):
        self.config = dict(config)

    def process(self, record):
        return {{k: scale(v) for k, v in record.items() if isinstance(v, int)}}

    def describe(self):
        return f"processor {i} with {{len(self.config)}} settings"
'''

PLUGIN = '''"""Hook implementations of plugin {i}."""

import pluggy

from bplug_{i:03d}.core import Processor

hookimpl = pluggy.HookimplMarker("benchapp")


@hookimpl
def startup(config):
    return Processor(config).describe()
'''

ANCHOR = """
import time
t0 = time.perf_counter()
import json, sys
sys.path.insert(0, {site!r})
sys.path.insert(1, {work!r})
import pluggy
import bench_spec
t1 = time.perf_counter()
pm = pluggy.PluginManager("benchapp")
pm.add_hookspecs(bench_spec.Spec)
pm.load_setuptools_entrypoints({group!r})
assert len(pm.hook.startup(config={{}})) == {n}
t2 = time.perf_counter()
rss = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")][0] / 1024
import resource
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"lib": t1 - t0, "total": t2 - t0, "rss": rss, "cpu": usage.ru_utime + usage.ru_stime}}))
"""

BACKPORT = ANCHOR.replace("import pluggy\n", "import importlib_metadata, pluggy\n").replace(
    "pm.load_setuptools_entrypoints({group!r})\n",
    "for ep in importlib_metadata.entry_points(group={group!r}):\n    pm.register(ep.load(), name=ep.dist.name)\n",
)

SECUREHOST = """
import time
t0 = time.perf_counter()
import json, sys
sys.path.insert(0, {site!r})
sys.path.insert(1, {work!r})
sys.path.append({src!r})
import securehost
import bench_spec
Host = securehost.Host  # the namespace is lazy: this imports the host path
t1 = time.perf_counter()
host = Host(project="benchapp", group={group!r}, trust_store={store!r}, hookspecs=bench_spec.Spec,
            state_dir={state!r}, paranoid={paranoid!r})
report = host.load()
assert len(report.accepted) == {n}, report.summary()
assert len(host.hook.startup(config={{}})) == {n}
t2 = time.perf_counter()
rss = [int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")][0] / 1024
import resource
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({{"lib": t1 - t0, "total": t2 - t0, "rss": rss, "cpu": usage.ru_utime + usage.ru_stime}}))
"""


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(directory: Path, i: int) -> Path:
    """Write the wheel of plugin *i* (a package of three modules and one entry point)."""
    package = f"bplug_{i:03d}"
    dist_info = f"{package}-1.0.dist-info"
    members = {
        f"{package}/__init__.py": f'"""Benchmark plugin {i}."""\n\n__version__ = "1.0"\n'.encode(),
        f"{package}/core.py": CORE.format(i=i).encode(),
        f"{package}/plugin.py": PLUGIN.format(i=i).encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": f"[{GROUP}]\np{i} = {package}.plugin\n".encode(),
    }
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in members.items())
    members[f"{dist_info}/RECORD"] = (record + f"{dist_info}/RECORD,,\n").encode()
    path = directory / f"{package}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    return path


def install_into(wheel: Path, site: Path) -> None:
    """Unpack a pure wheel the way an installer lays it out (its ``RECORD`` lists every file), without bytecode."""
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    (dist_info,) = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist() if ".dist-info/" in name}
    (site / dist_info / "INSTALLER").write_text("bench\n")
    with open(site / dist_info / "RECORD", "a") as record:
        record.write(f"{dist_info}/INSTALLER,,\n")


def prepare(root: Path, n: int) -> dict[str, Path]:
    """Build *n* plugins; install them signed (securehost) and unsigned (anchor) into two directories."""
    key = PrivateKey.generate()
    store = root / "trust.toml"
    add_key(store, key.public_key, label="bench", names=["bplug-*"], max_permissions=PermissionSet())
    dist, signed, site_signed, site_plain = (root / d for d in ("dist", "signed", "s", "p"))
    for directory in (dist, signed, site_signed, site_plain):
        directory.mkdir(parents=True)
    issued = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for i in range(n):
        wheel = make_wheel(dist, i)
        install_into(wheel, site_plain)
        install_into(sign_wheel(wheel, key, output=f"{signed}{os.sep}", issued_at=issued), site_signed)
    for site in (site_signed, site_plain):
        add_setuptools_hook(site)
    (root / "bench_spec.py").write_text(SPEC)
    return {"root": root, "store": store, "site_signed": site_signed, "site_plain": site_plain}


def add_setuptools_hook(site: Path) -> None:
    """Install what most ``site-packages`` hold: setuptools' ``distutils-precedence.pth``, listed in its RECORD.

    A start-up hook in the site makes securehost vouch for it against the site's RECORDs (once per load).
    """
    data = b"import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'\n"
    (site / "distutils-precedence.pth").write_bytes(data)
    dist_info = site / "setuptools-80.9.0.dist-info"
    dist_info.mkdir()
    metadata = b"Metadata-Version: 2.1\nName: setuptools\nVersion: 80.9.0\n"
    (dist_info / "METADATA").write_bytes(metadata)
    rows = [
        f"distutils-precedence.pth,{_record_hash(data)},{len(data)}",
        f"{dist_info.name}/METADATA,{_record_hash(metadata)},{len(metadata)}",
        f"{dist_info.name}/RECORD,,",
    ]
    (dist_info / "RECORD").write_text("\n".join(rows) + "\n")


def _measure(code: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env, timeout=600
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{done.stderr}")
    result: dict[str, float] = json.loads(done.stdout)
    return result


def _clear_pycache(site: Path) -> None:
    for cache in site.rglob("__pycache__"):
        shutil.rmtree(cache)


MODES = ("warm", "cold", "paranoid")


def measure(env: dict[str, Path], n: int, runs: int) -> list[dict[str, object]]:
    """Measure warm, cold and paranoid start-up of both sides, alternately, one fresh interpreter per sample."""
    root = env["root"]
    common = {"work": str(root), "group": GROUP, "n": n}
    anchor = ANCHOR.format(site=str(env["site_plain"]), **common)
    backport = BACKPORT.format(site=str(env["site_plain"]), **common)
    warm_state = root / "state-warm"

    def secure(state: Path, *, paranoid: bool = False) -> str:
        return SECUREHOST.format(
            site=str(env["site_signed"]),
            src=str(SRC),
            store=str(env["store"]),
            state=str(state),
            paranoid=paranoid,
            **common,
        )

    _measure(anchor)  # fills the anchor's __pycache__
    _measure(backport)
    _measure(secure(warm_state))  # fills securehost's bytecode cache, signature memo and file record
    time.sleep(2.1)  # files younger than two seconds are not recorded ("racily clean")
    _measure(secure(warm_state))  # records them
    samples: dict[tuple[str, str], list[dict[str, float]]] = {
        (side, mode): [] for side in ("anchor", "backport", "securehost") for mode in MODES
    }
    for run in range(runs):
        samples["anchor", "warm"].append(_measure(anchor))
        samples["backport", "warm"].append(_measure(backport))
        samples["securehost", "warm"].append(_measure(secure(warm_state)))
        samples["anchor", "paranoid"].append(_measure(anchor))
        samples["securehost", "paranoid"].append(_measure(secure(warm_state, paranoid=True)))
        _clear_pycache(env["site_plain"])
        samples["anchor", "cold"].append(_measure(anchor))
        cold_state = root / f"state-cold-{run}"
        samples["securehost", "cold"].append(_measure(secure(cold_state)))
        shutil.rmtree(cold_state)
    rows: list[dict[str, object]] = []

    def median(side: str, mode: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[side, mode])

    for mode in MODES:
        a = median("anchor", mode, "total") * 1e3
        b = median("securehost", mode, "total") * 1e3
        rows.append(
            {
                "plugins": n,
                "mode": mode,
                "anchor_ms": round(a, 1),
                "securehost_ms": round(b, 1),
                "ratio": round(b / a, 2),
                "anchor_lib_ms": round(median("anchor", mode, "lib") * 1e3, 1),
                "securehost_lib_ms": round(median("securehost", mode, "lib") * 1e3, 1),
                "anchor_cpu_ms": round(median("anchor", mode, "cpu") * 1e3, 1),
                "securehost_cpu_ms": round(median("securehost", mode, "cpu") * 1e3, 1),
                "cpu_ratio": round(median("securehost", mode, "cpu") / median("anchor", mode, "cpu"), 2),
                "anchor_rss_mib": round(median("anchor", mode, "rss"), 1),
                "securehost_rss_mib": round(median("securehost", mode, "rss"), 1),
                "runs": runs,
            }
        )
        if samples["backport", mode]:
            backport_ms = median("backport", mode, "total") * 1e3
            rows[-1]["backport_anchor_ms"] = round(backport_ms, 1)
            rows[-1]["backport_ratio"] = round(b / backport_ms, 2)
    return rows


def run(runs: int = RUNS, sizes: tuple[int, ...] = SIZES) -> list[dict[str, object]]:
    """Measure every size; return one row per (plugins, mode)."""
    rows: list[dict[str, object]] = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"bench-startup-{n}-") as tmp:
            rows.extend(measure(prepare(Path(tmp), n), n, min(runs, RUNS_AT.get(n, runs))))
    return rows


def profile(n: int, *, cold: bool = False) -> None:
    """Print a cProfile of one securehost start-up with *n* plugins (warm: after a run that fills the caches)."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-profile-") as tmp:
        env = prepare(Path(tmp), n)
        code = SECUREHOST.format(
            site=str(env["site_signed"]),
            src=str(SRC),
            store=str(env["store"]),
            state=str(Path(tmp) / "state"),
            work=tmp,
            group=GROUP,
            n=n,
            paranoid=False,
        )
        if not cold:
            _measure(code)
            time.sleep(2.1)
            _measure(code)
        profiled = code.replace(
            "host = Host(",
            "import cProfile, pstats\npr = cProfile.Profile()\npr.enable()\nhost = Host(",
        )
        profiled = profiled.replace(
            "t2 = time.perf_counter()",
            "t2 = time.perf_counter()\npr.disable()\n"
            "pstats.Stats(pr, stream=sys.stderr).sort_stats('cumulative').print_stats(45)\n"
            "pstats.Stats(pr, stream=sys.stderr).sort_stats('tottime').print_stats(30)\n"
            "import os\nif os.environ.get('CALLEES'):\n"
            "    pstats.Stats(pr, stream=sys.stderr).sort_stats('cumulative').print_callees(os.environ['CALLEES'])\n"
            "if os.environ.get('CALLERS'):\n"
            "    pstats.Stats(pr, stream=sys.stderr).sort_stats('cumulative').print_callers(os.environ['CALLERS'])",
        )
        env_vars = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
        done = subprocess.run(
            [sys.executable, "-c", profiled], capture_output=True, text=True, env=env_vars, check=True
        )
        print(done.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--profile", type=int, metavar="N", help="profile one warm start-up with N plugins")
    parser.add_argument("--cold", action="store_true", help="with --profile: an empty state directory")
    # with --profile, CALLEES=regex (CALLERS=regex) in the environment also prints what the matching functions call
    # (what calls them)
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, cold=args.cold)
        return
    for row in run(args.runs, tuple(args.sizes)):
        backport = f"; against the backport anchor {row['backport_ratio']:.2f}x" if "backport_ratio" in row else ""
        print(
            f"{row['plugins']:>5} plugins, {row['mode']:>8}: anchor {row['anchor_ms']:8.1f} ms, "
            f"securehost {row['securehost_ms']:8.1f} ms, ratio {row['ratio']:.2f}x, CPU ratio {row['cpu_ratio']:.2f}x "
            f"(library imports {row['anchor_lib_ms']} ms vs {row['securehost_lib_ms']} ms; "
            f"RSS {row['anchor_rss_mib']} MiB vs {row['securehost_rss_mib']} MiB{backport})"
        )


if __name__ == "__main__":
    main()
