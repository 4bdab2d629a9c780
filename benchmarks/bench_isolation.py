"""Process isolation: hook-call round trip, throughput, worker cold start and idle memory, with same-run anchors.

* round trip: ``host.hook.echo(value=...)`` of a small payload to a plugin in a confined worker, through the whole
  dispatch (permissions, counters, codec, channel), against a raw ``os.pipe`` echo of the same bytes between two
  Python processes (the issue's anchor). A second anchor shows the floor for Python: a minimal request/response
  over a ``socketpair`` with msgspec on both sides (encode, length prefix, one ``recv_into``, decode; no checks).
  Anchors and subject are measured interleaved in the same run (three rounds, the median of each). Both placements
  are measured: both processes pinned to one core, and to two different cores (a cross-core round trip on a small
  VM costs several times a same-core one).
* throughput: 10,000 small calls back to back (same core).
* cold start: ``WorkerPool.start()`` (fork from the host's fork server, confine, verified import of the plugin,
  Ready) against ``python -I -S -c pass`` started and reaped in the same run; and the fork server's own start
  (``python -I`` importing what a worker needs), paid once per host.
* memory: RSS of one idle worker (its PID-namespace parent and the worker itself).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

import msgspec  # noqa: E402

from securehost import DependencyPolicy, HookspecMarker, Host, PrivateKey  # noqa: E402
from securehost._isolation.supervisor import WorkerPool  # noqa: E402
from securehost._isolation.zygote import Zygote  # noqa: E402
from securehost.testing import PluginSite, WheelFactory, trust_store_for  # noqa: E402

PAYLOAD = {"id": 7, "name": "small", "values": [1, 2, 3]}
ROUND_TRIPS = 2000
ROUNDS = 3
THROUGHPUT = 10_000
STARTS = 7
PLUGIN = """
import pluggy
hookimpl = pluggy.HookimplMarker("benchiso")

@hookimpl
def echo(value):
    return value
"""
ECHO_CHILD = r"""
import os, sys
r, w = int(sys.argv[1]), int(sys.argv[2])
if len(sys.argv) > 3:
    os.sched_setaffinity(0, {int(sys.argv[3])})
while True:
    head = os.read(r, 4)
    if not head:
        break
    size = int.from_bytes(head, "big")
    data = b""
    while len(data) < size:
        data += os.read(r, size - len(data))
    os.write(w, head + data)
"""

FLOOR_CHILD = r"""
import os, socket, sys
import msgspec
os.sched_setaffinity(0, {int(sys.argv[2])})
sock = socket.socket(fileno=int(sys.argv[1]))
decode, encode = msgspec.msgpack.Decoder().decode, msgspec.msgpack.Encoder().encode
buffer = bytearray(65536)
view = memoryview(buffer)
while True:
    got = sock.recv_into(buffer)
    if not got:
        break
    size = int.from_bytes(buffer[:4], "big")
    while got < size + 4:
        got += sock.recv_into(view[got:])
    call = decode(view[4 : 4 + size])
    reply = encode(["result", call[1], call[3]["value"]])
    sock.sendall(len(reply).to_bytes(4, "big") + reply)
