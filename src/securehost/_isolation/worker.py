"""The worker's main: confine this process, import the plugin from verified bytes, then serve calls until told to stop.

The host's fork server (:mod:`securehost._isolation.zygote`, a ``python -I`` with a scrubbed environment) forks the
worker into a session of its own and a private working directory, with one file descriptor: a connected ``AF_UNIX``
socket (the channel). The first frame is :class:`~securehost._isolation.codec.Init`;
its payload says what to confine (:class:`~securehost._isolation.spec.ConfinementSpec`), which files the plugin
consists of with their verified SHA-256 digests, its entry points, its effective permissions and the host's
``sys.path``. In that order the worker

1. confines itself (namespaces, rlimits, ``no_new_privs``, Landlock, seccomp) and fails closed if a required
   protection is missing, before a single byte of the plugin is read;
2. installs the runtime guard and a :class:`~securehost.VerifiedImporter` holding only this plugin's modules, which
   hashes every byte it executes against the digests the host handed over (never trusting the site directory);
3. imports the entry points as the plugin (``current_plugin()`` works, denials are audited), and answers
   :class:`~securehost._isolation.codec.Ready` with the hook implementations it found and the protections in force;
4. serves :class:`~securehost._isolation.codec.Call` and :class:`~securehost._isolation.codec.InvokeHandle` one at a
   time. Audit events raised in the worker go to the host as :class:`~securehost._isolation.codec.Audit` frames.

Nothing here trusts the host less than the host trusts itself; everything here is distrusted by the host.
"""

from __future__ import annotations

import gc
import inspect
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import pluggy

from securehost._audit import AuditLog
from securehost._context import CURRENT, PluginContext
from securehost._dispatch.stats import StatsRegistry
from securehost._guard.audithook import install_guard
from securehost._installed.dependencies import DependencyPolicy
from securehost._installed.importer import VerifiedImporter
from securehost._installed.modules import ModuleKind, VerifiedModule
from securehost._isolation.channel import Channel
from securehost._isolation.codec import (
    PROTOCOL_VERSION,
    Audit,
    Call,
    Init,
    InvokeHandle,
    Ready,
    ReleaseHandle,
    Shutdown,
    decode_host_frame,
    encode_reply,
    encode_worker_frame,
    failure_from_exception,
)
from securehost._isolation.confine import apply
from securehost._isolation.spec import ConfinementSpec
from securehost._orchestrator.config import freeze
from securehost._permissions import PermissionSet

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["main"]

#: What the host runs with ``python -I -c``: argv[1] is the directory holding the securehost package, argv[2] the fd.
BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); from securehost._isolation.worker import main; main(int(sys.argv[2]))"
)
_INIT_TIMEOUT: Final = 30.0
_AUDIT_EVENTS_FORWARDED: Final = 4096  # per call; beyond that the host would see a flood
#: results of these types are not awaitable; anything else is asked (``inspect.isawaitable``)
_NOT_AWAITABLE: Final = frozenset({type(None), bool, int, float, str, bytes, list, tuple, dict})
_set_plugin: Final = CURRENT.set
_reset_plugin: Final = CURRENT.reset


class _Forwarder(logging.Handler):
    """Sends the worker's audit events (records of the ``securehost.audit`` logger) to the host."""

    def __init__(self, send: Callable[[bytes], None]) -> None:
        super().__init__(logging.DEBUG)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        payload = getattr(record, "securehost_event", None)
        if not isinstance(payload, dict):
            return
        fields = {
            str(key)[:256]: value if value is None or isinstance(value, (str, int, float, bool)) else str(value)
            for key, value in payload.items()
            if key not in ("event", "time")
        }
        fields = {k: v[:4096] if isinstance(v, str) else v for k, v in list(fields.items())[:64]}
        try:
            self._send(encode_worker_frame(Audit(str(payload.get("event", "?"))[:256], fields)))
        except Exception:  # noqa: BLE001 - an audit event that cannot be sent must not break the plugin's call
            return


