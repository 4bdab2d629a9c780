"""The instrumented call loops: pluggy's ``_multicall`` plus identity, counters and isolation.

An implementation is described by a precomputed *entry* (a tuple, built once at registration):
``(function, arity, getter, context, append, kind, hookimpl)``. ``arity`` is 0, 1 or 2 (two or more
arguments); ``getter`` is the argument name (arity 1) or an :func:`operator.itemgetter` (arity 2);
``context`` is the plugin's :class:`~securehost.PluginContext` (``None`` for code of no registered
plugin, such as ``call_extra`` functions, which runs with the identity of its caller); ``append``
records one latency sample; ``kind`` is :data:`PLAIN`, :data:`WRAPPER` or :data:`OLD_WRAPPER`.

Compiled plans (:mod:`securehost._dispatch.plan`) run the common cases. :func:`call_general` runs everything
else (isolation, tracing and monitoring, historic calls, very many implementations) and mirrors
``pluggy._callers._multicall`` line by line; :func:`multicall` is a drop-in replacement for it.
"""

from __future__ import annotations

import builtins
import inspect
import sys
import warnings
from collections.abc import Callable, Generator, Mapping, Sequence
from operator import itemgetter
from time import perf_counter_ns as _now
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast

from pluggy import HookCallError, PluggyTeardownRaisedWarning, Result
from pluggy._hooks import HookSpec

from securehost._context import CURRENT
from securehost.exceptions import HookError

if TYPE_CHECKING:
    from pluggy import HookImpl

    from securehost._context import PluginContext

__all__ = [
    "OLD_WRAPPER",
    "PLAIN",
    "WRAPPER",
    "Entry",
    "call_general",
    "count_failure",
    "make_entry",
    "multicall",
    "run_teardowns",
    "second_yield",
    "start_wrapper",
    "teardown_one",
]

PLAIN: Final = 0
WRAPPER: Final = 1
OLD_WRAPPER: Final = 2

Entry = tuple[Callable[..., Any], int, Any, "PluginContext | None", Callable[[int], object], int, "HookImpl"]
Teardown = Generator[None, object, object]
#: The wrappers set up so far: generator, context, latency sink, setup latency, implementation.
Teardowns = list[tuple[Teardown, "PluginContext | None", Callable[[int], object], int, "HookImpl"]]

#: pluggy >= 1.7 passes an implementation's keyword parameters (those with defaults) from the call
# when present.
IMPL_KWARGS: Final = "kwargdefaults" in getattr(HookSpec, "__slots__", ())
_cv_get = CURRENT.get
_cv_set = CURRENT.set
_INTERNAL: Final = ("securehost.", "pluggy.")


def _discard(_sample: int) -> None:
    """Latency sink of code that belongs to no plugin (``call_extra`` functions, bare HookImpls)."""


def make_entry(impl: HookImpl, context: PluginContext | None) -> Entry:
    """Precompute the call entry of *impl*."""
    names = impl.argnames
    arity = min(len(names), 2)
    getter: Any = names[0] if arity == 1 else itemgetter(*names) if arity == 2 else None
    kind = OLD_WRAPPER if impl.hookwrapper else WRAPPER if impl.wrapper else PLAIN
    append = context._cell.append if context is not None else _discard
    return (impl.function, arity, getter, context, append, kind, impl)


def call_args(impl: HookImpl, kwargs: Mapping[str, object]) -> tuple[list[object], dict[str, object]]:
    """Return the positional and keyword arguments of *impl* for *kwargs* (pluggy's rules).

    Raises:
        HookCallError: the call does not provide a positional argument of *impl*.
    """
    try:
        args = [kwargs[argname] for argname in impl.argnames]
    except KeyError as exc:
        raise _missing(impl, kwargs) from exc
    if IMPL_KWARGS and impl.kwargnames:
        return args, {name: kwargs[name] for name in impl.kwargnames if name in kwargs}
    return args, {}


def _missing(impl: HookImpl, kwargs: Mapping[str, object]) -> HookCallError:
    for argname in impl.argnames:
        if argname not in kwargs:
            return HookCallError(f"hook call must provide argument {argname!r}")
    return HookCallError("hook call is missing an argument")  # pragma: no cover - KeyError implies one is missing


