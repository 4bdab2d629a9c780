"""The plugin object the host registers in place of an isolated plugin, and callables that live in a worker.

For each hook implementation the worker reported, the proxy has a function with the same name and argument names,
marked with the host's ``HookimplMarker`` and the same ``tryfirst`` / ``trylast`` / ``optionalhook`` / ``specname``.
pluggy therefore validates it against the host's specifications exactly as it would the plugin itself, and the
securehost manager wraps it with the same permission checks, counters, latency histogram, error isolation and
circuit breaker as an in-process plugin. Calling it sends a ``Call`` to a worker and returns the worker's answer.

Across the boundary:

* hook wrappers (``wrapper=True`` / ``hookwrapper=True``) cannot run: they would have to suspend inside the worker
  around the host's other implementations. A plugin that has one is rejected (``isolation-unsupported``);
* ``firstresult`` and historic hooks work unchanged (the host's manager decides both);
* an ``async def`` implementation runs in the worker's own event loop; the proxy is ``async def`` too and awaits the
  call in a thread, so ``await host.ahook.name()`` does not block the host's loop;
* a callable in a result (a tool function, a bound method) arrives as a :class:`RemoteCallable`: calling it runs the
  callable in the worker that made it, as the plugin, under the call deadline, counted under the hook
  ``<callable>``. Arguments and results must be plain data both ways.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import keyword
import time
from typing import TYPE_CHECKING, Any, Final, final

import pluggy

from securehost._context import current_plugin, run_as_host
from securehost.exceptions import PermissionDeniedError, ProtocolViolationError, RemotePluginError

if TYPE_CHECKING:
    from collections.abc import Callable

    from securehost._dispatch.stats import Cell
    from securehost._isolation.supervisor import WorkerPool

__all__ = ["IsolatedPlugin", "RemoteCallable", "UnsupportedHookimplError", "build_proxy"]

_MAX_IMPLS: Final = 1024


class UnsupportedHookimplError(Exception):
    """A hook implementation of the isolated plugin cannot run across the process boundary."""


def _identifier(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.isidentifier() or keyword.iskeyword(value) or len(value) > 200:
        raise ProtocolViolationError(f"the worker reported {what} {value!r:.80}, which is not a Python identifier")
    return value


def _flag(info: dict[str, Any], key: str) -> bool:
    value = info.get(key, False)
    if type(value) is not bool:
        raise ProtocolViolationError(f"the worker reported {key}={value!r:.40}, not a bool")
    return value


@final
class IsolatedPlugin:
    """The stand-in for one isolated plugin (one entry point) in the host's plugin manager.

    Attributes:
        plugin_name: the name the plugin is registered under.
        pool: the workers that run it.
    """

    def __init__(self, plugin_name: str, pool: WorkerPool) -> None:
        self.plugin_name = plugin_name
        self.pool = pool

    def __repr__(self) -> str:
        return f"<isolated plugin {self.plugin_name!r} (workers {list(self.pool.pids)})>"


@final
class RemoteCallable:
    """A callable that an isolated plugin returned; calling it runs it in the worker that made it.

    Raises (when called):
        NotTransferableError: an argument is not plain data.
        WorkerCrashedError: that worker is gone (ask the plugin for a fresh callable).
        WorkerTimeoutError, ProtocolViolationError, RemotePluginError: as for a hook call.
    """

    __slots__ = ("__weakref__", "_cell", "_generation", "_handle", "_pool")

    def __init__(self, pool: WorkerPool, generation: int, handle: int, cell: Cell | None) -> None:
        self._pool = pool
        self._generation = generation
        self._handle = handle
        self._cell = cell

    def __repr__(self) -> str:
        return f"<callable {self._handle} of isolated plugin {self._pool.name!r}>"

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        start = time.perf_counter_ns()
        try:  # the pool runs its own work as the host
            return self._pool.invoke(
                self._generation, self._handle, list(args), kwargs, handle_factory=self._pool_factory
            )
        except Exception:
            if self._cell is not None:
                self._cell.record_error(None)
            raise
        finally:
            if self._cell is not None:
                self._cell.append(time.perf_counter_ns() - start)

    def _pool_factory(self, generation: int, handle: int) -> RemoteCallable:
        return RemoteCallable(self._pool, generation, handle, self._cell)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # best effort during garbage collection or interpreter shutdown
            run_as_host(self._pool.release, self._generation, self._handle)


def _remote_denial(plugin_name: str, exc: RemotePluginError) -> None:
    """Raise the host's :class:`PermissionDeniedError` (counted as a denial) if the worker's guard refused."""
    if exc.remote_type.rpartition(".")[2] == "PermissionDeniedError":
        context = current_plugin()
        if context is not None:
            context.count_denial()
        raise PermissionDeniedError(str(exc), plugin=plugin_name) from exc


def _make_function(
    attr: str,
    argnames: tuple[str, ...],
    *,
    target: str,
    pool: WorkerPool,
    factory: Callable[[int, int], object],
    denial: Callable[[RemotePluginError], None],
    aio: bool,
) -> Any:
    # Identifiers were validated; the generated code only packs its arguments into a dict and calls the pool.
    params = ", ".join(argnames)
    packed = ", ".join(f"{name!r}: {name}" for name in argnames)
    call = f"_pool_call(_target, {{{packed}}}, handle_factory=_factory)"
    if aio:
        call = f"await _to_thread(_pool_call, _target, {{{packed}}}, handle_factory=_factory)"
    source = (
        f"{'async ' if aio else ''}def {attr}({params}):\n"
        f"    try:\n        return {call}\n"
        "    except _Remote as exc:\n        _denial(exc)\n        raise\n"
    )
    namespace: dict[str, Any] = {
        "_pool_call": pool.call,
        "_target": target,
        "_factory": factory,
        "_denial": denial,
        "_Remote": RemotePluginError,
        "_to_thread": asyncio.to_thread,
    }
    exec(compile(source, f"<isolated {attr}>", "exec"), namespace)  # noqa: S102 - generated from identifiers only
    return namespace[attr]


def build_proxy(
    *,
    plugin_name: str,
    impls: object,
    pool: WorkerPool,
    marker: pluggy.HookimplMarker,
    callable_cell: Cell | None,
) -> IsolatedPlugin:
    """Build the stand-in of *plugin_name* from the hook implementations its worker reported.

    Raises:
        UnsupportedHookimplError: an implementation is a hook wrapper.
        ProtocolViolationError: the worker's description is malformed (names that are not identifiers, ...).
    """
    if not isinstance(impls, list) or len(impls) > _MAX_IMPLS:
        raise ProtocolViolationError(f"the worker described the hook implementations of {plugin_name} malformed")
    proxy = IsolatedPlugin(plugin_name, pool)
    denial = functools.partial(_remote_denial, plugin_name)

    def factory(generation: int, handle: int) -> RemoteCallable:
        return RemoteCallable(pool, generation, handle, callable_cell)

    for info in impls:
        if not isinstance(info, dict):
            raise ProtocolViolationError(f"the worker described a hook implementation of {plugin_name} malformed")
        attr = _identifier(info.get("attr"), "the attribute")
        hook = _identifier(info.get("hook"), "the hook name")
        argnames = info.get("argnames")
        if not isinstance(argnames, list) or len(argnames) > 64:
            raise ProtocolViolationError(f"the worker reported malformed argument names for {attr}")
        names = tuple(_identifier(a, "an argument name") for a in argnames)
        if len(set(names)) != len(names) or attr in {"plugin_name", "pool"}:
            raise ProtocolViolationError(f"the worker reported clashing names for {attr}")
        if _flag(info, "wrapper"):
            raise UnsupportedHookimplError(
                f"{attr} is a hook wrapper, which cannot run across the process boundary; run {plugin_name} "
                "in-process or drop the wrapper"
            )
        function = _make_function(
            attr,
            names,
            target=f"{plugin_name}:{attr}",
            pool=pool,
            factory=factory,
            denial=denial,
            aio=_flag(info, "coroutine"),
        )
        opts: dict[str, Any] = {
            "tryfirst": _flag(info, "tryfirst"),
            "trylast": _flag(info, "trylast"),
            "optionalhook": _flag(info, "optionalhook"),
        }
        if hook != attr:
            opts["specname"] = hook
        setattr(proxy, attr, marker(**opts)(function))
    return proxy