class _Worker:
    def __init__(self, channel: Channel, init: Init) -> None:
        self.channel = channel
        self.payload = init.payload
        self.plugin = init.plugin
        self.send_lock = threading.Lock()
        self.permissions = PermissionSet.parse(self.payload["permissions"])
        self.config = freeze(self.payload.get("config") or {})
        self.audit = AuditLog()
        self.stats = StatsRegistry()
        #: ``plugin:attribute`` -> the hook implementation and the context it runs in (built at import time)
        self.targets: dict[str, tuple[Callable[..., Any], PluginContext]] = {}
        self.handles: dict[int, Callable[..., Any]] = {}
        self.contexts: dict[tuple[str, str], PluginContext] = {}
        self.next_handle = 1

    def send(self, data: bytes) -> None:
        with self.send_lock:
            self.channel.send(data)

    def register(self, function: Callable[..., object]) -> int:
        handle = self.next_handle
        self.next_handle += 1
        self.handles[handle] = function
        return handle

    def context(self, plugin: str, hook: str) -> PluginContext:
        key = (plugin, hook)
        context = self.contexts.get(key)
        if context is None:
            context = self.contexts[key] = PluginContext(
                plugin=plugin,
                hook=hook,
                permissions=self.permissions,
                cell=self.stats.cell(plugin, hook),
                audit=self.audit,
                config=self.config,
            )
        return context

    def load(self, workdir: Path) -> dict[str, Any]:
        policy = self.payload["policy"]
        importer = VerifiedImporter(
            workdir / "bytecode",
            workdir / "bytecode.key",
            self.audit,
            dependency_policy=DependencyPolicy(
                mode=policy["mode"],
                allowed_modules=policy["allowed_modules"],
                allowed_distributions=policy["allowed_distributions"],
            ),
            extension_dir=workdir / "ext",
        )
        modules = {
            name: VerifiedModule(path=path, sha256=digest, is_package=is_package, kind=ModuleKind(kind))
            for name, (path, digest, is_package, kind) in self.payload["modules"].items()
        }
        importer.add_distribution(self.payload["distribution"], modules, requires=self.payload["requires"])
        marker = pluggy.PluginManager(self.payload["project"])
        plugins: dict[str, list[dict[str, Any]]] = {}
        for plugin_name, value in self.payload["entry_points"]:
            token = CURRENT.set(self.context(plugin_name, "<import>"))
            try:
                obj = importer.load_entry_point(value)
            finally:
                CURRENT.reset(token)
            plugins[plugin_name] = self._describe(marker, plugin_name, obj)
        return plugins

    def _describe(self, marker: pluggy.PluginManager, plugin_name: str, obj: object) -> list[dict[str, Any]]:
        found = []
        for attr in dir(obj):
            opts = marker.parse_hookimpl_opts(obj, attr)
            if opts is None:
                continue
            function = getattr(obj, attr)
            impl = pluggy.HookImpl(obj, plugin_name, function, opts)
            self.targets[f"{plugin_name}:{attr}"] = (function, self.context(plugin_name, attr))
            found.append(
                {
                    "attr": attr,
                    "hook": opts.get("specname") or attr,
                    "argnames": list(impl.argnames),
                    "coroutine": inspect.iscoroutinefunction(function),
                    "wrapper": bool(opts.get("wrapper") or opts.get("hookwrapper")),
                    "tryfirst": bool(opts.get("tryfirst")),
                    "trylast": bool(opts.get("trylast")),
                    "optionalhook": bool(opts.get("optionalhook")),
                }
            )
        return found

    def serve(self) -> None:
        """Answer the host's frames, one at a time, until it says Shutdown (or the channel breaks)."""
        recv, send, lock, targets = self.channel.recv, self.channel.send, self.send_lock, self.targets
        while True:
            frame = decode_host_frame(recv())
            if type(frame) is Call:  # the hot path
                target = targets.get(frame.hook)
                if target is None:
                    missing = LookupError(f"there is no hook implementation {frame.hook!r} in this worker")
                    reply = encode_worker_frame(failure_from_exception(frame.id, missing))
                else:
                    reply = self._run(frame.id, target[0], target[1], (), frame.kwargs)
            elif type(frame) is InvokeHandle:
                function = self.handles.get(frame.handle)
                if function is None:
                    missing = LookupError(f"callable handle {frame.handle} was released or never existed")
                    reply = encode_worker_frame(failure_from_exception(frame.id, missing))
                else:
                    context = self.context(self.plugin, "<callable>")
                    reply = self._run(frame.id, function, context, tuple(frame.args), frame.kwargs)
            elif type(frame) is ReleaseHandle:
                self.handles.pop(frame.handle, None)
                continue
            elif type(frame) is Shutdown:
                return
            else:
                raise RuntimeError(f"unexpected {type(frame).__name__} frame from the host")
            with lock:  # audit events of the plugin's own threads are sent under the same lock
                send(reply)

    def _run(
        self,
        request_id: int,
        function: Callable[..., Any],
        context: PluginContext,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> bytes:
        """Run ``function`` as the plugin and encode its answer: a Result, or a Failure saying why not."""
        token = _set_plugin(context)
        try:
            result = function(*args, **kwargs)
            if type(result) not in _NOT_AWAITABLE and inspect.isawaitable(result):
                import asyncio  # noqa: PLC0415 - 40 ms of imports that only async plugins need

                result = asyncio.run(_await(result))
        except BaseException as exc:  # noqa: BLE001 - SystemExit too: a plugin's exit() is its call's failure
            return encode_worker_frame(failure_from_exception(request_id, exc))
        finally:
            _reset_plugin(token)
        return encode_reply(request_id, result, register_callable=self.register)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def main(fd: int) -> None:
    """Run the worker on the inherited channel *fd*; exits the process when the host says so or goes away."""
    sock = socket.socket(fileno=fd)
    channel = Channel(sock)
    try:
        init = decode_host_frame(channel.recv(deadline=time.monotonic() + _INIT_TIMEOUT))
        if not isinstance(init, Init) or init.protocol != PROTOCOL_VERSION:
            raise RuntimeError(f"expected Init of protocol {PROTOCOL_VERSION}, got {init!r:.200}")
        spec = ConfinementSpec.from_dict(init.payload["confinement"])
        # the private working directory the host made for this worker is its one place to write
        spec = attrs.evolve(spec, write_paths=(*spec.write_paths, os.getcwd()))
        protections = apply(spec)  # may fork: from here on this is PID 1 of the worker's PID namespace
        worker = _Worker(channel, init)
        logging.getLogger("securehost.audit").addHandler(_Forwarder(worker.send))
        logging.getLogger("securehost.audit").setLevel(logging.DEBUG)
        sys.path[:] = [p for p in init.payload["sys_path"] if isinstance(p, str)]
        if init.payload.get("guard", True):
            install_guard()
        workdir = Path(tempfile.mkdtemp(prefix="plugin-", dir=os.getcwd()))
        plugins = worker.load(workdir)
        gc.freeze()  # what the import made lives as long as the worker: keep it out of every collection
        worker.send(
            encode_worker_frame(
                Ready(PROTOCOL_VERSION, {"plugins": plugins, "protections": protections, "pid": os.getpid()})
            )
        )
    except BaseException as exc:  # noqa: BLE001 - report why the worker cannot start, then exit
        try:
            channel.send(encode_worker_frame(failure_from_exception(0, exc)))
        finally:
            os._exit(3)
    try:
        worker.serve()
    except BaseException:  # noqa: BLE001 - the channel broke or the host sent garbage: nothing to answer
        os._exit(4)
    os._exit(0)