def call_general(
    hook_name: str,
    entries: Sequence[Entry],
    kwargs: Mapping[str, object],
    firstresult: bool,
    isolate: bool,
) -> Any:
    """Call implementations, wrappers included, with pluggy's semantics; optionally isolate errors.

    With *isolate*, an :class:`Exception` raised by an implementation (a plain call, a wrapper's
    setup, or a new exception from a wrapper's teardown) is recorded and the call goes on as if that
    implementation were absent; at the end one :class:`~securehost.exceptions.HookError` lists every
    failure and carries the result.

    Raises:
        HookError: with *isolate*, when at least one implementation failed.
        HookCallError: an implementation needs an argument the call does not provide.
    """
    __tracebackhide__ = True
    results: list[object] = []
    exception: BaseException | None = None
    errors: list[tuple[str, BaseException]] | None = [] if isolate else None
    teardowns: Teardowns = []
    outer = _cv_get()
    try:
        try:  # run impl and wrapper setup functions in a loop
            for entry in entries:
                function, _arity, _getter, context, append, kind, impl = entry
                args, kw = call_args(impl, kwargs)
                _cv_set(outer if context is None or context.as_caller else context)  # foreign code runs as its caller
                t0 = _now()
                if kind == PLAIN:
                    try:
                        res = function(*args, **kw)
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
                        if firstresult:  # halt further impl calls
                            break
                    continue
                start_wrapper(hook_name, entry, args, kw, t0, errors, teardowns)
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


def count_failure(  # noqa: PLR0917 - one failed call's state, passed positionally by the loops
    exc: Exception,
    impl: HookImpl,
    context: PluginContext | None,
    append: Callable[[int], object],
    t0: int,
    errors: list[tuple[str, BaseException]] | None,
) -> bool:
    """Count an implementation call that raised (its latency, its plugin's failure); record it if errors are isolated.

    Returns:
        Whether *exc* was recorded in *errors*; ``False`` when the call does not isolate errors (the caller re-raises).
    """
    append(_now() - t0)
    if context is not None:
        context.failed()
    if errors is None:
        return False
    errors.append((impl.plugin_name, exc))
    return True


def start_wrapper(  # noqa: PLR0917 - one wrapper's state, passed positionally by both loops
    hook_name: str,
    entry: Entry,
    args: Sequence[object],
    kw: Mapping[str, object],
    t0: int,
    errors: list[tuple[str, BaseException]] | None,
    teardowns: Teardowns,
    *,
    refuse_async: bool = False,
) -> None:
    """Run a wrapper to its first ``yield`` and queue its teardown (the loop of :func:`call_general` and the relay's).

    An :class:`Exception` of the setup is recorded in *errors* when the call isolates errors (the wrapper is then
    left out), else raised; its latency and failure are counted either way. With *refuse_async*, a wrapper written
    as an async generator is a ``TypeError`` (the async relay cannot drive one).

    Raises:
        RuntimeError: the wrapper did not yield (pluggy's message).
        TypeError: with *refuse_async*, an async generator wrapper.
    """
    function, _arity, _getter, context, append, kind, impl = entry
    gen: Any = None
    try:
        if kind == OLD_WRAPPER:
            gen = _old_style_wrapper(function, args, hook_name, impl, kw)
        else:
            gen = function(*args, **kw)
            if refuse_async and inspect.isasyncgen(gen):
                raise TypeError(
                    f"async generator wrapper {impl.plugin_name}:{hook_name} is not supported; "
                    "write wrappers as plain generators"
                )
        next(gen)  # first yield
    except StopIteration:
        append(_now() - t0)
        if context is not None:
            context.failed()
        _raise_wrapfail(gen, "did not yield")
    except Exception as exc:
        if not count_failure(exc, impl, context, append, t0, errors):
            raise
        return
    except BaseException:
        append(_now() - t0)
        raise
    teardowns.append((gen, context, append, _now() - t0, impl))


def teardown_one(  # noqa: PLR0917 - called positionally from generated code
    teardown: Teardown,
    ident: PluginContext | None,
    context: PluginContext | None,
    append: Callable[[int], object],
    setup_ns: int,
    result: Any,
    exception: BaseException | None,
) -> tuple[Any, BaseException | None]:
    """Run one wrapper's post-yield block (a turn of pluggy's teardown loop); return the outcome."""
    __tracebackhide__ = True
    _cv_set(ident)
    t0 = _now()
    try:
        if exception is not None:
            try:
                teardown.throw(exception)
            except RuntimeError as re:
                # StopIteration from generator causes RuntimeError even for coroutine usage (#544)
                if isinstance(exception, StopIteration) and re.__cause__ is exception:
                    teardown.close()
                    append(setup_ns + _now() - t0)
                    return result, exception
                raise
        else:
            teardown.send(result)
        # Following is unreachable for a well behaved hook wrapper.
        teardown.close()
    except StopIteration as si:
        append(setup_ns + _now() - t0)
        return si.value, None
    except BaseException as e:  # noqa: BLE001 - becomes the outcome, as in pluggy
        append(setup_ns + _now() - t0)
        if e is not exception and isinstance(e, Exception) and context is not None:
            context.failed()
        return result, e
    append(setup_ns + _now() - t0)
    raise _wrapfail_error(teardown, "has second yield")


