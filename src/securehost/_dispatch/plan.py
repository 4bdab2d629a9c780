"""Compiled call plans: one straight-line function per hook, regenerated when it changes.

pluggy's generic loop pays, per implementation and per call, for a list comprehension that collects
arguments, attribute lookups on the ``HookImpl`` and branches on wrapper flags. A compiled plan pays
none of that: every argument is read once from the call's keyword dict, and each implementation
becomes a few lines with its function, context and counter bound as constants. That leaves room for
what securehost adds (switching the plugin identity, clock reads, one counter append per
implementation) while staying faster than pluggy.

Timing shares clock reads between neighbours: the latency of a non-wrapper implementation runs from
its start to the start of the next one, so it includes the next identity switch (about 0.05 µs); a
wrapper's latency is its setup plus its teardown, and they share clock reads the same way: a setup runs from the
end of the previous one, a teardown from the end of what it wraps (the last implementation, or the inner wrapper's
teardown), so each includes its own identity switch.

The generated source depends only on argument names (Python identifiers from ``inspect.signature``,
embedded with ``repr``) and positions; plugin names and objects are bound through the namespace,
never spliced into code.
"""

from __future__ import annotations

import functools
import itertools
from time import perf_counter_ns
from typing import TYPE_CHECKING, Any, Final

from securehost._context import CURRENT
from securehost._dispatch.callers import (
    OLD_WRAPPER,
    _old_style_wrapper,
    _raise_wrapfail,
    call_general,
    second_yield,
    teardown_one,
)
from securehost._dispatch.stats import FLUSH_MASK

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from securehost._dispatch.callers import Entry

__all__ = ["COMPILE_AFTER", "MAX_COMPILED", "compile_plan"]

MAX_COMPILED: Final = 64  # larger plans use the generic loop (keeps generated functions small)
#: A plan runs the generic loop for this many calls before it is compiled: compiling costs about 0.1 ms per
#: implementation, which a hook called once or twice (a CLI host's start-up) never earns back.
COMPILE_AFTER = 8
_counter = itertools.count()
_NAME: Final = "securehost._dispatch.plan"


def _generic(  # noqa: PLR0917 - bound with functools.partial
    hook_name: str,
    entries: tuple[Entry, ...],
    firstresult: bool,
    defaults: dict[str, object],
    verify: Callable[[Mapping[str, object]], None],
    kwargs: Mapping[str, object],
) -> Any:
    __tracebackhide__ = True
    verify({**defaults, **kwargs} if defaults else kwargs)
    return call_general(hook_name, entries, {**defaults, **kwargs} if defaults else kwargs, firstresult, False)


class _Source:
    def __init__(self, depth: int) -> None:
        self.lines: list[str] = []
        self.base = depth

    def __call__(self, depth: int, text: str) -> None:
        self.lines.append("    " * (self.base + depth) + text)


