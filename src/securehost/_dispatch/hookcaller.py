"""The hook caller: pluggy's :class:`~pluggy.HookCaller` with a precomputed call plan.

A plan is an immutable tuple of call entries in call order (quarantined implementations left out),
built the first time a hook is called after its implementations or specification changed. Calls take
the current plan and never copy a list, so a plugin registered during a call (pluggy #438) joins
from the next call on.

The first call after a change builds the plan. Its first calls (:data:`~securehost._dispatch.plan.COMPILE_AFTER`)
run the generic loop; the next one compiles the plan and specialises the hook caller: its class becomes a
subclass whose ``__call__`` is the plan's compiled function, so later calls go straight there. While
the manager's ``_inner_hookexec`` is replaced (tracing, ``add_hookcall_monitoring``), and for
historic hooks, calls take pluggy's own path, which ends in the manager's instrumented
``_multicall`` replacement: counters, identity and isolation apply on every path.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from typing import TYPE_CHECKING, Any, Final, Protocol, cast, final

from pluggy import HookCaller

from securehost._dispatch import plan as _plans
from securehost._dispatch.callers import IMPL_KWARGS, PLAIN, Entry, call_general, external_stacklevel
from securehost._dispatch.markers import SpecExtras, spec_extras
from securehost._dispatch.plan import MAX_COMPILED, compile_plan
from securehost._dispatch.stats import FLUSH_MASK

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pluggy import HookImpl, HookspecOpts

    from securehost._dispatch.stats import Cell

__all__ = ["Plan", "SecureHookCaller", "insert_hookimpl"]


class PlanSource(Protocol):
    """What a hook caller needs from its manager."""

    _direct: bool

    def _entry_for(self, impl: HookImpl) -> Entry | None: ...

    def _admit(self, hook: SecureHookCaller, hookimpl: HookImpl, *, recheck: bool = False) -> bool: ...

    def _isolate_for(self, extras: SpecExtras) -> bool: ...


@final
class Plan:
    """A call plan, its entries immutable, and the function that runs it (``None`` for historic hooks).

    ``run`` starts as the generic loop; a plan that can be compiled keeps its compiler in ``compiler`` until
    :meth:`compiled` replaces ``run`` with the compiled function.
    """

    __slots__ = ("calls", "cells", "compiler", "defaults", "entries", "firstresult", "isolate", "run", "spec_args")

    def __init__(
        self,
        hook: SecureHookCaller,
        entries: tuple[Entry, ...],
        *,
        firstresult: bool,
        isolate: bool,
        spec_args: tuple[str, ...],
        defaults: Mapping[str, object],
    ) -> None:
        self.entries: Final = entries
        self.defaults: Final = dict(defaults)
        self.firstresult: Final = firstresult
        self.isolate: Final = isolate
        self.spec_args: Final = spec_args
        self.cells: Final[tuple[Cell, ...]] = tuple(cast("Cell", e[3]._cell) for e in entries if e[3] is not None)
        self.calls = 0  # calls taken by the generic loop while a compiler waits
        self.compiler: Callable[[], Callable[..., Any]] | None = None
        self.run: Callable[..., Any] | None = None if hook.is_historic() else self._runner(hook)

    def compiled(self) -> Callable[..., Any] | None:
        """Compile the plan if it waits for that; return what runs it from now on."""
        compiler = self.compiler
        if compiler is not None:
            self.run, self.compiler = compiler(), None
        return self.run

    def flush(self) -> None:
        """Fold pending latency samples of every implementation into its counters."""
        for cell in self.cells:
            cell.flush()

    def _runner(self, hook: SecureHookCaller) -> Callable[..., Any]:
        entries, verify = self.entries, hook._verify_all_args_are_provided
        split = next((i for i, e in enumerate(entries) if e[5] == PLAIN), len(entries))
        wrappers, plain = entries[:split], entries[split:]
        compilable = not IMPL_KWARGS or not any(e[6].kwargnames for e in entries)
        if not self.isolate and compilable and len(entries) <= MAX_COMPILED and all(e[5] == PLAIN for e in plain):
            self.compiler = functools.partial(
                compile_plan,
                hook.name,
                wrappers,
                plain,
                firstresult=self.firstresult,
                spec_args=self.spec_args,
                defaults=self.defaults,
                verify=verify,
                flush=self.flush,
            )
        # until it is compiled; for isolation, very many implementations, implementations with keyword parameters
        # (pluggy >= 1.7), or wrappers interleaved with plain ones (only possible by hand): the generic loop
        return _prologue(
            self,
            verify,
            functools.partial(_general, hook.name, entries, self.firstresult, self.isolate),
        )


def _general(
    hook_name: str,
    entries: tuple[Entry, ...],
    firstresult: bool,
    isolate: bool,
    kwargs: Mapping[str, object],
) -> Any:
    __tracebackhide__ = True
    return call_general(hook_name, entries, kwargs, firstresult, isolate)


def _prologue(
    plan: Plan,
    verify: Callable[[Mapping[str, object]], None],
    body: Callable[[Mapping[str, object]], Any],
) -> Callable[..., Any]:
    spec_args, flush, tick, defaults = (
        frozenset(plan.spec_args),
        plan.flush,
        itertools.count(1),
        plan.defaults,
    )

    def __call__(self: object, **kwargs: object) -> Any:  # noqa: N807
        __tracebackhide__ = True
        if defaults:
            kwargs = {**defaults, **kwargs}
        if not kwargs.keys() >= spec_args:
            verify(kwargs)
        if not next(tick) & FLUSH_MASK:
            flush()
        return body(kwargs)

    return __call__


def insert_hookimpl(impls: list[HookImpl], hookimpl: HookImpl) -> None:
    """Insert *hookimpl* into *impls* where :meth:`pluggy.HookCaller._add_hookimpl` puts it, without a pass over all.

    pluggy keeps every wrapper after every other implementation, and finds where the wrappers start by walking the
    list from the front: registering N plugins that implement one hook walks N²/2 entries (about 20 ms at 1,000
    plugins). The same place is found walking back over the wrappers alone, so the cost grows with the wrappers and
    the ``tryfirst`` implementations next to the insertion point, as pluggy's own last step does.
    """
    split = end = len(impls)
    while split and (impls[split - 1].hookwrapper or impls[split - 1].wrapper):
        split -= 1
    start, stop = (split, end) if hookimpl.hookwrapper or hookimpl.wrapper else (0, split)
    if hookimpl.trylast:
        impls.insert(start, hookimpl)
    elif hookimpl.tryfirst:
        impls.insert(stop, hookimpl)
    else:  # after the last implementation that is not tryfirst
        at = stop - 1
        while at >= start and impls[at].tryfirst:
            at -= 1
        impls.insert(at + 1, hookimpl)


class SecureHookCaller(HookCaller):
    """A :class:`pluggy.HookCaller` whose calls run through a precomputed, instrumented plan."""

    __slots__ = ("_plan", "_pm")
    _pm: PlanSource
    _plan: Plan | None

    @classmethod
    def adopt(cls, hook: HookCaller, manager: PlanSource) -> SecureHookCaller:
        """Return a securehost hook caller with the state (spec, implementations, ...) of *hook*."""
        adopted = cls.__new__(cls)
        for klass in type(hook).__mro__:
            for slot in getattr(klass, "__slots__", ()):
                if slot not in ("__dict__", "__weakref__") and hasattr(hook, slot):
                    object.__setattr__(adopted, slot, getattr(hook, slot))
        object.__setattr__(adopted, "_pm", manager)
        adopted._plan = None
        return adopted

    def invalidate(self) -> None:
        """Drop the call plan; the next call builds a new one."""
        self._plan = None
        if type(self) is not SecureHookCaller:
            self.__class__ = SecureHookCaller

    def set_specification(self, specmodule_or_class: Any, spec_opts: HookspecOpts) -> None:
        super().set_specification(specmodule_or_class, spec_opts)
        self.invalidate()

    def _add_hookimpl(self, hookimpl: HookImpl) -> None:
        if self._pm._admit(self, hookimpl):
            insert_hookimpl(self._hookimpls, hookimpl)
            self.invalidate()

    def _maybe_apply_history(self, method: HookImpl) -> None:
        if self._pm._admit(self, method):
            super()._maybe_apply_history(method)

    def _remove_plugin(self, plugin: object) -> None:
        try:
            super()._remove_plugin(plugin)
        finally:
            self.invalidate()

    def _remove_hookimpl(self, hookimpl: HookImpl) -> None:
        self._hookimpls.remove(hookimpl)
        self.invalidate()

    @property
    def extras(self) -> SpecExtras:
        """The securehost options of this hook's specification (defaults without one)."""
        return spec_extras(self.spec.opts if self.spec is not None else None)

    def _build_plan(self) -> Plan:
        entries = []
        for impl in reversed(self._hookimpls):
            entry = self._pm._entry_for(impl)
            if entry is not None:
                entries.append(entry)
        spec = self.spec
        plan = Plan(
            self,
            tuple(entries),
            firstresult=bool(spec.opts.get("firstresult", False)) if spec is not None else False,
            isolate=self._pm._isolate_for(self.extras),
            spec_args=tuple(spec.argnames) if spec is not None else (),
            defaults=getattr(spec, "kwargdefaults", None) or {},  # pluggy >= 1.7: spec argument defaults
        )
        self._plan = plan
        return plan

    def _verify_all_args_are_provided(self, kwargs: Mapping[str, object]) -> None:
        # pluggy's check, with the warning pointing at the code that called the hook
        if self.spec:
            for argname in self.spec.argnames:
                if argname not in kwargs:
                    notincall = ", ".join(repr(a) for a in self.spec.argnames if a not in kwargs)
                    warnings.warn(
                        f"Argument(s) {notincall} which are declared in the hookspec cannot be found in this hook call",
                        stacklevel=external_stacklevel(),
                    )
                    break

    def __call__(self, **kwargs: object) -> Any:
        """Call the hook (keyword arguments only); see :meth:`pluggy.HookCaller.__call__`.

        The first call after a change builds the plan. Its first few calls run the generic loop; then the plan
        is compiled and this caller specialised: its class becomes a subclass whose ``__call__`` is the compiled
        plan, so later calls go straight there.
        """
        __tracebackhide__ = True
        plan = self._plan or self._build_plan()
        run = plan.run
        if run is not None and self._pm._direct:
            if plan.compiler is not None:
                plan.calls += 1
                if plan.calls <= _plans.COMPILE_AFTER:
                    return run(self, **kwargs)
                run = cast("Callable[..., Any]", plan.compiled())
            self.__class__ = _specialised(run)
            return run(self, **kwargs)
        return HookCaller.__call__(self, **kwargs)


def _specialised(call: Callable[..., Any]) -> type[SecureHookCaller]:
    return type("SecureHookCaller", (SecureHookCaller,), {"__slots__": (), "__call__": call})
