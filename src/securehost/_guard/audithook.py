"""The runtime guard: a PEP 578 audit hook that denies what a running plugin may not do.

This is a tripwire, not a sandbox. CPython's documentation says it plainly: audit hooks cannot be
used to build a sandbox, because code in the same process can reach around them. The guard stops
mistakes and casual abuse (a plugin that opens a file, connects, or spawns a program it was not
granted) and leaves a ``guard.denied`` audit event; process isolation is the boundary.
``docs/threat-model.md`` lists what is and is not covered.

The hook costs host code one Python call and one context-variable read per audited event: when no
plugin implementation is running in the current thread or task, it returns at once. Installation
also wraps the thread start functions (so that a thread started by a plugin keeps the plugin's
identity) and ``_socket.getaddrinfo``, which ``socket.getaddrinfo`` calls (so that a connection to an address
that a granted host name resolved to is recognised, also through a reference to ``socket.getaddrinfo`` taken before
installation; and so that the guard does not import :mod:`socket`, about 3 ms of every start-up). Installation
is process-wide, idempotent and irreversible (audit hooks cannot be removed).
"""

from __future__ import annotations

import _socket
import _thread
import functools
import sys
import threading
from typing import TYPE_CHECKING, Any, Final

from securehost._context import CURRENT
from securehost._guard.checks import HANDLERS, check_native, record_resolution

if TYPE_CHECKING:
    from collections.abc import Callable

    from securehost._context import PluginContext

__all__ = ["guard_installed", "install_guard"]

_cv_get = CURRENT.get
_install_lock = threading.Lock()
_installed = False
_THREAD_EVENTS: Final = frozenset({"_thread.start_new_thread", "_thread.start_joinable_thread"})
_orig_start_new_thread: Callable[..., int] = _thread.start_new_thread
_orig_start_joinable: Callable[..., Any] | None = getattr(_thread, "start_joinable_thread", None)
_orig_getaddrinfo = _socket.getaddrinfo


def _audit_hook(event: str, args: tuple[Any, ...]) -> None:
    context = _cv_get()
    if context is None:
        return
    handler = HANDLERS.get(event)
    if handler is not None:
        handler(context, args)
    elif event in _THREAD_EVENTS:
        _check_thread_start(context, args)
    elif event.startswith("ctypes."):
        check_native(context, event)


# --- threads: a thread started by a plugin runs as that plugin ----------------------------------


def _child_entry(
    context: PluginContext,
    function: Callable[..., object],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> object:
    CURRENT.set(context)
    return function(*args, **kwargs)


def _guarded_start_new_thread(
    function: Callable[..., object], args: tuple[Any, ...], kwargs: dict[str, Any] | None = None
) -> int:
    context = _cv_get()
    if context is None:
        return (
            _orig_start_new_thread(function, args) if kwargs is None else _orig_start_new_thread(function, args, kwargs)
        )
    if not isinstance(args, tuple):
        raise TypeError("2nd arg must be a tuple")
    if kwargs is not None and not isinstance(kwargs, dict):
        raise TypeError("optional 3rd arg must be a dictionary")
    return _orig_start_new_thread(functools.partial(_child_entry, context, function, args, kwargs or {}), ())


def _guarded_start_joinable_thread(function: Callable[..., object], handle: Any = None, daemon: bool = True) -> Any:
    context = _cv_get()
    if context is not None:
        function = functools.partial(_child_entry, context, function, (), {})
    assert _orig_start_joinable is not None
    return _orig_start_joinable(function, handle=handle, daemon=daemon)


def _check_thread_start(context: PluginContext, args: tuple[Any, ...]) -> None:
    # Python >= 3.12 audits thread starts: only starts that carry the plugin's identity are allowed.
    function = args[0] if args else None
    if (
        isinstance(function, functools.partial)
        and function.func is _child_entry
        and function.args
        and function.args[0] is context
    ):
        return
    context.deny("thread.start", source="guard", detail="a thread started without the plugin's identity")


# --- name resolution: remember which names resolved to which addresses --------------------------


def _recording_getaddrinfo(  # noqa: PLR0917 - _socket.getaddrinfo's signature
    host: Any,
    port: Any,
    family: int = 0,
    type: int = 0,
    proto: int = 0,
    flags: int = 0,
) -> list[Any]:
    infos = _orig_getaddrinfo(host, port, family, type, proto, flags)
    if host:
        record_resolution(host, infos)
    return infos


functools.update_wrapper(_recording_getaddrinfo, _orig_getaddrinfo)


def install_guard() -> None:
    """Install the runtime guard in this process (idempotent; it cannot be removed).

    Install it before plugins are imported, so that references they take to thread-start functions
    are the guarded ones.
    """
    global _installed  # noqa: PLW0603
    with _install_lock:
        if _installed:
            return
        _thread.start_new_thread = _guarded_start_new_thread
        if hasattr(_thread, "start_new"):
            _thread.start_new = _guarded_start_new_thread
        if getattr(threading, "_start_new_thread", None) is _orig_start_new_thread:
            threading._start_new_thread = _guarded_start_new_thread  # type: ignore[attr-defined]
        if _orig_start_joinable is not None:
            _thread.start_joinable_thread = _guarded_start_joinable_thread  # type: ignore[attr-defined]
            if getattr(threading, "_start_joinable_thread", None) is _orig_start_joinable:
                threading._start_joinable_thread = _guarded_start_joinable_thread  # type: ignore[attr-defined]
        _socket.getaddrinfo = _recording_getaddrinfo
        sys.addaudithook(_audit_hook)
        _installed = True


def guard_installed() -> bool:
    """Return whether :func:`install_guard` has run in this process."""
    return _installed
