"""A fork server for plugin workers: one unconfined, pre-imported process per host that forks each new worker.

Starting ``python -I`` and importing what a worker needs costs about 100 ms; a fork of a process that already did so
costs about 1 ms. The host starts the zygote once (scrubbed environment, only its control socket, its own session,
``nobody`` where possible, exactly like a worker) and asks it for each worker: it sends the worker's channel end as
``SCM_RIGHTS`` with the worker's private directory, the zygote forks, and the child becomes a worker: a session of
its own, its directory as working directory, then :func:`securehost._isolation.worker.main`, which confines itself
before it reads a byte of the plugin. The zygote runs no plugin code, holds no secret and answers only the host.
It exits when the host closes the control socket (or dies); its children are reaped by the kernel.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

from securehost.exceptions import IsolationError

if TYPE_CHECKING:
    import socket

__all__ = ["BOOT", "Zygote", "Zygotes", "environment", "main", "serve"]

#: What the host runs with ``python -I -c``: argv[1] is the directory holding securehost, argv[2] the control fd.
BOOT: Final = "import sys; sys.path.insert(0, sys.argv[1]); from securehost._isolation import zygote; zygote.main()"
_SECUREHOST_PARENT: Final = str(Path(__file__).resolve().parents[2])
_NOBODY: Final = 65534
_MAX_REQUEST: Final = 4096


def environment() -> dict[str, str]:
    """The whole environment of a zygote (and so of every worker): nothing of the host's but the locale and PATH."""
    keep = {k: os.environ[k] for k in ("PATH", "LANG", "LC_ALL") if k in os.environ}
    return {**keep, "PYTHONDONTWRITEBYTECODE": "1"}


@final
class Zygote:
    """The host's handle on its fork server.

    Args:
        as_nobody: run the zygote (and so every worker) as uid/gid 65534 (the host is root and ``nobody`` can read
            the interpreter and the plugins).

    Raises:
        IsolationError: the zygote could not be started.
    """

    def __init__(self, *, as_nobody: bool) -> None:
        self.as_nobody = as_nobody
        import socket  # noqa: PLC0415 - only a host that isolates a plugin starts a zygote
        import subprocess  # noqa: PLC0415

        host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._proc = subprocess.Popen(  # our own interpreter and boot code
                [sys.executable, "-I", "-c", BOOT, _SECUREHOST_PARENT, str(zygote_end.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(zygote_end.fileno(),),
                close_fds=True,
                cwd="/",
                env=environment(),
                start_new_session=True,
                user=_NOBODY if as_nobody else None,
                group=_NOBODY if as_nobody else None,
                extra_groups=[] if as_nobody else None,
            )
        except OSError as exc:
            host_end.close()
            raise IsolationError(f"cannot start the worker fork server: {exc}") from exc
        finally:
            zygote_end.close()
        self._control = host_end
        self._control.settimeout(30.0)

    @property
    def pid(self) -> int:
        """The zygote's process id."""
        return self._proc.pid

    def alive(self) -> bool:
        """Whether the zygote is still running."""
        return self._proc.poll() is None

    def fork_worker(self, channel_end: socket.socket, workdir: Path) -> int:
        """Have the zygote fork a worker on *channel_end* in *workdir*; return the worker's process id.

        Raises:
            IsolationError: the zygote is gone or did not answer.
        """
        import socket  # noqa: PLC0415 - see __init__

        request = os.fsencode(workdir)
        if len(request) > _MAX_REQUEST:
            raise IsolationError(f"worker directory path too long: {workdir}")
        try:
            socket.send_fds(self._control, [request], [channel_end.fileno()])
            reply = self._control.recv(8)
        except OSError as exc:
            raise IsolationError(f"the worker fork server did not answer: {exc}") from exc
        if len(reply) != 8:
            raise IsolationError("the worker fork server exited")
        return int.from_bytes(reply, "big")

    def close(self) -> None:
        """Stop the zygote (workers it forked are not affected: they are the pools' to stop)."""
        import signal  # noqa: PLC0415 - see __init__
        import subprocess  # noqa: PLC0415

        self._control.close()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=5)


@final
class Zygotes:
    """The fork servers of one host: at most one per user the workers run as, restarted when one has died."""

    def __init__(self) -> None:
        self._by_user: dict[bool, Zygote] = {}

    def get(self, *, as_nobody: bool) -> Zygote:
        """Return the running zygote for workers as ``nobody`` (or not), starting it if needed.

        Raises:
            IsolationError: it could not be started.
        """
        zygote = self._by_user.get(as_nobody)
        if zygote is None or not zygote.alive():
            if zygote is not None:
                zygote.close()
            zygote = self._by_user[as_nobody] = Zygote(as_nobody=as_nobody)
        return zygote

    @property
    def pids(self) -> tuple[int, ...]:
        """The process ids of the running zygotes."""
        return tuple(z.pid for z in self._by_user.values() if z.alive())

    def close(self) -> None:
        """Stop every zygote."""
        for zygote in self._by_user.values():
            zygote.close()
        self._by_user.clear()


def main() -> None:
    """The zygote process's entry point (``BOOT``): serve the control socket whose fd is ``sys.argv[2]``."""
    serve(int(sys.argv[2]))


def serve(control_fd: int) -> None:
    """The zygote's main: fork one worker per request until the host closes the control socket."""
    import signal  # noqa: PLC0415 - not on the host's import path
    import socket  # noqa: PLC0415

    from securehost._isolation import worker  # noqa: PLC0415 - everything a worker imports, imported once here

    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers: the host, not we, watches them
    while True:
        try:
            request, fds, _, _ = socket.recv_fds(control, _MAX_REQUEST, 1)
        except OSError:
            os._exit(0)
        if not request or len(fds) != 1:
            os._exit(0)
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            try:
                os.setsid()
                os.chdir(os.fsdecode(request))
                worker.main(fds[0])
            finally:
                os._exit(5)
        os.close(fds[0])
        control.sendall(pid.to_bytes(8, "big"))
