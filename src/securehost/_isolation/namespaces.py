"""Kernel calls for the worker's self-confinement: namespaces, id maps, capabilities, ``prctl`` and the PID-1 fork.

Linux only, through :mod:`ctypes` over the C library already loaded in the process (no extra package). Used by
:mod:`securehost._isolation.confine`, which decides what to call and in which order; nothing here decides policy.

The namespace sequence is the one bubblewrap and nsjail use for an unprivileged process: one ``unshare`` with
``CLONE_NEWUSER`` and the other namespace flags (the kernel creates the user namespace first, which gives the caller
the capabilities it needs for the others), then ``setgroups`` = ``deny`` and one-line uid/gid maps of the caller's own
ids, then a fork so that the child becomes PID 1 of the new PID namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import resource
import select
import signal
import subprocess
import sys
from typing import Final, NoReturn

__all__ = [
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWPID",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "become_pid_one",
    "drop_capabilities",
    "no_new_privs",
    "probe_namespaces",
    "set_no_new_privs",
    "thread_count",
    "unshare",
    "write_id_maps",
]

CLONE_NEWUTS: Final = 0x04000000
CLONE_NEWIPC: Final = 0x08000000
CLONE_NEWUSER: Final = 0x10000000
CLONE_NEWPID: Final = 0x20000000
CLONE_NEWNET: Final = 0x40000000

_PR_SET_PDEATHSIG: Final = 1
_PR_CAPBSET_DROP: Final = 24
_PR_SET_NO_NEW_PRIVS: Final = 38
_PR_GET_NO_NEW_PRIVS: Final = 39
_PR_CAP_AMBIENT: Final = 47
_PR_CAP_AMBIENT_CLEAR_ALL: Final = 4
_LINUX_CAPABILITY_VERSION_3: Final = 0x20080522
# The parent's exit code when it cannot tell how the worker ended (EX_SOFTWARE).
_EXIT_UNKNOWN: Final = 70

# Run by probe_namespaces() in a fresh interpreter: tries what apply() will do, and prints one JSON line.
_PROBE_SCRIPT: Final = r"""
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
out = {"userns": False, "netns": False, "pidns": False, "reason": ""}
def fail(what):
    out["reason"] = what + ": " + os.strerror(ctypes.get_errno())
try:
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(0x10000000) != 0:
        fail("unshare(CLONE_NEWUSER)")
    else:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1\n"), ("gid_map", f"{gid} {gid} 1\n")):
            fd = os.open("/proc/self/" + name, os.O_WRONLY)
            os.write(fd, text.encode())
            os.close(fd)
        out["userns"] = True
        for key, flag in (("netns", 0x40000000), ("pidns", 0x20000000)):
            if libc.unshare(flag) == 0:
                out[key] = True
            else:
                fail(f"unshare({key})")
except OSError as exc:
    out["reason"] = f"{exc}"
print(json.dumps(out))
"""


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library already loaded in this process, with ``errno`` kept for :func:`ctypes.get_errno`."""
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    """Turn a C ``-1`` into :class:`OSError` with the call's name.

    Raises:
        OSError: *result* is ``-1``; ``errno`` is the C library's.
    """
    if result == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what} failed: {os.strerror(err)}")
    return result


def _prctl(option: int, arg2: int = 0) -> int:
    """Call ``prctl(option, arg2, 0, 0, 0)``.

    Raises:
        OSError: The kernel refused the call.
    """
    args = (ctypes.c_ulong(arg2), ctypes.c_ulong(0), ctypes.c_ulong(0), ctypes.c_ulong(0))
    return _check(_libc().prctl(ctypes.c_int(option), *args), f"prctl({option})")


