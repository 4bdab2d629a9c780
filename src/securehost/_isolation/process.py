"""One plugin worker as the host holds it: the process, its channel and request ids, its private directory.

:class:`~securehost._isolation.supervisor.WorkerPool` starts, calls and kills them; a worker is forked by the host's
fork server (:mod:`securehost._isolation.zygote`) and killed with its whole process group.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import socket
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from securehost._isolation.channel import Channel, RequestIds
from securehost.exceptions import IsolationError

if TYPE_CHECKING:
    from securehost._isolation.zygote import Zygotes

__all__ = ["NOBODY", "Placeholder", "WorkerProcess"]

NOBODY: Final = 65534


@final
class WorkerProcess:
    """One running worker: its process, its channel, its request ids, its private directory.

    Args:
        name: the plugin distribution's name (for the private directory's name).
        generation: the pool's number for this worker (callables it makes carry it).
        zygotes: the host's fork servers; one of them forks the worker.
        as_nobody: run the worker as ``nobody`` (the host is root).
        max_frame: the largest frame accepted from or sent to the worker.

    Raises:
        IsolationError: the fork server could not start the worker.
    """

    def __init__(self, *, name: str, generation: int, zygotes: Zygotes, as_nobody: bool, max_frame: int) -> None:
        self.generation = generation
        self.workdir = Path(tempfile.mkdtemp(prefix=f"securehost-worker-{name}-"))
        host_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        if as_nobody:  # the worker must not be root: nobody owns nothing but the private directory
            os.chown(self.workdir, NOBODY, NOBODY)
        try:
            self.pid = zygotes.get(as_nobody=as_nobody).fork_worker(worker_end, self.workdir)
        except IsolationError:
            host_end.close()
            shutil.rmtree(self.workdir, ignore_errors=True)
            raise
        finally:
            worker_end.close()
        # the worker is the zygote's child: a pidfd tells the host when it is gone
        self._pidfd: int | None = None
        with contextlib.suppress(OSError, AttributeError):
            self._pidfd = os.pidfd_open(self.pid)
        self.channel = Channel(host_end, max_frame=max_frame)
        self.ids = RequestIds()
        self.busy = False
        self.info: dict[str, Any] = {}
        self._kill_lock = threading.Lock()
        self._killed = False

    def kill(self) -> None:
        """Kill the worker's process group (its PID namespace goes with it), wait for it, remove its directory.

        Idempotent and safe from several threads (a failed call and ``close()`` may both kill the same worker).
        """
        with self._kill_lock:
            if self._killed:
                return
            self._killed = True
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            if self._pidfd is not None:
                poller = select.poll()
                poller.register(self._pidfd, select.POLLIN)
                poller.poll(5000)
                os.close(self._pidfd)
                self._pidfd = None
            self.channel.close()
            shutil.rmtree(self.workdir, ignore_errors=True)


class Placeholder:
    """Holds a worker slot while a worker is spawned outside the lock."""

    busy = True
    generation = -1
    pid = -1