def second_yield(  # noqa: PLR0917 - called positionally from generated code
    teardown: Teardown,
    context: PluginContext | None,
    append: Callable[[int], object],
    setup_ns: int,
    t0: int,
    result: Any,
) -> tuple[Any, BaseException | None]:
    """Finish a wrapper whose teardown yielded again after ``send``, as :func:`teardown_one` does (pluggy's rule).

    Raises:
        RuntimeError: the wrapper "has second yield" (raised out of the call, as pluggy does), unless closing the
            generator raised: then that is the outcome.
    """
    __tracebackhide__ = True
    try:
        teardown.close()
    except BaseException as e:  # noqa: BLE001 - becomes the outcome, as in pluggy
        append(setup_ns + _now() - t0)
        if isinstance(e, Exception) and context is not None:
            context.failed()
        return result, e
    append(setup_ns + _now() - t0)
    raise _wrapfail_error(teardown, "has second yield")


def run_teardowns(
    teardowns: Teardowns,
    result: Any,
    exception: BaseException | None,
    errors: list[tuple[str, BaseException]] | None,
    outer: PluginContext | None,
) -> tuple[Any, BaseException | None]:
    """Run the wrappers' post-yield blocks in reverse; restore *outer* as the identity.

    With *errors* (isolation), a new exception from a wrapper is recorded there and the incoming
    outcome kept.
    """
    __tracebackhide__ = True
    try:
        for teardown, context, append, setup_ns, impl in reversed(teardowns):
            ident = outer if context is None or context.as_caller else context
            new_result, new_exception = teardown_one(teardown, ident, context, append, setup_ns, result, exception)
            if (
                errors is not None
                and new_exception is not None
                and new_exception is not exception
                and isinstance(new_exception, Exception)
            ):
                errors.append((impl.plugin_name, new_exception))
                continue
            result, exception = new_result, new_exception
    finally:
        _cv_set(outer)
    return result, exception


def _hook_error(hook_name: str, errors: list[tuple[str, BaseException]], result: object) -> HookError:
    names = ", ".join(sorted({plugin for plugin, _ in errors}))
    message = f"{len(errors)} implementation(s) of hook {hook_name!r} failed ({names})"
    error = HookError(message, hook=hook_name, errors=errors, results=result)
    group = getattr(builtins, "ExceptionGroup", None)
    error.__cause__ = group(message, [e for _, e in errors]) if group is not None else errors[0][1]
    return error


def multicall(
    hook_name: str,
    hook_impls: Sequence[HookImpl],
    caller_kwargs: Mapping[str, object],
    firstresult: bool,
) -> object | list[object]:
    """Drop-in replacement for ``pluggy._callers._multicall`` (implementations run as host code)."""
    __tracebackhide__ = True
    entries = [make_entry(impl, None) for impl in reversed(hook_impls)]
    result: object | list[object] = call_general(hook_name, entries, caller_kwargs, firstresult, False)
    return result


# --- old-style hook wrappers (pluggy's, with the warning pointing at the caller) ------------------


def _old_style_wrapper(
    function: Callable[..., object],
    args: Sequence[object],
    hook_name: str,
    impl: HookImpl,
    kwargs: Mapping[str, object] | None = None,
) -> Teardown:
    teardown = cast(Teardown, function(*args, **kwargs) if kwargs else function(*args))
    try:
        next(teardown)
    except StopIteration:
        _raise_wrapfail(teardown, "did not yield")
    try:
        res = yield
        result: Result[object] = Result(res, None)
    except BaseException as exc:  # noqa: BLE001 - becomes the Result, as in pluggy
        result = Result(None, exc)
    try:
        teardown.send(result)
    except StopIteration:
        pass
    except BaseException as e:
        _warn_teardown_exception(hook_name, impl, e)
        raise
    else:
        _raise_wrapfail(teardown, "has second yield")
    finally:
        teardown.close()
    return result.get_result()


def _wrapfail_error(wrap_controller: Teardown, msg: str) -> RuntimeError:
    co = wrap_controller.gi_code  # type: ignore[attr-defined]
    return RuntimeError(f"wrap_controller at {co.co_name!r} {co.co_filename}:{co.co_firstlineno} {msg}")


def _raise_wrapfail(wrap_controller: Teardown, msg: str) -> NoReturn:
    raise _wrapfail_error(wrap_controller, msg)


def external_stacklevel() -> int:
    """Return the ``stacklevel`` of the first frame outside securehost and pluggy."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).startswith(_INTERNAL):
        frame = frame.f_back
        level += 1
    return level


def _warn_teardown_exception(hook_name: str, impl: HookImpl, e: BaseException) -> None:
    msg = "A plugin raised an exception during an old-style hookwrapper teardown.\n"
    msg += f"Plugin: {impl.plugin_name}, Hook: {hook_name}\n"
    msg += f"{type(e).__name__}: {e}\n"
    msg += "For more information see https://pluggy.readthedocs.io/en/stable/api_reference.html#pluggy.PluggyTeardownRaisedWarning"
    warnings.warn(PluggyTeardownRaisedWarning(msg), stacklevel=external_stacklevel())
