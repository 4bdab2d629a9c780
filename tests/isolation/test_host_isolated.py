"""Plugins run by a real Host in confined workers: same hook API, typed failures, hostile plugins contained.

Every plugin here is a real signed wheel installed into a site directory; the host runs it with
``isolation="process"``. Hostile actions run inside the worker and report what happened as plain data, so each test
asserts both the denial and its effect (a canary file that must never exist, a process that must be gone).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from securehost import DependencyPolicy, HookspecMarker, ProcessIsolation, ReasonCode, WorkerLimits
from securehost._isolation.proxy import RemoteCallable
from securehost.exceptions import (
    ConfigurationError,
    IsolationError,
    NotTransferableError,
    PermissionDeniedError,
    ProtocolViolationError,
    RemotePluginError,
    WorkerCrashedError,
    WorkerTimeoutError,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="confinement is Linux-only")

hookspec = HookspecMarker("isoapp")


class Spec:
    @hookspec
    def run(self, action: str, arg: object) -> object:
        """Do *action* with *arg*; return what happened."""

    @hookspec(firstresult=True)
    def first(self) -> object:
        """First result wins."""


HOSTILE = r"""
import ctypes, json, os, socket, subprocess, sys, threading, time
import pluggy

hookimpl = pluggy.HookimplMarker("isoapp")


def _try(function):
    try:
        return {"ok": True, "value": function()}
    except BaseException as exc:
        return {"ok": False, "error": type(exc).__name__, "errno": getattr(exc, "errno", None), "text": str(exc)[:200]}


def _write(path):
    with open(path, "w") as handle:
        handle.write("pwned")
    return "written"


def _os_open(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"pwned")
    os.close(fd)
    return "written"


def _thread_write(path):
    box = {}
    thread = threading.Thread(target=lambda: box.update(_try(lambda: _write(path))))
    thread.start()
    thread.join()
    if not box.get("ok"):
        raise PermissionError(box.get("errno") or 13, box.get("text"))
    return "written"