def compile_plan(
    hook_name: str,
    wrappers: Sequence[Entry],
    plain: Sequence[Entry],
    *,
    firstresult: bool,
    spec_args: tuple[str, ...],
    defaults: Mapping[str, object],
    verify: Callable[[Mapping[str, object]], None],
    flush: Callable[[], None],
) -> Callable[..., Any]:
    """Return ``__call__(self, **kwargs)``: set up *wrappers*, call *plain*, tear wrappers down.

    The function reads every argument that the specification or an implementation names once; if one
    is missing it hands the call to the generic loop, which warns through *verify* about missing
    specification arguments and raises :class:`pluggy.HookCallError` in pluggy's order. Arguments
    with specification *defaults* (pluggy >= 1.7) are optional. Every 1024 calls it drains latency
    samples through *flush*.
    """
    entries = (*wrappers, *plain)
    ns: dict[str, Any] = {
        "_get": CURRENT.get,
        "_set": CURRENT.set,
        "_now": perf_counter_ns,
        "_tick": itertools.count(1).__next__,
        "_flush": flush,
        "_old": _old_style_wrapper,
        "_wrapfail": _raise_wrapfail,
        "_teardown": teardown_one,
        "_second": second_yield,
        "_fallback": functools.partial(_generic, hook_name, entries, firstresult, dict(defaults), verify),
        "HOOK": hook_name,
    }
    emit = _Source(depth=1)
    emit(0, "def __call__(self, **kwargs):")
    emit(1, "__tracebackhide__ = True")
    emit(1, f"if not _tick() & {FLUSH_MASK}:")
    emit(2, "_flush()")
    used = [name for entry in entries for name in entry[6].argnames]
    names = list(dict.fromkeys([*used, *spec_args]))
    index = {name: j for j, name in enumerate(names)}
    for j, n in enumerate(names):
        if n in defaults:
            ns[f"d{j}"] = defaults[n]
    required = [f"v{j} = kwargs[{n!r}]" for j, n in enumerate(names) if n not in defaults]
    if required:
        emit(1, "try:")
        emit(2, "; ".join(required))
        emit(1, "except KeyError:")
        emit(2, "return _fallback(kwargs)")
    for j, n in enumerate(names):
        if n in defaults:
            emit(1, f"v{j} = kwargs.get({n!r}, d{j})")
    emit(1, "outer = _get()")

    def args_of(entry: Entry) -> str:
        return ", ".join(f"v{index[n]}" for n in entry[6].argnames)

    def ident(i: int, entry: Entry) -> str:
        return "outer" if entry[3] is None or entry[3].as_caller else f"c{i}"

    for i, (function, _arity, _getter, context, append, _kind, impl) in enumerate(entries):
        ns[f"f{i}"], ns[f"c{i}"], ns[f"a{i}"], ns[f"i{i}"] = function, context, append, impl

    def failed(depth: int, i: int, entry: Entry, *, count: bool) -> None:
        emit(depth, f"a{i}(_now() - t)")
        if count and entry[3] is not None:
            emit(depth, f"c{i}.failed()")

    def plain_calls(depth: int, *, on_result: str, fresh_clock: bool) -> None:
        offset = len(wrappers)
        if not plain:
            emit(depth, "pass")
            return
        emit(depth, f"_set({ident(offset, plain[0])})")
        if fresh_clock:  # else ``t`` is the end of the last wrapper's setup
            emit(depth, "t = _now()")
        for k, entry in enumerate(plain):
            i = offset + k
            emit(depth, "try:")
            emit(depth + 1, f"r = f{i}({args_of(entry)})")
            emit(depth, "except Exception:")
            failed(depth + 1, i, entry, count=True)
            emit(depth + 1, "raise")
            emit(depth, "except BaseException:")
            failed(depth + 1, i, entry, count=False)
            emit(depth + 1, "raise")
            if k + 1 < len(plain):
                emit(depth, f"_set({ident(i + 1, plain[k + 1])})")
            emit(depth, "u = _now()")
            emit(depth, f"a{i}(u - t)")
            emit(depth, "t = u")
            emit(depth, on_result)

    if not wrappers:
        if not firstresult:
            emit(1, "results = []")
        emit(1, "try:")
        plain_calls(
            2,
            on_result="if r is not None: return r" if firstresult else "if r is not None: results.append(r)",
            fresh_clock=True,
        )
        emit(1, "finally:")
        emit(2, "_set(outer)")
        emit(1, "return None" if firstresult else "return results")
    else:
        emit(1, "exc = None")
        emit(1, "result = None")
        emit(1, "n = 0")
        for w in range(len(wrappers)):
            emit(1, f"g{w} = None")
        emit(1, "try:")
        emit(2, "try:")
        emit(3, "t = _now()")  # one clock read per boundary: a setup ends where the next one starts
        for w, entry in enumerate(wrappers):
            emit(3, f"_set({ident(w, entry)})")
            emit(3, "try:")
            old = f"_old(f{w}, ({args_of(entry)}{',' if entry[6].argnames else ''}), HOOK, i{w})"
            emit(4, f"g{w} = {old if entry[5] == OLD_WRAPPER else f'f{w}({args_of(entry)})'}")
            emit(4, f"next(g{w})")
            emit(3, "except StopIteration:")
            failed(4, w, entry, count=True)
            emit(4, f'_wrapfail(g{w}, "did not yield")')
            emit(3, "except Exception:")
            failed(4, w, entry, count=True)
            emit(4, "raise")
            emit(3, "except BaseException:")
            failed(4, w, entry, count=False)
            emit(4, "raise")
            emit(3, "u = _now()")
            emit(3, f"s{w} = u - t")
            emit(3, "t = u")
            emit(3, f"n = {w + 1}")
        if firstresult:
            emit(3, "r = None")
            emit(3, "while True:")
            plain_calls(4, on_result="if r is not None: break", fresh_clock=False)
            emit(4, "break")
            emit(3, "result = r")
        else:
            emit(3, "results = []")
            plain_calls(3, on_result="if r is not None: results.append(r)", fresh_clock=False)
            emit(3, "result = results")
        emit(2, "except BaseException as e:")
        emit(3, "exc = e")
        emit(1, "finally:")
        emit(2, "try:")
        for w in reversed(range(len(wrappers))):
            entry = wrappers[w]
            emit(3, f"if n > {w}:")
            # the common case inline (no exception to throw in, the wrapper returns): one call less per wrapper
            # ``t`` is where the inner part ended (the last implementation, or the inner wrapper's teardown)
            emit(4, "if exc is None:")
            emit(5, f"_set({ident(w, entry)})")
            emit(5, "try:")
            emit(6, f"g{w}.send(result)")
            emit(5, "except StopIteration as si:")
            emit(6, "u = _now()")
            emit(6, f"a{w}(s{w} + u - t)")
            emit(6, "t = u")
            emit(6, "result = si.value")
            emit(5, "except BaseException as e:")
            emit(6, "u = _now()")
            emit(6, f"a{w}(s{w} + u - t)")
            emit(6, "t = u")
            if entry[3] is not None:
                emit(6, f"if isinstance(e, Exception): c{w}.failed()")
            emit(6, "exc = e")
            emit(5, "else:")
            emit(6, f"result, exc = _second(g{w}, c{w}, a{w}, s{w}, t, result)")
            emit(6, "t = _now()")
            emit(4, "else:")
            emit(5, f"result, exc = _teardown(g{w}, {ident(w, entry)}, c{w}, a{w}, s{w}, result, exc)")
            emit(5, "t = _now()")
        emit(2, "finally:")
        emit(3, "_set(outer)")
        emit(1, "if exc is not None:")
        emit(2, "raise exc")
        emit(1, "return result")
    emit.lines.append("    return __call__")
    # constants become closure variables of ``make`` (fast to load); only the module name stays
    # global
    names_bound = sorted(ns)
    source = f"def make({', '.join(names_bound)}):\n" + "\n".join(emit.lines) + "\n"
    filename = f"<securehost plan {hook_name} #{next(_counter)}>"
    namespace: dict[str, Any] = {"__name__": _NAME}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - identifiers only, see module doc
    call: Callable[..., Any] = namespace["make"](**ns)
    return call
