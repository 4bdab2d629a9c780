"""The worker's self-confinement, tested on real processes: each worker confines itself, tries one hostile thing and
prints what the kernel said; the test checks the refusal and that nothing it guarded was touched.

No kernel call is mocked. A protection the kernel lacks (``probe()`` says so) skips the tests that need it.

Users: as root (as here) the workers run as ``nobody`` (65534), as a root host starts them (``Popen(user=, group=)``),
because a user namespace that maps root to itself leaves the worker root-owned files to write by owner bits. When this
interpreter cannot be run by ``nobody`` (pyenv under ``/root``, mode 0700, as on this machine), the helper starts the
worker through a small root launcher that, in a private mount namespace, puts a 0755 tmpfs over the blocking
directory with only the interpreter's tree bound back, then drops to ``nobody`` and execs: the same paths, the same
interpreter, and the host's files untouched. As non-root the worker simply runs as the current user; the user
namespace maps that user to itself and everything else is the same. The environment is scrubbed by the host, not here.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import securehost
from securehost._isolation.confine import PROTECTIONS, ConfinementSpec, probe, unreachable_paths

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="confinement is Linux-only")

SRC = str(Path(securehost.__file__).resolve().parents[1])
NOBODY = 65534
AS_ROOT = os.geteuid() == 0
DENIED = {errno.EACCES, errno.EPERM}

# Runs as root, only when this interpreter is unreachable for nobody: see the module docstring.
LAUNCHER = r"""
import ctypes, json, os, sys, tempfile
libc = ctypes.CDLL(None, use_errno=True)
def call(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 0x1000, 0x2000, 0x4000, 0x40000
views, uid, gid, argv = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
call(libc.unshare(0x00020000), "unshare(CLONE_NEWNS)")
call(libc.mount(None, b"/", None, ctypes.c_ulong(MS_REC | MS_PRIVATE), None), "make / private")
for blocked, children in views.items():
    stashes = []
    for child in children:
        stash, source = tempfile.mkdtemp(), os.path.join(blocked, child)
        call(libc.mount(source.encode(), stash.encode(), None, ctypes.c_ulong(MS_BIND | MS_REC), None), "bind")
        stashes.append((child, stash))
    call(libc.mount(b"tmpfs", blocked.encode(), b"tmpfs", ctypes.c_ulong(0), b"mode=0755,size=64k"), "tmpfs")
    for child, stash in stashes:
        target = os.path.join(blocked, child)
        os.mkdir(target)
        call(libc.mount(stash.encode(), target.encode(), None, ctypes.c_ulong(MS_MOVE), None), "move")
        os.rmdir(stash)
os.setgroups([])
os.setgid(gid)
os.setuid(uid)
os.execv(argv[0], argv)
"""

# The worker: confine as the JSON in argv[1] says, run the test's body, print {"report", "result"} as the last line.
PRELUDE = """
import json, os, sys
sys.path.insert(0, {src!r})
from securehost._isolation.confine import ConfinementSpec, apply, runtime_read_paths
from securehost.exceptions import ConfinementUnavailableError
cfg = json.loads(sys.argv[1])
before = cfg.pop("before", "")
available = cfg.pop("available", None)
exec(before)
runtime = runtime_read_paths(network=cfg.get("allow_network", False))
spec = ConfinementSpec(read_paths=(*runtime, *cfg.pop("extra_read")), **cfg)
try:
    report = apply(spec, available=available)
except ConfinementUnavailableError as exc:
    print(json.dumps({{"error": str(exc)}}), flush=True)
    raise SystemExit(0)
result = {{}}
def attempt(key, fn, *args):
    try:
        value = fn(*args)
    except OSError as exc:
        result[key] = ["denied" if exc.errno in (1, 13) else "error", exc.errno, type(exc).__name__]
    else:
        result[key] = ["ok", value if isinstance(value, (int, str, bool, type(None))) else repr(value)]
"""
EPILOGUE = """
print(json.dumps({"report": report, "result": result}), flush=True)
"""


@dataclass(frozen=True)
class Workspace:
    """Directories a worker sees: ``work`` (its write path), ``outside`` (writable by its user, but not granted),
    ``granted`` (an ``fs.read`` grant) and ``secret`` (readable by its user, but not granted)."""

    root: Path
    uid: int
    gid: int

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def outside(self) -> Path:
        return self.root / "outside"

    @property
    def canary(self) -> Path:
        return self.outside / "canary"

    @property
    def granted(self) -> Path:
        return self.root / "granted"

    @property
    def secret(self) -> Path:
        return self.root / "secret" / "secret.txt"


@dataclass(frozen=True)
class Outcome:
    returncode: int
    data: dict[str, Any]
    stderr: str

    @property
    def result(self) -> dict[str, list[Any]]:
        return self.data["result"]

    @property
    def report(self) -> dict[str, Any]:
        return self.data["report"]


def _blocking_views(paths: list[str], uid: int, gid: int) -> dict[str, list[str]]:
    """For each path nobody cannot reach, the first ancestor that blocks it and the child to bind back under it."""
    views: dict[str, list[str]] = {}
    for path in paths:
        parts = Path(os.path.realpath(path)).parts
        for depth in range(1, len(parts)):
            ancestor = os.path.join(*parts[:depth])
            if unreachable_paths([os.path.join(ancestor, ".")], uid=uid, gid=gid):
                children = views.setdefault(ancestor, [])
                if parts[depth] not in children:
                    children.append(parts[depth])
                break
    return views


@pytest.fixture(scope="session")
def probed() -> dict[str, object]:
    return probe()


@pytest.fixture(scope="session")
def launch_prefix() -> list[str]:
    """The argv prefix that starts a worker as the host would: empty as non-root, the launcher as root if needed."""
    if not AS_ROOT:
        return []
    needed = [sys.executable, sys.prefix, sys.base_prefix, SRC, *[p for p in sys.path if os.path.isabs(p)]]
    views = _blocking_views([p for p in needed if os.path.exists(p)], NOBODY, NOBODY)
    if not views:
        return ["-as-nobody-"]
    return [sys.executable, "-I", "-c", LAUNCHER, json.dumps(views), str(NOBODY), str(NOBODY)]


@pytest.fixture
def ws() -> Any:
    root = Path(tempfile.mkdtemp(prefix="securehost-confine-"))
    uid, gid = (NOBODY, NOBODY) if AS_ROOT else (os.getuid(), os.getgid())
    try:
        root.chmod(0o755)
        for name in ("work", "outside", "granted", "secret"):
            (root / name).mkdir(mode=0o755)
        (root / "granted" / "data.txt").write_text("granted data")
        (root / "secret" / "secret.txt").write_text("host secret")
        for path in (root / "work", root / "outside"):
            os.chown(path, uid, gid) if AS_ROOT else path.chmod(0o777)
        yield Workspace(root=root, uid=uid, gid=gid)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_worker(
    launch_prefix: list[str],
    ws: Workspace,
    body: str,
    *,
    timeout: float = 20,
    pass_fds: tuple[int, ...] = (),
    wait: bool = True,
    **spec: Any,
) -> Any:
    """Start ``python -I -c PRELUDE+body`` as the worker user, in ``ws.work``; return its :class:`Outcome`.

    *spec* holds :class:`ConfinementSpec` fields, plus ``extra_read`` (added to ``runtime_read_paths()``), ``before``
    (code run before ``apply``) and ``available`` (passed to ``apply``). With ``wait=False`` the Popen is returned.
    """
    config = {"write_paths": [str(ws.work)], "extra_read": [str(ws.granted)], **spec}
    script = PRELUDE.format(src=SRC) + textwrap.dedent(body) + EPILOGUE
    argv = [sys.executable, "-I", "-c", script, json.dumps(config)]
    kwargs: dict[str, Any] = {}
    if launch_prefix == ["-as-nobody-"]:
        kwargs = {"user": NOBODY, "group": NOBODY, "extra_groups": []}
    else:
        argv = [*launch_prefix, *argv]
    proc = subprocess.Popen(
        argv,
        cwd=ws.work,
        env={"PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        close_fds=True,
        pass_fds=pass_fds,
        **kwargs,
    )
    if not wait:
        return proc
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        proc.kill()
        proc.wait()
    lines = stdout.strip().splitlines()
    data = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    return Outcome(returncode=proc.returncode, data=data, stderr=stderr)


def needs(probed: dict[str, object], *names: str) -> None:
    missing = [name for name in names if not probed[name]]
    if missing:
        pytest.skip(f"this kernel/process cannot provide {missing}: {probed['unavailable']}")


def assert_denied(outcome: Outcome, *keys: str) -> None:
    assert outcome.returncode == 0, outcome.stderr
    for key in keys:
        assert outcome.result[key][0] == "denied", (key, outcome.result[key], outcome.stderr)


# --- the spec and the probe (in this process: nothing is applied) ---------------------------------------------------


def test_probe_reports_every_protection(probed: dict[str, object]) -> None:
    assert set(PROTECTIONS) <= set(probed)
    assert isinstance(probed["landlock"], int)
    assert all(isinstance(probed[name], bool) for name in PROTECTIONS - {"landlock"})
    assert isinstance(probed["unavailable"], dict)
    assert set(probed["unavailable"]) <= PROTECTIONS


@pytest.mark.skipif(not AS_ROOT, reason="probing as another user needs root")
def test_probe_as_the_worker_user_says_when_it_cannot_run_the_interpreter() -> None:
    probed_as_nobody = probe(user=NOBODY, group=NOBODY)
    if unreachable_paths([sys.executable], uid=NOBODY, gid=NOBODY):
        assert not probed_as_nobody["userns"]
        assert "Permission denied" in probed_as_nobody["unavailable"]["userns"]
    else:
        assert isinstance(probed_as_nobody["userns"], bool)


def test_spec_round_trips_through_plain_data() -> None:
    spec = ConfinementSpec(
        read_paths=("/usr",),
        write_paths=["/tmp/w"],
        net_connect_ports=(443,),
        net_bind_ports=None,
        allow_network=True,
        allow_spawn=True,
        rlimits={"as": 1 << 30, "cpu": 5},
        require={"landlock", "seccomp"},
    )
    data = spec.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert ConfinementSpec.from_dict(data) == spec
    assert spec.rlimits["core"] == 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"read_paths": ("relative/path",)}, "not an absolute path"),
        ({"write_paths": "/tmp"}, "not one string"),
        ({"rlimits": {"stack": 1}}, "unknown limit"),
        ({"rlimits": {"as": -1}}, "non-negative"),
        ({"net_connect_ports": (0,)}, "not a TCP port"),
        ({"require": {"magic"}}, "unknown protections"),
        ({"require": {"netns"}, "allow_network": True}, "contradicts"),
    ],
)
def test_spec_rejects_bad_values(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises((ValueError, TypeError), match=match):
        ConfinementSpec(**kwargs)


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="unknown ConfinementSpec fields"):
        ConfinementSpec.from_dict({"read_paths": [], "allow_everything": True})


def test_unreachable_paths_reads_permission_bits(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "file").write_text("x")
    other = os.getuid() + 1
    assert unreachable_paths([str(private / "file")], uid=other, gid=other) == (str(private / "file"),)
    assert unreachable_paths([str(private / "file")], uid=os.getuid(), gid=os.getgid()) == ()


# --- a worker that confined itself ----------------------------------------------------------------------------------


def test_worker_keeps_working_with_everything_in_force(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, *PROTECTIONS)
    outcome = run_worker(
        launch_prefix,
        ws,
        """
        import asyncio, hashlib, json, ssl, threading
        box = []
        thread = threading.Thread(target=box.append, args=("thread ran",))
        thread.start()
        thread.join()
        result["thread"] = box
        result["sha"] = hashlib.sha256(b"x").hexdigest()
        result["asyncio"] = asyncio.run(asyncio.sleep(0, result="loop ran"))
        result["pid"] = os.getpid()
        result["ssl"] = ssl.OPENSSL_VERSION[:7]
        """,
        require=sorted(PROTECTIONS),
        rlimits={"as": 1 << 30, "nofile": 256},
    )
    assert outcome.returncode == 0, outcome.stderr
    report, result = outcome.report, outcome.result
    assert report["uid"] == ws.uid
    assert all(report[name] for name in PROTECTIONS), report
    assert report["landlock"] == probed["landlock"]
    assert report["rlimits"] == {"as": 1 << 30, "core": 0, "nofile": 256}
    assert report["unavailable"] == {}
    assert result["thread"] == ["thread ran"]
    assert result["sha"] == "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    assert result["asyncio"] == "loop ran"
    assert result["pid"] == 1
    assert result["ssl"] == "OpenSSL"


def test_granted_paths_work(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "landlock")
    outcome = run_worker(
        launch_prefix,
        ws,
        f"""
        def write():
            with open("{ws.work}/made.txt", "w") as file:
                file.write("made")
            os.mkdir("{ws.work}/sub")
            os.rename("{ws.work}/made.txt", "{ws.work}/sub/moved.txt")
        attempt("write", write)
        attempt("read", lambda: open("{ws.granted}/data.txt").read())
        attempt("list", lambda: sorted(os.listdir("{ws.granted}")) == ["data.txt"])
        """,
        require=["landlock"],
    )
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.result == {"write": ["ok", None], "read": ["ok", "granted data"], "list": ["ok", True]}
    assert (ws.work / "sub" / "moved.txt").read_text() == "made"


@pytest.mark.parametrize(
    "how",
    [
        'open(CANARY, "w").write("pwned")',
        "os.write(os.open(CANARY, os.O_WRONLY | os.O_CREAT, 0o644), b'pwned')",
        "os.symlink('/etc/passwd', CANARY)",
        "os.rename(WORK + '/x', CANARY) if open(WORK + '/x', 'w').close() is None else None",
        """box = []
def write():
    try:
        open(CANARY, "w").write("pwned")
    except OSError as exc:
        box.append(exc)
thread = threading.Thread(target=write)
thread.start()
thread.join()
if box:
    raise box[0]""",
        """libc = ctypes.CDLL(None, use_errno=True)
if libc.open(CANARY.encode(), os.O_WRONLY | os.O_CREAT, 0o644) < 0:
    raise OSError(ctypes.get_errno(), "libc.open")""",
    ],
    ids=["open", "os.open", "symlink", "rename", "thread", "ctypes-libc-open"],
)
def test_writing_outside_write_paths_is_denied(launch_prefix: list[str], ws: Workspace, probed: Any, how: str) -> None:
    needs(probed, "landlock")
    body = f"import ctypes, threading\nCANARY, WORK = {str(ws.canary)!r}, {str(ws.work)!r}\ndef hostile():\n"
    body += textwrap.indent(how, "    ") + "\nattempt('hostile', hostile)\n"
    outcome = run_worker(launch_prefix, ws, body, require=["landlock"])
    assert_denied(outcome, "hostile")
    assert not os.path.lexists(ws.canary)


def test_control_without_landlock_the_same_write_succeeds(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    """The refusals above are Landlock's: the worker's user may write ``outside`` by permission bits."""
    outcome = run_worker(
        launch_prefix,
        ws,
        f"attempt('write', lambda: open({str(ws.canary)!r}, 'w').write('control'))",
        available={**probed, "landlock": 0},
    )
    assert outcome.result["write"] == ["ok", 7], outcome.stderr
    assert ws.canary.read_text() == "control"


def test_reading_a_host_secret_is_denied(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "landlock")
    outcome = run_worker(
        launch_prefix,
        ws,
        f"""
        attempt("read", lambda: open("{ws.secret}").read())
        attempt("list", os.listdir, "{ws.secret.parent}")
        attempt("etc", lambda: open("/etc/hostname").read())
        """,
        require=["landlock"],
    )
    assert_denied(outcome, "read", "list", "etc")


def test_spawning_is_denied_without_proc_spawn(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "seccomp")
    outcome = run_worker(
        launch_prefix,
        ws,
        """
        import ctypes, subprocess
        libc = ctypes.CDLL(None, use_errno=True)
        def unshare():
            if libc.unshare(0x10000000) != 0:
                raise OSError(ctypes.get_errno(), "unshare")
        attempt("fork", os.fork)
        attempt("subprocess", lambda: subprocess.run([sys.executable, "-c", "pass"]).returncode)
        attempt("posix_spawn", os.posix_spawn, sys.executable, [sys.executable, "-c", "pass"], {})
        attempt("execv", os.execv, sys.executable, [sys.executable, "-c", "pass"])
        attempt("unshare", unshare)
        """,
        require=["seccomp"],
    )
    assert_denied(outcome, "fork", "subprocess", "posix_spawn", "execv", "unshare")


def test_spawning_works_with_proc_spawn_and_stays_confined(
    launch_prefix: list[str], ws: Workspace, probed: Any
) -> None:
    needs(probed, "seccomp", "landlock")
    child = f"open({str(ws.canary)!r}, 'w')"
    outcome = run_worker(
        launch_prefix,
        ws,
        f"""
        import subprocess
        done = subprocess.run([sys.executable, "-I", "-S", "-c", {child!r}], capture_output=True, text=True)
        result["returncode"] = done.returncode
        result["stderr"] = done.stderr.strip().splitlines()[-1]
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        def clone_newuser():  # raw clone(CLONE_NEWUSER | SIGCHLD): spawning is allowed, new namespaces are not
            if (pid := libc.syscall(56, 0x10000000 | 17, 0, 0, 0, 0)) == 0:
                os._exit(0)
            if pid < 0:
                raise OSError(ctypes.get_errno(), "clone")
        attempt("clone_newuser", clone_newuser)
        """,
        allow_spawn=True,
        require=["seccomp", "landlock"],
    )
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.result["returncode"] == 1, outcome.result
    assert outcome.result["stderr"].startswith("PermissionError")
    assert_denied(outcome, "clone_newuser")
    assert not os.path.lexists(ws.canary)


def test_fork_bomb_is_bounded_by_nproc(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "userns", "rlimits")
    outcome = run_worker(
        launch_prefix,
        ws,
        """
        import time
        forked = 0
        def bomb():
            global forked
            for _ in range(500):
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                forked += 1
        attempt("bomb", bomb)
        result["forked"] = forked
        """,
        allow_spawn=True,
        rlimits={"nproc": 16},
    )
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.result["bomb"][:2] == ["error", errno.EAGAIN]
    assert outcome.result["forked"] < 16


def test_sockets_are_denied_without_network(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "seccomp", "netns")
    short = Path(tempfile.mkdtemp(prefix="sh-", dir="/tmp"))  # a deep ws path would pass the 108-byte sun_path
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(short / "host.sock"))
        server.listen()
        outcome = run_worker(
            launch_prefix,
            ws,
            f"""
            import socket
            attempt("tcp", socket.socket, socket.AF_INET, socket.SOCK_STREAM)
            attempt("udp", socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
            attempt("tcp6", socket.socket, socket.AF_INET6, socket.SOCK_STREAM)
            attempt("unix", lambda: socket.socket(socket.AF_UNIX).connect("{short}/host.sock"))
            attempt("netlink", socket.socket, socket.AF_NETLINK, socket.SOCK_RAW)
            attempt("packet", socket.socket, socket.AF_PACKET, socket.SOCK_RAW)
            attempt("socketpair", lambda: len(socket.socketpair()))
            """,
            require=["seccomp", "netns"],
        )
    finally:
        server.close()
        shutil.rmtree(short, ignore_errors=True)
    assert_denied(outcome, "tcp", "udp", "tcp6", "unix", "netlink", "packet")
    assert outcome.result["socketpair"] == ["ok", 2]


def test_network_namespace_has_only_loopback(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "netns", "landlock")
    body = """
        with open("/proc/self/net/dev") as file:
            result["interfaces"] = sorted(line.split(":")[0].strip() for line in file.readlines()[2:])
        """
    isolated = run_worker(launch_prefix, ws, body, extra_read=["/proc/self/net"], require=["netns"])
    assert isolated.returncode == 0, isolated.stderr
    assert isolated.result["interfaces"] == ["lo"]
    shared = run_worker(launch_prefix, ws, body, extra_read=["/proc/self/net"], allow_network=True)
    assert shared.returncode == 0, shared.stderr
    assert not shared.report["netns"]
    with open("/proc/self/net/dev") as file:
        assert len(file.readlines()[2:]) == len(shared.result["interfaces"])


def test_landlock_filters_tcp_ports(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "landlock", "seccomp")
    if probed["landlock"] < 4:
        pytest.skip("Landlock ABI < 4 cannot filter TCP ports")
    allowed, refused = socket.create_server(("127.0.0.1", 0)), socket.create_server(("127.0.0.1", 0))
    ports = allowed.getsockname()[1], refused.getsockname()[1]
    try:
        outcome = run_worker(
            launch_prefix,
            ws,
            f"""
            import socket
            attempt("allowed", lambda: socket.create_connection(("127.0.0.1", {ports[0]}), timeout=5).close())
            attempt("refused", lambda: socket.create_connection(("127.0.0.1", {ports[1]}), timeout=5).close())
            attempt("bind", lambda: socket.socket().bind(("127.0.0.1", 0)))
            attempt("unix", socket.socket, socket.AF_UNIX)
            attempt("resolve", lambda: socket.getaddrinfo("localhost", 80, socket.AF_INET)[0][4][0])
            """,
            allow_network=True,
            net_connect_ports=[ports[0]],
            require=["landlock", "seccomp"],
        )
    finally:
        allowed.close()
        refused.close()
    assert outcome.result["allowed"] == ["ok", None], outcome.stderr
    assert outcome.result["resolve"] == ["ok", "127.0.0.1"]
    assert_denied(outcome, "refused", "bind", "unix")
    assert outcome.report["landlock_net"] is True


def test_kernel_attack_surface_is_refused(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "seccomp")
    outcome = run_worker(
        launch_prefix,
        ws,
        """
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        def call(*args):
            if libc.syscall(*args) < 0:
                raise OSError(ctypes.get_errno(), "syscall")
        libc.personality.argtypes = [ctypes.c_ulong]  # as C passes 0xffffffff: zero-extended
        params = ctypes.create_string_buffer(120)
        attempt("io_uring_setup", call, 425, 8, params)
        attempt("ptrace_traceme", call, 101, 0, 0, 0, 0)
        attempt("ptrace_attach", call, 101, 16, 1, 0, 0)
        attempt("bpf", call, 321, 0, 0, 0)
        attempt("keyctl", call, 250, 0, 0, 0, 0)
        attempt("personality", call, 135, 0x0040000)
        attempt("personality_query", lambda: libc.personality(0xFFFFFFFF) >= 0)
        attempt("mount", call, 165, b"none", b"/tmp", b"tmpfs", 0, 0)
        """,
        require=["seccomp"],
    )
    assert_denied(outcome, "io_uring_setup", "ptrace_traceme", "ptrace_attach", "bpf", "keyctl", "personality", "mount")
    assert outcome.result["personality_query"] == ["ok", True]


def test_memory_is_bounded(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "rlimits")
    outcome = run_worker(
        launch_prefix,
        ws,
        """
        chunks = []
        try:
            while True:
                chunks.append(bytearray(64 << 20))
        except MemoryError:
            result["allocated_mib"] = 64 * len(chunks)
        chunks.clear()
        result["survived"] = len(bytearray(1 << 20))
        """,
        rlimits={"as": 512 << 20},
    )
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.result["allocated_mib"] < 512
    assert outcome.result["survived"] == 1 << 20


def test_cpu_loop_is_killed(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "rlimits")
    started = time.monotonic()
    outcome = run_worker(launch_prefix, ws, "while True:\n    pass\n", rlimits={"cpu": 1}, timeout=15)
    assert outcome.returncode == -signal.SIGKILL, outcome.stderr  # soft = hard: SIGKILL at the limit
    assert time.monotonic() - started < 10


def test_exit_status_passes_through_the_pid_namespace(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "pidns")
    outcome = run_worker(launch_prefix, ws, "sys.stdout.flush()\nos._exit(7)\n")
    assert outcome.returncode == 7, outcome.stderr


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_killing_the_started_process_kills_the_worker(
    launch_prefix: list[str], ws: Workspace, probed: Any, signum: int
) -> None:
    needs(probed, "pidns")
    host_end, worker_end = socket.socketpair()
    with host_end:
        proc = run_worker(
            launch_prefix,
            ws,
            f"""
            import socket, time
            channel = socket.socket(fileno={worker_end.fileno()})
            channel.sendall(json.dumps({{"pid": os.getpid()}}).encode() + b"\\n")
            time.sleep(60)
            """,
            pass_fds=(worker_end.fileno(),),
            wait=False,
        )
        worker_end.close()
        try:
            host_end.settimeout(15)
            hello = host_end.makefile("rb").readline()
            assert json.loads(hello) == {"pid": 1}, hello or proc.stderr.read()
            proc.send_signal(signum)
            assert proc.wait(timeout=5) == -signum
            assert host_end.recv(1) == b""  # the worker died, so its end of the channel closed
        finally:
            proc.kill()
            proc.communicate()


def test_required_protection_reported_unavailable_raises(launch_prefix: list[str], ws: Workspace) -> None:
    available = {**dict.fromkeys(PROTECTIONS, True), "landlock": 0, "unavailable": {"landlock": "no LSM"}}
    outcome = run_worker(
        launch_prefix, ws, "result['confined'] = True", available=available, require=["landlock", "rlimits"]
    )
    assert outcome.returncode == 0, outcome.stderr
    assert "cannot apply the required protection 'landlock'" in outcome.data["error"]
    assert "no LSM" in outcome.data["error"]
    assert "To fix:" in outcome.data["error"]


def test_unavailable_protection_not_required_is_reported(launch_prefix: list[str], ws: Workspace, probed: Any) -> None:
    needs(probed, "landlock")
    outcome = run_worker(
        launch_prefix,
        ws,
        f"attempt('write', lambda: open({str(ws.canary)!r}, 'w').close())",
        before="sys.modules['pyseccomp'] = None",  # as if the extra were not installed
        available={**probed, "userns": False},
    )
    assert outcome.returncode == 0, outcome.stderr
    report = outcome.report
    assert (report["seccomp"], report["userns"], report["netns"], report["pidns"]) == (False, False, False, False)
    assert "pip install 'securehost[isolation]'" in report["unavailable"]["seccomp"]
    assert report["landlock"] == probed["landlock"]
    assert_denied(outcome, "write")


def test_missing_binding_for_required_seccomp_says_how_to_fix(launch_prefix: list[str], ws: Workspace) -> None:
    outcome = run_worker(launch_prefix, ws, "", before="sys.modules['pyseccomp'] = None", require=["seccomp"])
    assert outcome.returncode == 0, outcome.stderr
    assert "'seccomp'" in outcome.data["error"]
    assert "pip install 'securehost[isolation]'" in outcome.data["error"]


def test_apply_refuses_a_process_with_threads(launch_prefix: list[str], ws: Workspace) -> None:
    outcome = run_worker(
        launch_prefix,
        ws,
        "",
        before="import threading, time\nthreading.Thread(target=time.sleep, args=(30,), daemon=True).start()",
    )
    assert outcome.returncode == 0, outcome.stderr
    assert "found 2 threads" in outcome.data["error"]