def thread_count() -> int:
    """Count the threads of this process from ``/proc/self/task`` (native threads included)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:  # no /proc: the interpreter's own count is the best there is
        import threading  # noqa: PLC0415  (only on this rare path)

        return threading.active_count()


def unshare(flags: int) -> None:
    """Move this process into new namespaces (``os.unshare`` where Python has it, 3.12+; else the C library's).

    Raises:
        OSError: The kernel refused (``EPERM``: user namespaces disabled for this user; ``ENOSPC``: the namespace limit
            is reached; ``EINVAL``: the process has threads, or a flag is unknown).
    """
    native = getattr(os, "unshare", None)
    if native is not None:
        native(flags)
        return
    _check(_libc().unshare(ctypes.c_int(flags)), "unshare")


def _write_proc(name: str, text: str) -> None:
    """Write *text* to ``/proc/self/NAME`` in one ``write`` (the kernel parses id maps from a single write).

    Raises:
        OSError: The file could not be opened or the kernel rejected the text.
    """
    fd = os.open(f"/proc/self/{name}", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode("ascii"))
    finally:
        os.close(fd)


def write_id_maps(uid: int, gid: int) -> None:
    """Map *uid*/*gid* (the ids this process had before ``unshare``) to themselves in the new user namespace.

    ``setgroups`` must be denied before an unprivileged process may write ``gid_map``; it also stops the process from
    dropping a group to get around a ``---rwx`` style permission.

    Raises:
        OSError: A map was rejected.
    """
    with contextlib.suppress(FileNotFoundError):  # kernels before 3.19 have no setgroups file (and need none)
        _write_proc("setgroups", "deny")
    _write_proc("uid_map", f"{uid} {uid} 1\n")
    _write_proc("gid_map", f"{gid} {gid} 1\n")


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32))


def drop_capabilities() -> None:
    """Drop every capability: bounding set, ambient set, then effective/permitted/inheritable.

    After ``unshare(CLONE_NEWUSER)`` the process holds all capabilities *in its new user namespace*; they give no power
    over the host, but they would let it override permission bits on files owned by its mapped uid and configure its own
    namespaces. The worker needs none of them.

    Raises:
        OSError: ``capset`` failed.
    """
    try:
        with open("/proc/sys/kernel/cap_last_cap", encoding="ascii") as file:
            last_cap = int(file.read())
    except (OSError, ValueError):
        last_cap = 63
    for cap in range(last_cap + 1):
        with contextlib.suppress(OSError):  # EINVAL past the kernel's last capability; EPERM without CAP_SETPCAP
            _prctl(_PR_CAPBSET_DROP, cap)
    with contextlib.suppress(OSError):  # kernels before 4.3 have no ambient set
        _prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
    header = _CapHeader(version=_LINUX_CAPABILITY_VERSION_3, pid=0)
    data = (_CapData * 2)()
    _check(_libc().capset(ctypes.byref(header), ctypes.byref(data)), "capset")


def set_no_new_privs() -> None:
    """Set ``no_new_privs``: from now on ``execve`` grants no privilege (set-user-ID bits and file capabilities).

    Raises:
        OSError: The kernel refused, or the flag did not stick.
    """
    _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    if not no_new_privs():
        raise OSError(0, "prctl(PR_SET_NO_NEW_PRIVS) returned success but the flag is not set")


def no_new_privs() -> bool:
    """Whether ``no_new_privs`` is set on this thread.

    Raises:
        OSError: The kernel does not know ``PR_GET_NO_NEW_PRIVS`` (Linux before 3.5).
    """
    return _prctl(_PR_GET_NO_NEW_PRIVS) == 1


def become_pid_one() -> None:
    """Fork after ``unshare(CLONE_NEWPID)``: the child, PID 1 of the new namespace, returns; the parent never does.

    The parent closes its own copies of every descriptor above 2 (so the host sees the channel's end of file as soon
    as the worker dies), restores the default action of the usual termination signals (so the host's ``SIGTERM``
    kills it), waits for the child and ends the same way: the same exit code, or the same signal. The child asks for
    ``SIGKILL`` when the parent dies, so killing the process the host started kills the worker and, since the worker
    is PID 1 there, everything in its PID namespace. A pidfd opened before the fork closes the race in which the parent
    dies before the child's ``prctl``.

    Raises:
        OSError: ``fork`` or ``prctl`` failed (in the child: the worker must exit).
    """
    max_fd = os.sysconf("SC_OPEN_MAX")
    pidfd = os.pidfd_open(os.getpid()) if hasattr(os, "pidfd_open") else -1
    pid = os.fork()
    if pid:
        _wait_and_exit(pid, max_fd)
    try:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if pidfd >= 0 and select.select([pidfd], [], [], 0)[0]:  # the parent exited before prctl
            os._exit(_EXIT_UNKNOWN)
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def _wait_and_exit(pid: int, max_fd: int) -> NoReturn:
    """The parent's whole life after the fork: wait for *pid*, then end exactly as it ended."""
    try:
        for terminating in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGPIPE):
            signal.signal(terminating, signal.SIG_DFL)
        os.closerange(3, max_fd)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            signum = os.WTERMSIG(status)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # re-raising SIGXCPU/SIGSEGV must not dump core
            with contextlib.suppress(OSError, ValueError):
                signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            os._exit(128 + signum)
        os._exit(os.waitstatus_to_exitcode(status))
    finally:
        os._exit(_EXIT_UNKNOWN)


def probe_namespaces(*, user: int | None = None, group: int | None = None) -> dict[str, object]:
    """Try, in a throwaway interpreter, the ``unshare`` and id maps that :func:`unshare` and :func:`write_id_maps` do.

    Args:
        user: Run the attempt as this uid (the host is root and will start workers as this user), else as this process.
        group: The gid to go with *user*.

    Returns:
        ``{"userns": bool, "netns": bool, "pidns": bool, "reason": str}``; ``reason`` says why one failed.
    """
    unavailable: dict[str, object] = {"userns": False, "netns": False, "pidns": False}
    try:
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", _PROBE_SCRIPT],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            close_fds=True,
            env={},
            cwd="/",
            user=user,
            group=group,
            extra_groups=[] if user is not None else None,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return {**unavailable, "reason": f"could not start {sys.executable} to probe namespaces: {exc}"}
    import json  # noqa: PLC0415  (only the probe needs it)

    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        err = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {**unavailable, "reason": f"the namespace probe exited with {done.returncode}: {err[0]}"}
    return {key: found.get(key, value) for key, value in {**unavailable, "reason": ""}.items()}
