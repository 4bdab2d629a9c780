"""Async hook calls: ``await pm.ahook.name(**kwargs)``.

Implementations may be coroutine functions or plain functions; a plain function that returns an
awaitable has it awaited too. They run one after the other in call order, with pluggy's semantics
(``firstresult``, ``tryfirst`` / ``trylast``, old- and new-style wrappers written as *synchronous*
generators around the awaited inner calls), the same counters (latency includes the time an
implementation spends suspended) and the same identity: the plugin's context is set in the calling
task while its implementation runs, so tasks and callbacks that it schedules inherit it, and other
tasks never see it.

Async generator wrappers are rejected (an async generator cannot ``return`` the result). Tracing and
``add_hookcall_monitoring`` do not see async calls; historic hooks cannot be awaited.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping, Sequence
from time import perf_counter_ns as _now
from typing import TYPE_CHECKING, Any, Final, cast, final

from securehost._context import CURRENT
from securehost._dispatch.callers import (
    PLAIN,
    Entry,
    Teardowns,
    _hook_error,
    call_args,
    count_failure,
    run_teardowns,
    start_wrapper,
)

if TYPE_CHECKING:
    from pluggy import HookRelay

    from securehost._dispatch.hookcaller import SecureHookCaller

__all__ = ["AsyncHookCaller", "AsyncHookRelay", "acall"]

_cv_get = CURRENT.get
_cv_set = CURRENT.set


@final
class AsyncHookRelay:
    """``pm.ahook``: attribute access returns the :class:`AsyncHookCaller` of that hook."""

    __slots__ = ("_callers", "_relay")

    def __init__(self, relay: HookRelay) -> None:
        self._relay: Final = relay
        self._callers: dict[str, AsyncHookCaller] = {}

    def __getattr__(self, name: str) -> AsyncHookCaller:
        if name.startswith("__"):
            raise AttributeError(name)
        caller = self._callers.get(name)
        if caller is None:
            hook = getattr(self._relay, name)  # AttributeError for an unknown hook, as pm.hook does
            caller = self._callers[name] = AsyncHookCaller(hook)
        return caller


@final
class AsyncHookCaller:
    """Awaitable calls of one hook; shares the hook's plan, counters and quarantine state."""

    __slots__ = ("_hook",)

    def __init__(self, hook: SecureHookCaller) -> None:
        self._hook: Final = hook

    @property
    def name(self) -> str:
        """The hook name."""
        return self._hook.name

    def __repr__(self) -> str:
        return f"<AsyncHookCaller {self._hook.name!r}>"

    async def __call__(self, **kwargs: object) -> Any:
        """Call the hook and await every implementation; return what ``pm.hook.name(...)`` would.

        Raises:
            TypeError: the hook is historic, or an implementation is an async generator wrapper.
            HookError: the hook isolates errors and at least one implementation failed.
        """
        __tracebackhide__ = True
        hook = self._hook
        if hook.is_historic():
            raise TypeError(f"historic hook {hook.name!r} cannot be awaited; use pm.hook.{hook.name}.call_historic()")
        plan = hook._plan or hook._build_plan()
        if not kwargs.keys() >= frozenset(plan.spec_args):
            hook._verify_all_args_are_provided(kwargs)
        return await acall(hook.name, plan.entries, kwargs, plan.firstresult, plan.isolate)


async def _await_if_needed(value: object) -> object:
    if inspect.isawaitable(value):
        return await cast(Awaitable[object], value)
    return value


async def acall(
    hook_name: str,
    entries: Sequence[Entry],
    kwargs: Mapping[str, object],
    firstresult: bool,
    isolate: bool,
) -> Any:
    """The async twin of :func:`securehost._dispatch.callers.call_general`.

    Raises:
        TypeError: an implementation is an async generator wrapper.
        HookError: with *isolate*, when at least one implementation failed.
    """
    __tracebackhide__ = True
    results: list[object] = []
    exception: BaseException | None = None
    errors: list[tuple[str, BaseException]] | None = [] if isolate else None
    teardowns: Teardowns = []
    outer = _cv_get()
    try:
        try:
            for entry in entries:
                function, _arity, _getter, context, append, kind, impl = entry
                args, kw = call_args(impl, kwargs)
                _cv_set(outer if context is None or context.as_caller else context)
                t0 = _now()
                if kind == PLAIN:
                    try:
                        res = await _await_if_needed(function(*args, **kw))
                    except Exception as exc:
                        if not count_failure(exc, impl, context, append, t0, errors):
                            raise
                        continue
                    except BaseException:
                        append(_now() - t0)
                        raise
                    append(_now() - t0)
                    if res is not None:
                        results.append(res)
                        if firstresult:
                            break
                    continue
                start_wrapper(hook_name, entry, args, kw, t0, errors, teardowns, refuse_async=True)
        except BaseException as exc:  # noqa: BLE001 - pluggy's semantics: wrappers see every exception
            exception = exc
    finally:
        result: Any = (results[0] if results else None) if firstresult else results
        result, exception = run_teardowns(teardowns, result, exception, errors, outer)
    if exception is not None:
        raise exception
    if errors:
        raise _hook_error(hook_name, errors, result)
    return result