"""

hookspec = HookspecMarker("benchiso")


class Spec:
    @hookspec
    def echo(self, value: object) -> object:
        """Return *value*."""


class _Fixed:
    """A fork-server registry that hands out one given server (to time a fresh one)."""

    def __init__(self, server: Zygote) -> None:
        self.server = server

    def get(self, *, as_nobody: bool) -> Zygote:
        return self.server


def _pipe_echo(cpu_host: int, cpu_child: int) -> float:
    data = msgspec.msgpack.encode(["call", 1, "benchiso-plugin:echo", {"value": PAYLOAD}])
    frame = len(data).to_bytes(4, "big") + data
    a_r, a_w = os.pipe()
    b_r, b_w = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-I", "-c", ECHO_CHILD, str(a_r), str(b_w), str(cpu_child)], pass_fds=(a_r, b_w)
    )
    os.close(a_r)
    os.close(b_w)
    os.sched_setaffinity(0, {cpu_host})
    samples = []
    for _ in range(ROUND_TRIPS):
        start = time.perf_counter_ns()
        os.write(a_w, frame)
        got = b""
        while len(got) < len(frame):
            got += os.read(b_r, len(frame) - len(got))
        samples.append(time.perf_counter_ns() - start)
    os.close(a_w)
    child.wait()
    os.close(b_r)
    return statistics.median(samples) / 1000


def _python_floor(cpu_host: int, cpu_child: int) -> float:
    """The same request/response in Python with msgspec and nothing else: what Python itself costs."""
    ours, theirs = socket.socketpair()
    child = subprocess.Popen(
        [sys.executable, "-I", "-c", FLOOR_CHILD, str(theirs.fileno()), str(cpu_child)], pass_fds=(theirs.fileno(),)
    )
    theirs.close()
    os.sched_setaffinity(0, {cpu_host})
    decode, encode = msgspec.msgpack.Decoder().decode, msgspec.msgpack.Encoder().encode
    buffer = bytearray(65536)
    view = memoryview(buffer)
    samples = []
    for request in range(ROUND_TRIPS + 50):
        start = time.perf_counter_ns()
        data = encode(["call", request, "benchiso-plugin:echo", {"value": PAYLOAD}])
        ours.sendall(len(data).to_bytes(4, "big") + data)
        got = ours.recv_into(buffer)
        size = int.from_bytes(buffer[:4], "big")
        while got < size + 4:
            got += ours.recv_into(view[got:])
        decode(view[4 : 4 + size])
        samples.append(time.perf_counter_ns() - start)
    ours.close()
    child.wait()
    return statistics.median(samples[50:]) / 1000


def _host(root: Path, cpu_worker: int) -> Host:
    key = PrivateKey.generate()
    site = PluginSite(root / "site")
    factory = WheelFactory(root / "wheels", key)
    site.install(
        factory.from_files(
            {"benchiso_plugin/__init__.py": PLUGIN},
            name="benchiso-plugin",
            version="1.0",
            entry_points={"benchiso.plugins": {"echo": "benchiso_plugin"}},
        )
    )
    os.sched_setaffinity(0, {cpu_worker})  # the worker inherits this
    host = Host(
        project="benchiso",
        group="benchiso.plugins",
        trust_store=trust_store_for(key),
        hookspecs=Spec,
        path=[str(site.path)],
        state_dir=root / "state",
        isolation="process",
        dependency_policy=DependencyPolicy(allowed_modules=["pluggy"], allowed_distributions=["pluggy"]),
    )
    report = host.load()
    assert report["benchiso-plugin"].status == "accepted", report["benchiso-plugin"].summary()
    return host


def _round_trip(host: Host, cpu_host: int) -> float:
    os.sched_setaffinity(0, {cpu_host})
    echo = host.hook.echo
    for _ in range(50):
        echo(value=PAYLOAD)
    samples = []
    for _ in range(ROUND_TRIPS):
        start = time.perf_counter_ns()
        echo(value=PAYLOAD)
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000


def _rss_kib(pid: int) -> int:
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for one in pids:
        for line in Path(f"/proc/{one}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def run() -> list[dict[str, object]]:
    cpus = sorted(os.sched_getaffinity(0))
    original = set(cpus)
    other = cpus[1] if len(cpus) > 1 else cpus[0]
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for placement, (cpu_host, cpu_worker) in {
            "same core": (cpus[0], cpus[0]),
            "cross core": (cpus[0], other),
        }.items():
            host = _host(Path(tmp) / placement.replace(" ", "-"), cpu_worker)
            try:
                pipes, floors, calls = [], [], []
                for _ in range(ROUNDS):  # interleaved: the anchors and the subject see the same machine
                    pipes.append(_pipe_echo(cpu_host, cpu_worker))
                    floors.append(_python_floor(cpu_host, cpu_worker))
                    calls.append(_round_trip(host, cpu_host))
                pipe, floor, call = (statistics.median(x) for x in (pipes, floors, calls))
                rows.append(
                    {
                        "benchmark": "isolation round trip",
                        "placement": placement,
                        "pipe_echo_us": round(pipe, 1),
                        "python_floor_us": round(floor, 1),
                        "hook_call_us": round(call, 1),
                        "ratio": round(call / pipe, 2),
                        "ratio_to_floor": round(call / floor, 2),
                        "target_ratio": 1.5,
                    }
                )
                if placement == "same core":
                    os.sched_setaffinity(0, {cpu_host})
                    start = time.perf_counter()
                    for _ in range(THROUGHPUT):
                        host.hook.echo(value=PAYLOAD)
                    elapsed = time.perf_counter() - start
                    (pid,) = host._pools["benchiso-plugin"].pids
                    rows.append(
                        {
                            "benchmark": "isolation throughput",
                            "calls": THROUGHPUT,
                            "seconds": round(elapsed, 3),
                            "calls_per_s": round(THROUGHPUT / elapsed),
                            "idle_worker_rss_mib": round(_rss_kib(pid) / 1024, 1),
                        }
                    )
                    pool = host._pools["benchiso-plugin"]
                    os.sched_setaffinity(0, original)
                    starts, bare = [], []
                    for _ in range(STARTS):
                        t = time.perf_counter()
                        subprocess.run([sys.executable, "-I", "-S", "-c", "pass"], check=True)
                        bare.append(time.perf_counter() - t)
                        clone = type(pool)(
                            name=pool.name,
                            payload=pool.payload,
                            limits=pool.limits,
                            audit=pool.audit,
                            zygotes=pool.zygotes,
                        )
                        t = time.perf_counter()
                        clone.start()
                        starts.append(time.perf_counter() - t)
                        clone.close()
                    servers = []
                    for _ in range(STARTS):
                        t = time.perf_counter()
                        server = Zygote(as_nobody=pool.run_as_nobody)
                        probe = WorkerPool(
                            name=pool.name,
                            payload=pool.payload,
                            limits=pool.limits,
                            audit=pool.audit,
                            zygotes=_Fixed(server),
                        )
                        probe.start()
                        servers.append(time.perf_counter() - t)
                        probe.close()
                        server.close()
                    rows.append(
                        {
                            "benchmark": "isolation cold start",
                            "fork_server_and_first_worker_ms": round(statistics.median(servers) * 1000, 1),
                            "python_I_S_pass_ms": round(statistics.median(bare) * 1000, 1),
                            "worker_start_ms": round(statistics.median(starts) * 1000, 1),
                            "ratio": round(statistics.median(starts) / statistics.median(bare), 2),
                            "target_ms": 100,
                        }
                    )
            finally:
                host.close()
                os.sched_setaffinity(0, original)
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
