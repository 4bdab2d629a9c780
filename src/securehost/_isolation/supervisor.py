"""The host side of a plugin's workers: spawn, hand over, call with deadlines, kill, restart with backoff.

A :class:`WorkerPool` owns the workers of one plugin distribution. A worker is forked by the host's fork server
(:mod:`securehost._isolation.zygote`, a ``python -I`` with a scrubbed environment: ``PATH``, ``LANG`` and ``LC_ALL``
only), with every file descriptor closed but its end of a ``socketpair``, its own session (process group), a private
working directory, and, when the host runs as root, the ``nobody`` user. The pool sends
:class:`~securehost._isolation.codec.Init` and waits for
:class:`~securehost._isolation.codec.Ready` within ``start_timeout``.

Calls go to an idle worker, one at a time per worker, each under ``call_timeout``. Any failure of the worker itself
(it died, it missed the deadline, it sent a malformed, oversized, replayed or unexpected frame) kills the worker's
whole process group (its PID namespace dies with its PID 1), counts a failure, and the next call starts a fresh worker
after a backoff (50 ms doubling to 5 s while failures follow each other). An exception the *plugin* raised is not a
worker failure: the worker stays. The host owns the workers' lifetime: :meth:`WorkerPool.close` kills what is left.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Final, final

from securehost._context import CURRENT
from securehost._isolation.codec import (
    PROTOCOL_VERSION,
    Audit,
    Call,
    Failure,
    Init,
    InvokeHandle,
    Ready,
    ReleaseHandle,
    Result,
    Shutdown,
    WorkerFrame,
    decode_worker_frame,
    encode_host_frame,
)
from securehost._isolation.confine import unreachable_paths
from securehost._isolation.process import NOBODY, Placeholder, WorkerProcess
from securehost._isolation.zygote import Zygotes
from securehost.exceptions import (
    ConfinementUnavailableError,
    IsolationError,
    NotTransferableError,
    ProtocolViolationError,
    RemotePluginError,
    WorkerCrashedError,
    WorkerTimeoutError,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from securehost._audit import AuditLog
    from securehost._isolation.policy import WorkerLimits

__all__ = ["WorkerPool"]

_monotonic: Final = time.monotonic
_set_plugin: Final = CURRENT.set
_reset_plugin: Final = CURRENT.reset
_BACKOFF_FIRST: Final = 0.05
_BACKOFF_MAX: Final = 5.0
_MAX_AUDIT_PER_CALL: Final = 4096
#: Audit events a worker may report; anything else it sends is dropped and itself audited.
_WORKER_EVENTS: Final = frozenset(
    {"guard.denied", "hook.denied", "import.dependency_denied", "import.dependency_reported", "bytecode.tampered"}
)


@final
class WorkerPool:
    """The workers of one isolated plugin distribution.

    Args:
        name: the canonical distribution name (for messages and audit events).
        payload: the Init payload (plain data) every worker of the pool gets.
        limits: the pool's limits (worker count, deadlines).
        audit: where worker events and the worker's own audit events go.
        zygotes: the host's fork servers, which start the workers.
        max_frame: the largest frame accepted from or sent to a worker.
    """

    def __init__(
        self,
        *,
        name: str,
        payload: Mapping[str, Any],
        limits: WorkerLimits,
        audit: AuditLog,
        zygotes: Zygotes,
        max_frame: int = 16 * 1024 * 1024,
    ) -> None:
        self.name = name
        self.payload = dict(payload)
        self.limits = limits
        self.audit = audit
        self.zygotes = zygotes
        self.max_frame = max_frame
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._waiting = 0  # threads waiting on _cond for a worker
        self._workers: list[WorkerProcess] = []
        self._generation = 0
        self._failures = 0
        self._not_before = 0.0
        self._closed = False
        self.restarts = 0
        self.ready_info: dict[str, Any] = {}
        #: a root host runs workers as ``nobody`` when ``nobody`` can read the interpreter and the plugin; otherwise
        #: the worker keeps uid 0, confined by its namespaces, Landlock and seccomp (reported as ``uid`` 0)
        self.run_as_nobody = os.geteuid() == 0 and not unreachable_paths(
            [os.path.realpath(sys.executable), *self.payload["confinement"]["read_paths"]], uid=NOBODY, gid=NOBODY
        )

    def next_generation(self) -> int:
        self._generation += 1
        return self._generation

    # --- lifetime ---------------------------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Start the pool's workers and return the first one's Ready info (hook implementations, protections).

        Raises:
            ConfinementUnavailableError: the worker could not have a protection the host required.
            IsolationError: a worker failed to start, confine itself or import the plugin (the message says why).
        """
        with self._cond:
            for _ in range(self.limits.workers):
                worker = self._spawn()
                worker.busy = False
                self._workers.append(worker)
            self._cond.notify_all()
        return self.ready_info

    def close(self) -> None:
        """Ask every worker to stop, then kill what is left; later calls fail with :class:`WorkerCrashedError`."""
        with self._cond:
            self._closed = True
            workers, self._workers = self._workers, []
            self._cond.notify_all()
        for worker in workers:
            with contextlib.suppress(IsolationError):
                worker.channel.send(encode_host_frame(Shutdown()), deadline=time.monotonic() + 0.2)
            worker.kill()
            self.audit.emit("isolation.worker_stopped", plugin=self.name, pid=worker.pid)

    @property
    def pids(self) -> tuple[int, ...]:
        """The process ids of the running workers (as the host sees them)."""
        with self._cond:
            return tuple(w.pid for w in self._workers)

    def _spawn(self) -> WorkerProcess:
        worker = WorkerProcess(
            name=self.name,
            generation=self.next_generation(),
            zygotes=self.zygotes,
            as_nobody=self.run_as_nobody,
            max_frame=self.max_frame,
        )
        deadline = time.monotonic() + self.limits.start_timeout
        try:
            worker.channel.send(encode_host_frame(Init(PROTOCOL_VERSION, self.name, self.payload)), deadline=deadline)
            frame = decode_worker_frame(worker.channel.recv(deadline=deadline), handle_factory=_no_handles)
            while isinstance(frame, Audit):
                self._audit_from(worker, frame)
                frame = decode_worker_frame(worker.channel.recv(deadline=deadline), handle_factory=_no_handles)
        except IsolationError as exc:
            worker.kill()
            self.audit.emit("isolation.worker_failed", plugin=self.name, pid=worker.pid, error=str(exc), stage="start")
            raise IsolationError(f"worker of {self.name} failed to start: {exc}") from exc
        if isinstance(frame, Failure):
            worker.kill()
            message = f"worker of {self.name} could not start: {frame.error_type}: {frame.message}"
            self.audit.emit("isolation.worker_failed", plugin=self.name, pid=worker.pid, error=message, stage="start")
            if frame.error_type.endswith("ConfinementUnavailableError"):
                raise ConfinementUnavailableError(frame.message)
            raise IsolationError(message)
        if not isinstance(frame, Ready) or frame.protocol != PROTOCOL_VERSION:
            worker.kill()
            raise ProtocolViolationError(f"worker of {self.name} answered Init with {type(frame).__name__}")
        worker.info = dict(frame.info)
        if not self.ready_info:
            self.ready_info = worker.info
        self.audit.emit(
            "isolation.worker_started",
            plugin=self.name,
            pid=worker.pid,
            protections=worker.info.get("protections"),
        )
        return worker

    # --- calls ------------------------------------------------------------------------------------------------

    def call(self, target: str, kwargs: dict[str, Any], *, handle_factory: Callable[[int, int], object]) -> object:
        """Call hook implementation *target* (``plugin:attribute``) in an idle worker.

        Raises:
            NotTransferableError: an argument is not plain data (nothing was sent).
            RemotePluginError: the plugin raised (the worker stays).
            WorkerTimeoutError: no answer within ``call_timeout`` (the worker was killed).
            WorkerCrashedError: the worker died, or could not be restarted yet.
            ProtocolViolationError: the worker broke the protocol (it was killed).
        """
        token = _set_plugin(None)  # the pool's own work (spawn, kill, channel) is the host's, not the plugin's
        try:
            deadline = _monotonic() + self.limits.call_timeout
            worker = self._acquire(deadline, None)
            try:
                data = encode_host_frame(Call(worker.ids.issue(), target, kwargs))
            except NotTransferableError:  # nothing was sent: the worker is still good
                self._put_back(worker)
                raise
            return self._exchange(worker, data, deadline, "call", target, handle_factory)
        finally:
            _reset_plugin(token)

    def invoke(
        self,
        generation: int,
        handle: int,
        args: list[Any],
        kwargs: dict[str, Any],
        *,
        handle_factory: Callable[[int, int], object],
    ) -> object:
        """Call the callable *handle* made by worker *generation*.

        Raises:
            WorkerCrashedError: that worker is gone (it crashed or was restarted: ask the plugin for a new one).
            NotTransferableError, RemotePluginError, WorkerTimeoutError, ProtocolViolationError: as :meth:`call`.
        """
        token = _set_plugin(None)
        try:
            deadline = _monotonic() + self.limits.call_timeout
            worker = self._acquire(deadline, generation)
            try:
                data = encode_host_frame(InvokeHandle(worker.ids.issue(), handle, args, kwargs))
            except NotTransferableError:
                self._put_back(worker)
                raise
            return self._exchange(worker, data, deadline, "invoke", f"handle {handle}", handle_factory)
        finally:
            _reset_plugin(token)

    def release(self, generation: int, handle: int) -> None:
        """Tell worker *generation* that the host dropped *handle* (best effort; never blocks long, never raises)."""
        with self._cond:
            worker = next((w for w in self._workers if w.generation == generation and not w.busy), None)
            if worker is None:
                return
            worker.busy = True
        try:
            worker.channel.send(encode_host_frame(ReleaseHandle(handle)), deadline=time.monotonic() + 0.5)
        except IsolationError as exc:
            self._fail(worker, exc, "release")
            return
        self._put_back(worker)

    def _acquire(self, deadline: float, generation: int | None) -> WorkerProcess:
        with self._lock:  # the common case first: an idle worker
            if generation is None and not self._closed:
                for idle in self._workers:
                    if not idle.busy:
                        idle.busy = True
                        return idle
            while True:
                if self._closed:
                    raise WorkerCrashedError(
                        f"the workers of {self.name} were stopped (the host closed or unloaded it)"
                    )
                if generation is not None:
                    worker = next((w for w in self._workers if w.generation == generation), None)
                    if worker is None:
                        raise WorkerCrashedError(
                            f"the worker of {self.name} that made this callable is gone (it failed or was restarted); "
                            "call the hook again for a fresh callable"
                        )
                    if not worker.busy:
                        worker.busy = True
                        return worker
                else:
                    for worker in self._workers:
                        if not worker.busy:
                            worker.busy = True
                            return worker
                    if len(self._workers) < self.limits.workers:
                        return self._restart(deadline)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise WorkerTimeoutError(
                        f"no worker of {self.name} became free within {self.limits.call_timeout:g} s "
                        f"({self.limits.workers} worker(s), all busy); raise WorkerLimits.workers or call_timeout"
                    )
                self._waiting += 1
                try:
                    self._cond.wait(remaining)
                finally:
                    self._waiting -= 1

    def _restart(self, deadline: float) -> WorkerProcess:
        # Called with the lock held, which it gives up while the new worker starts (a placeholder keeps the slot).
        wait = self._not_before - time.monotonic()
        if wait > deadline - time.monotonic():
            raise WorkerCrashedError(
                f"the worker of {self.name} failed {self._failures} time(s) in a row and restarts in {wait:.2f} s; "
                "see the isolation.worker_failed audit events for why"
            )
        placeholder = Placeholder()
        self._workers.append(placeholder)  # type: ignore[arg-type]
        self._cond.release()
        try:
            if wait > 0:
                time.sleep(wait)
            worker: WorkerProcess | None = self._spawn()
        except IsolationError:
            worker = None
            raise
        finally:
            self._cond.acquire()
            self._workers.remove(placeholder)  # type: ignore[arg-type]
            if worker is None:
                self._note_failure()
            self._cond.notify_all()
        assert worker is not None  # the spawn raised otherwise
        self.restarts += 1
        self.audit.emit("isolation.worker_restarted", plugin=self.name, pid=worker.pid, failures=self._failures)
        if self._closed:
            worker.kill()
            raise WorkerCrashedError(f"the workers of {self.name} were stopped (the host closed or unloaded it)")
        worker.busy = True
        self._workers.append(worker)
        return worker

    def _note_failure(self) -> None:
        self._failures += 1
        self._not_before = time.monotonic() + min(_BACKOFF_FIRST * 2 ** (self._failures - 1), _BACKOFF_MAX)

    def _put_back(self, worker: WorkerProcess) -> None:
        worker.ids.abandon()
        with self._lock:
            worker.busy = False
            if self._waiting:
                self._cond.notify_all()

    def _fail(self, worker: WorkerProcess, exc: BaseException, stage: str) -> None:
        worker.ids.abandon()
        worker.kill()
        with self._cond:
            if worker in self._workers:
                self._workers.remove(worker)
            self._note_failure()
            self._cond.notify_all()
        self.audit.emit(
            "isolation.worker_failed",
            plugin=self.name,
            pid=worker.pid,
            stage=stage,
            error_type=type(exc).__name__,
            error=str(exc),
        )

    def _exchange(  # noqa: PLR0917 - one request's state
        self,
        worker: WorkerProcess,
        data: bytes,
        deadline: float,
        stage: str,
        what: str,
        handle_factory: Callable[[int, int], object],
    ) -> object:
        generation = worker.generation
        channel = worker.channel
        try:
            channel.send(data, deadline=deadline)
            frame = decode_worker_frame(
                channel.recv(deadline=deadline), handle_factory=lambda h: handle_factory(generation, h)
            )
            if not isinstance(frame, (Result, Failure)):
                frame = self._audits_then_reply(worker, frame, deadline, generation, handle_factory)
            worker.ids.accept(frame.id)
        except (WorkerTimeoutError, WorkerCrashedError, ProtocolViolationError) as exc:
            self._fail(worker, exc, stage)
            raise type(exc)(f"{self.name} ({what}): {exc}") from exc
        except IsolationError as exc:  # pragma: no cover - every channel/codec error is one of the above
            self._fail(worker, exc, stage)
            raise
        except BaseException as exc:
            # The host's side failed mid-exchange (its handle factory or audit sink raised, or an interrupt): what
            # is left unread on the channel is unknown, so the worker cannot be reused. Killing it keeps the pool
            # from holding a worker marked busy forever; the host's own error goes on unchanged.
            self._fail(worker, exc, stage)
            raise
        with self._lock:  # one lock round for both: the call succeeded as far as the worker goes
            self._failures = 0
            worker.busy = False
            if self._waiting:
                self._cond.notify_all()
        if isinstance(frame, Failure):
            raise RemotePluginError(
                f"{self.name} ({what}) raised {frame.error_type}: {frame.message}",
                remote_type=frame.error_type,
                remote_traceback=frame.traceback,
            )
        return frame.value

    def _audits_then_reply(
        self,
        worker: WorkerProcess,
        frame: WorkerFrame,
        deadline: float,
        generation: int,
        handle_factory: Callable[[int, int], object],
    ) -> Result | Failure:
        """Record the audit events the worker sends during a call (a bounded number), then return its reply."""
        audits = 0
        while isinstance(frame, Audit):
            audits += 1
            if audits > _MAX_AUDIT_PER_CALL:
                raise ProtocolViolationError(f"more than {_MAX_AUDIT_PER_CALL} audit events in one call")
            self._audit_from(worker, frame)
            frame = decode_worker_frame(
                worker.channel.recv(deadline=deadline), handle_factory=lambda h: handle_factory(generation, h)
            )
        if not isinstance(frame, (Result, Failure)):
            raise ProtocolViolationError(f"unexpected {type(frame).__name__} frame during a call")
        return frame

    def _audit_from(self, worker: WorkerProcess, frame: Audit) -> None:
        fields = dict(frame.fields)
        fields.pop("plugin", None)
        if frame.event not in _WORKER_EVENTS:
            self.audit.emit("isolation.audit_dropped", plugin=self.name, pid=worker.pid, event_name=frame.event)
            return
        self.audit.emit(frame.event, plugin=self.name, worker_pid=worker.pid, **fields)


def _no_handles(handle: int) -> object:
    raise ProtocolViolationError(f"a callable handle ({handle}) is only allowed in a call's result")