def _ctypes_write(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.open(path.encode(), os.O_WRONLY | os.O_CREAT, 0o644)
    if fd < 0:
        raise OSError(ctypes.get_errno(), "libc open failed")
    libc.write(fd, b"pwned", 5)
    libc.close(fd)
    return "written"


def _posixsubprocess(path):
    import _posixsubprocess
    args = [b"/bin/sh", b"-c", b"echo pwned > " + path.encode()]
    r, w = os.pipe()
    pid = _posixsubprocess.fork_exec(
        args, [args[0]], True, (w,), None, None, -1, -1, -1, -1, -1, -1, r, w, True, False, 0, None, None, None, -1,
        None, *(() if sys.version_info < (3, 12) else ())
    )
    os.waitpid(pid, 0)
    return "spawned"


def _tcp(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(b"hello")
    return "connected"


def _udp(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"hello", ("127.0.0.1", port))
    return "sent"


def _unix(path):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.connect(path)
    return "connected"


def _io_uring(_):
    libc = ctypes.CDLL(None, use_errno=True)
    params = ctypes.create_string_buffer(120)
    fd = libc.syscall(425, 8, params)  # io_uring_setup on x86_64 and aarch64
    if fd < 0:
        raise OSError(ctypes.get_errno(), "io_uring_setup failed")
    return "io_uring"


def _fork_bomb(_):
    count = 0
    for _ in range(10000):
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        count += 1
    return count


def _allocate(_):
    hog = []
    while True:
        hog.append(bytearray(64 << 20))


def _channel_fd():
    import stat
    for fd in range(3, 256):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                return fd
        except OSError:
            continue
    raise LookupError("no channel")


def _garbage(kind):
    fd = _channel_fd()
    if kind == "oversized":
        os.write(fd, (1 << 31).to_bytes(4, "big"))
    elif kind == "malformed":
        os.write(fd, (5).to_bytes(4, "big") + b"\xc1\xc1\xc1\xc1\xc1")
    elif kind == "pickle":
        import pickle
        data = pickle.dumps(os.system)
        os.write(fd, len(data).to_bytes(4, "big") + data)
    elif kind == "replayed":
        from securehost._isolation.codec import Result, encode_worker_frame
        data = encode_worker_frame(Result(0, "replayed"))
        os.write(fd, len(data).to_bytes(4, "big") + data)
    elif kind == "drip":
        os.write(fd, (100).to_bytes(4, "big"))
        for _ in range(100):
            os.write(fd, b"\x90")
            time.sleep(1)
    return "sent"


def _disable_guard(path):
    # everything an in-process check could be defeated by: the guard's module state and the audit hooks' view
    import securehost._guard.audithook as hook
    for name in dir(hook):
        if name.isupper() or name.startswith("_"):
            try:
                setattr(hook, name, None)
            except Exception:
                pass
    sys.modules.pop("securehost._guard.checks", None)
    return _ctypes_write(path)


ACTIONS = {
    "env": lambda name: os.environ.get(name),
    "environ": lambda _: sorted(os.environ),
    "write": _write,
    "os_open": _os_open,
    "thread_write": _thread_write,
    "ctypes_write": _ctypes_write,
    "posixsubprocess": _posixsubprocess,
    "subprocess": lambda path: subprocess.run(["/bin/sh", "-c", f"echo pwned > {path}"], check=False).returncode,
    "fork": lambda _: os.fork(),
    "fork_bomb": _fork_bomb,
    "tcp": _tcp,
    "udp": _udp,
    "unix": _unix,
    "io_uring": _io_uring,
    "read": lambda path: open(path).read(),
    "allocate": _allocate,
    "hang": lambda seconds: time.sleep(seconds),
    "exit": lambda code: os._exit(code),
    "garbage": _garbage,
    "disable_guard": _disable_guard,
    "pid": lambda _: os.getpid(),
    "flood": lambda mib: [os.write(fd, b"x" * (1 << 20)) for fd in (1, 2) for _ in range(mib)] and "flooded",
    "forge_audit": lambda other: __import__("securehost")._audit.AuditLog().emit("plugin.accepted", plugin=other).event,
    "fds": lambda _: [fd for fd in range(256) if _try(lambda: os.fstat(fd))["ok"]],
    "tool": lambda factor: (lambda x: x * factor),
    "raise": lambda text: (_ for _ in ()).throw(ValueError(text)),
    "object": lambda _: object(),
    "require": lambda permission: __import__("securehost").current_plugin().require(permission),
    "whoami": lambda _: (__import__("securehost").current_plugin().plugin, __import__("securehost").current_plugin().hook),
}


@hookimpl
def run(action, arg):
    if action.startswith("raw_"):
        return ACTIONS[action[4:]](arg)
    return _try(lambda: ACTIONS[action](arg))


@hookimpl
def first():
    return "isolated"
"""

FRIENDLY = """
import pluggy
hookimpl = pluggy.HookimplMarker("isoapp")

@hookimpl
def run(action, arg):
    return {"ok": True, "value": "friendly"}
"""

WRAPPER = """
import pluggy
hookimpl = pluggy.HookimplMarker("isoapp")

@hookimpl(wrapper=True)
def run(action, arg):
    return (yield)
"""


def _install(site, factory, name: str, source: str, permissions: list[str] | None = None) -> None:
    top = name.replace("-", "_")
    wheel = factory.from_files(
        {f"{top}/__init__.py": source},
        name=name,
        version="1.0",
        entry_points={"isoapp.plugins": {name: top}},
        permissions=permissions or [],
    )
    site.install(wheel)


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    directory = tmp_path.resolve() / "outside"
    directory.mkdir()
    os.chmod(directory, 0o777)
    return directory / "canary.txt"


@pytest.fixture
def make_host(securehost_site, securehost_wheel_factory, securehost_host_factory):
    def make(
        permissions: list[str] | None = None,
        *,
        limits: WorkerLimits | None = None,
        friendly: bool = True,
        read_paths: list[str] | None = None,
        **options: object,
    ):
        _install(securehost_site, securehost_wheel_factory, "hostile-plugin", HOSTILE, permissions)
        if friendly:
            _install(securehost_site, securehost_wheel_factory, "friendly-plugin", FRIENDLY)
        isolation = {
            "hostile-*": ProcessIsolation(limits=limits or WorkerLimits(call_timeout=10.0), read_paths=read_paths or [])
        }
        host = securehost_host_factory(
            project="isoapp",
            hookspecs=Spec,
            grants={"hostile-plugin": permissions or []},
            isolation=isolation,
            dependency_policy=DependencyPolicy(
                allowed_modules=["pluggy", "securehost"], allowed_distributions=["pluggy"]
            ),
            **options,
        )
        report = host.load()
        assert report["hostile-plugin"].status == "accepted", report["hostile-plugin"].summary()
        return host

    return make


def call(host, action: str, arg: object = None) -> dict:
    results = host.hook.run(action=action, arg=arg)
    hostile = [r for r in results if r.get("value") != "friendly"]
    assert len(hostile) == 1, results
    return hostile[0]


def assert_friendly_alive(host) -> None:
    assert {"ok": True, "value": "friendly"} in host.hook.run(action="pid", arg=None)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


# --- the same hook API ------------------------------------------------------------------------------------------


def test_an_isolated_plugin_answers_through_the_same_hook_api_in_another_process(make_host) -> None:
    host = make_host()
    result = call(host, "pid")
    assert result["ok"] and result["value"] == 1  # PID 1 of its own PID namespace
    assert host.hook.first() == "isolated"
    report = host.plugins["hostile-plugin"]
    assert report.isolation["mode"] == "process"
    protections = report.isolation["protections"]
    for key in ("userns", "netns", "pidns", "seccomp", "no_new_privs"):
        assert protections[key] is True, report.isolation
    assert protections["landlock"] >= 1
    assert protections["rlimits"]["as"] == WorkerLimits().memory_bytes
    assert host.plugins["friendly-plugin"].isolation == {"mode": "in-process"}
    assert "process (userns netns pidns landlock=" in report.summary()


def test_counters_and_current_plugin_work_across_the_boundary(make_host) -> None:
    host = make_host()
    assert call(host, "whoami")["value"] == ["hostile-plugin", "run"]
    call(host, "pid")
    assert host.manager.stats().get("hostile-plugin", "run").calls == 2


def test_a_returned_callable_runs_in_the_worker_as_the_plugin(make_host) -> None:
    host = make_host()
    tool = host.hook.run(action="raw_tool", arg=3)
    tool = next(t for t in tool if isinstance(t, RemoteCallable))
    assert tool(14) == 42
    assert host.manager.stats().get("hostile-plugin", "<callable>").calls == 1


def test_a_host_side_failure_while_a_reply_is_decoded_frees_the_pool(make_host) -> None:
    host = make_host()
    pool = host._pools["hostile-plugin"]

    def broken_factory(generation: int, handle: int) -> object:
        raise RuntimeError("the host's handle factory failed")

    with pytest.raises(RuntimeError, match="handle factory failed"):
        pool.call("hostile-plugin:run", {"action": "raw_tool", "arg": 3}, handle_factory=broken_factory)
    # the worker was killed rather than left busy: the next calls get an answer, not a wait for a free worker
    assert call(host, "pid")["ok"]
    assert call(host, "pid")["ok"]


def test_arguments_that_are_not_plain_data_are_refused_naming_the_argument(make_host) -> None:
    host = make_host(friendly=False)
    with pytest.raises(NotTransferableError, match="arg"):
        host.hook.run(action="pid", arg=object())
    assert call(host, "pid")["ok"]  # the worker was never involved


def test_a_result_that_is_not_plain_data_is_a_typed_error_and_the_worker_stays(make_host) -> None:
    host = make_host(friendly=False)
    pids = host._pools["hostile-plugin"].pids
    with pytest.raises(RemotePluginError, match="NotTransferableError"):
        host.hook.run(action="raw_object", arg=None)
    assert host._pools["hostile-plugin"].pids == pids


def test_a_plugin_exception_is_a_remote_error_with_its_type_and_traceback(make_host) -> None:
    host = make_host(friendly=False)
    with pytest.raises(RemotePluginError) as info:
        host.hook.run(action="raw_raise", arg="boom")
    assert info.value.remote_type.endswith("ValueError")
    assert "boom" in str(info.value) and "ValueError" in info.value.remote_traceback


def test_require_inside_the_worker_is_a_permission_denied_error_counted_on_the_host(make_host) -> None:
    host = make_host(friendly=False)
    with pytest.raises(PermissionDeniedError):
        host.hook.run(action="raw_require", arg="isoapp.admin")
    assert host.manager.stats().get("hostile-plugin", "run").denials == 1


# --- hostile plugins: denied by the kernel (guard off, so nothing in Python helps) ------------------------------


def test_the_host_environment_does_not_reach_the_worker(make_host, monkeypatch) -> None:
    monkeypatch.setenv("SECUREHOST_TEST_SECRET", "hunter2")
    host = make_host(guard=False)
    assert call(host, "env", "SECUREHOST_TEST_SECRET") == {"ok": True, "value": None}
    assert set(call(host, "environ")["value"]) <= {
        "PATH",
        "LANG",
        "LC_ALL",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONHASHSEED",
    }


@pytest.mark.parametrize("action", ["write", "os_open", "thread_write", "ctypes_write", "disable_guard"])
def test_writes_outside_the_grants_are_denied_by_the_kernel(make_host, canary: Path, action: str) -> None:
    host = make_host(guard=False)
    result = call(host, action, str(canary))
    assert not result["ok"], result
    assert result["errno"] in (1, 13), result  # EPERM / EACCES from Landlock
    assert not canary.exists()
    assert_friendly_alive(host)


def test_the_worker_inherits_no_descriptor_of_the_host_but_its_channel(make_host, tmp_path: Path) -> None:
    leaked = os.open(tmp_path / "host-file", os.O_WRONLY | os.O_CREAT)  # open in the host while the worker starts
    try:
        host = make_host(guard=False)
        fds = call(host, "fds")["value"]
    finally:
        os.close(leaked)
    assert len([fd for fd in fds if fd > 2]) == 1, fds  # the channel only


def test_a_granted_write_works_and_lands_in_the_granted_directory(make_host, canary: Path) -> None:
    host = make_host([f"fs.write:{canary.parent}/**"], guard=False)
    assert call(host, "write", str(canary)) == {"ok": True, "value": "written"}
    assert canary.read_text() == "pwned"


def test_reading_a_host_secret_outside_the_read_paths_is_denied(make_host, tmp_path: Path) -> None:
    secret = tmp_path.resolve() / "secret" / "token"
    secret.parent.mkdir()
    secret.write_text("hunter2")
    os.chmod(secret.parent, 0o777)
    os.chmod(secret, 0o644)
    host = make_host(guard=False)
    result = call(host, "read", str(secret))
    assert not result["ok"] and result["errno"] in (1, 13), result


def test_the_hosts_sys_path_beyond_site_directories_is_not_readable_unless_listed(
    make_host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path.resolve() / "project"  # a source tree on sys.path, holding a secret next to the code
    project.mkdir()
    (project / ".env").write_text("TOKEN=hunter2")
    for path in (project, project / ".env"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    monkeypatch.syspath_prepend(str(project))
    host = make_host(guard=False)
    result = call(host, "read", str(project / ".env"))
    assert not result["ok"] and result["errno"] in (1, 13), result


def test_read_paths_the_host_lists_are_readable_in_the_worker(
    make_host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path.resolve() / "project"
    project.mkdir()
    (project / ".env").write_text("TOKEN=hunter2")
    for path in (project, project / ".env"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    monkeypatch.syspath_prepend(str(project))
    host = make_host(guard=False, read_paths=[str(project)])
    assert call(host, "read", str(project / ".env")) == {"ok": True, "value": "TOKEN=hunter2"}


@pytest.mark.parametrize("action", ["subprocess", "posixsubprocess", "fork"])
def test_process_creation_without_proc_spawn_is_refused(make_host, canary: Path, action: str) -> None:
    host = make_host(guard=False)
    result = call(host, action, str(canary))
    assert not result["ok"], result
    assert not canary.exists()


def test_a_fork_bomb_is_refused_at_the_first_fork(make_host) -> None:
    host = make_host(guard=False)
    result = call(host, "fork_bomb")
    assert not result["ok"] and result["errno"] in (1, 11), result
    assert_friendly_alive(host)


@pytest.mark.parametrize("action", ["tcp", "udp", "unix", "io_uring"])
def test_sockets_and_io_uring_are_refused_without_net_grants(
    make_host, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    target: object = listener.getsockname()[1]
    unix_listener = None
    if action == "unix":
        unix_listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        path = tmp_path / "s.sock"
        monkeypatch.chdir(tmp_path)  # a relative name: a deep tmp_path would pass the 108-byte sun_path
        unix_listener.bind("s.sock")
        unix_listener.listen(1)
        target = str(path)
    try:
        host = make_host(guard=False)
        result = call(host, action, target)
        assert not result["ok"], result
        if action == "tcp":
            with pytest.raises(OSError):
                listener.accept()
    finally:
        listener.close()
        if unix_listener is not None:
            unix_listener.close()


# --- resource exhaustion and misbehaving workers: contained, typed, restarted --------------------------------------


def test_unbounded_allocation_fails_inside_the_worker(make_host) -> None:
    host = make_host(limits=WorkerLimits(memory_bytes=512 << 20, call_timeout=20.0))
    with pytest.raises((RemotePluginError, WorkerCrashedError)):
        host.hook.run(action="raw_allocate", arg=None)
    assert call(host, "pid")["ok"]  # the same worker or a fresh one answers
    assert_friendly_alive(host)


def test_a_hanging_plugin_times_out_its_process_tree_is_killed_and_the_next_call_restarts_it(make_host) -> None:
    host = make_host(limits=WorkerLimits(call_timeout=1.0))
    pool = host._pools["hostile-plugin"]
    (old,) = pool.pids
    start = time.monotonic()
    with pytest.raises(WorkerTimeoutError):
        host.hook.run(action="raw_hang", arg=60)
    assert time.monotonic() - start < 20  # the deadline, not the 60 s hang
    assert not pid_alive(old)
    assert call(host, "pid")["ok"]
    (new,) = pool.pids
    assert new != old and pool.restarts == 1
    assert_friendly_alive(host)


def test_a_crashing_worker_is_a_typed_error_and_is_restarted(make_host) -> None:
    host = make_host()
    with pytest.raises(WorkerCrashedError):
        host.hook.run(action="raw_exit", arg=7)
    assert call(host, "pid")["ok"]
    events = [json.loads(line)["event"] for line in host.audit.sink.read_text().splitlines()] if host.audit.sink else []
    assert not events or "isolation.worker_failed" in events


@pytest.mark.parametrize("kind", ["oversized", "malformed", "pickle", "replayed"])
def test_garbage_frames_from_the_worker_are_protocol_violations(make_host, kind: str) -> None:
    host = make_host()
    with pytest.raises((ProtocolViolationError, WorkerCrashedError)):
        host.hook.run(action="raw_garbage", arg=kind)
    assert call(host, "pid")["ok"]
    assert_friendly_alive(host)


def test_a_worker_that_drips_bytes_hits_the_call_deadline(make_host) -> None:
    host = make_host(limits=WorkerLimits(call_timeout=2.0))
    start = time.monotonic()
    with pytest.raises(WorkerTimeoutError):
        host.hook.run(action="raw_garbage", arg="drip")
    assert time.monotonic() - start < 20  # the deadline, not the 100 s drip


def test_close_leaves_no_worker_process_behind(make_host) -> None:
    host = make_host()
    pids = host._pools["hostile-plugin"].pids + host._zygotes.pids
    assert len(pids) == 2, pids  # one worker, one fork server
    assert all(pid_alive(pid) for pid in pids)
    pool = host._pools["hostile-plugin"]
    host.close()
    assert not any(pid_alive(pid) for pid in pids)
    assert host.hook.run(action="pid", arg=None) == []  # unregistered
    with pytest.raises(WorkerCrashedError, match="stopped"):
        pool.call("hostile-plugin:run", {"action": "pid", "arg": None}, handle_factory=lambda g, h: None)


def test_a_dead_fork_server_is_replaced_when_a_worker_must_restart(make_host) -> None:
    host = make_host(friendly=False)
    (zygote,) = host._zygotes.pids
    os.kill(zygote, 9)
    with pytest.raises(WorkerCrashedError):
        host.hook.run(action="raw_exit", arg=1)
    assert call(host, "pid")["ok"]
    (replacement,) = host._zygotes.pids
    assert replacement != zygote


def test_a_worker_flooding_stdout_and_stderr_is_unaffected(make_host) -> None:
    host = make_host(friendly=False)
    assert call(host, "flood", 16) == {"ok": True, "value": "flooded"}  # 32 MiB into /dev/null
    assert call(host, "pid")["ok"]


def test_a_worker_cannot_forge_audit_events_of_the_host(make_host, caplog: pytest.LogCaptureFixture) -> None:
    host = make_host(friendly=False)
    with caplog.at_level("INFO", logger="securehost.audit"):
        assert call(host, "forge_audit", "friendly-plugin")["ok"]
    events = [(r.securehost_event["event"], r.securehost_event["plugin"]) for r in caplog.records]
    assert ("isolation.audit_dropped", "hostile-plugin") in events
    assert ("plugin.accepted", "friendly-plugin") not in events


def test_other_threads_keep_calling_while_one_call_hangs(make_host) -> None:
    host = make_host(limits=WorkerLimits(call_timeout=2.0, workers=2))
    errors: list[BaseException] = []

    def hang() -> None:
        try:
            host.hook.run(action="raw_hang", arg=30)
        except WorkerTimeoutError as exc:
            errors.append(exc)

    thread = threading.Thread(target=hang)
    thread.start()
    time.sleep(0.3)
    assert call(host, "pid")["ok"]  # the second worker answers
    thread.join()
    assert len(errors) == 1


# --- what the host demands ----------------------------------------------------------------------------------------


def test_a_hook_wrapper_cannot_run_isolated(securehost_site, securehost_wheel_factory, securehost_host_factory) -> None:
    _install(securehost_site, securehost_wheel_factory, "wrapping-plugin", WRAPPER)
    host = securehost_host_factory(project="isoapp", hookspecs=Spec, isolation="process")
    report = host.load()["wrapping-plugin"]
    assert report.status == "rejected"
    assert [r.code for r in report.verdict.reasons] == [ReasonCode.ISOLATION_UNSUPPORTED]


def test_a_required_protection_that_cannot_be_had_rejects_the_plugin(
    securehost_site, securehost_wheel_factory, securehost_host_factory
) -> None:
    # net.connect keeps the host's network namespace, so a host that requires "netns" cannot have both
    _install(securehost_site, securehost_wheel_factory, "net-plugin", FRIENDLY, ["net.connect:127.0.0.1:80"])
    host = securehost_host_factory(
        project="isoapp",
        hookspecs=Spec,
        grants={"net-plugin": ["net.connect:127.0.0.1:80"]},
        isolation=ProcessIsolation(require={"netns", "landlock"}),
    )
    report = host.load()["net-plugin"]
    assert report.status == "rejected"
    assert [r.code for r in report.verdict.reasons] == [ReasonCode.ISOLATION_UNAVAILABLE]
    assert "netns" in str(report.verdict.reasons[0])


def test_isolation_options_are_validated() -> None:
    with pytest.raises(ConfigurationError, match="choose from"):
        ProcessIsolation(require={"selinux"})
    with pytest.raises(TypeError, match="memory_bytes"):
        WorkerLimits(memory_bytes=0)
    from securehost._isolation.policy import parse_isolation

    with pytest.raises(ConfigurationError, match="'in-process', 'process'"):
        parse_isolation("sandbox")
    with pytest.raises(TypeError, match="isolation must be"):
        parse_isolation(3)


def test_a_plugin_that_fails_to_import_in_its_worker_is_rejected_with_isolation_failed(
    securehost_site, securehost_wheel_factory, securehost_host_factory
) -> None:
    _install(securehost_site, securehost_wheel_factory, "broken-plugin", "raise RuntimeError('cannot start')\n")
    host = securehost_host_factory(project="isoapp", hookspecs=Spec, isolation="process")
    report = host.load()["broken-plugin"]
    assert report.status == "rejected"
    assert [r.code for r in report.verdict.reasons] == [ReasonCode.ISOLATION_FAILED]
    assert "cannot start" in str(report.verdict.reasons[0])
    assert host._pools == {}


def test_a_restarted_worker_imports_only_the_verified_bytes(make_host, securehost_site) -> None:
    """The worker hashes what it executes against the digests the host verified; a file changed since is refused."""
    host = make_host(friendly=False)
    module = next(Path(securehost_site.path).glob("hostile_plugin/__init__.py"))
    module.write_text(module.read_text() + "\nPLANTED = True\n")
    with pytest.raises(WorkerCrashedError):
        host.hook.run(action="raw_exit", arg=1)
    time.sleep(0.1)  # past the first restart backoff
    with pytest.raises(IsolationError, match="changed after verification|does not match|sha256|digest") as info:
        host.hook.run(action="pid", arg=None)
    assert "not executed" in str(info.value)


def test_killing_a_worker_from_two_threads_at_once_is_safe(make_host) -> None:
    host = make_host(friendly=False)
    pool = host._pools["hostile-plugin"]
    (worker,) = pool._workers
    errors: list[BaseException] = []

    def kill() -> None:
        try:
            worker.kill()
        except BaseException as exc:  # pragma: no cover - the failure this test is about
            errors.append(exc)

    threads = [threading.Thread(target=kill) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert not pid_alive(worker.pid)
