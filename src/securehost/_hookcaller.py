"""The hook caller: pluggy's :class:`~pluggy.HookCaller` with a call plan precomputed at registration.

A plan is an immutable tuple of call entries in call order (quarantined implementations left out), built the first
time a hook is called after its implementations or specification changed. Calls take the current plan and never
copy a list, so a plugin registered during a call (pluggy #438) joins from the next call on.

A call goes straight to the instrumented loop unless the manager's ``_inner_hookexec`` has been replaced (tracing,
``add_hookcall_monitoring``) or the hook is historic; then it takes pluggy's own path, which ends in the manager's
instrumented ``_multicall`` replacement, so counters, identity and isolation apply on every path.
"""

from __future__ import annotations

import itertools
import warnings
from typing import TYPE_CHECKING, Any, Final, Protocol, final

from pluggy import HookCaller

from securehost._callers import PLAIN, Entry, call_general, call_plain
from securehost._markers import SpecExtras, spec_extras
from securehost._stats import FLUSH_MASK

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pluggy import HookImpl, HookspecOpts

    from securehost._stats import Cell

__all__ = ["Plan", "SecureHookCaller"]


class PlanSource(Protocol):
    """What a hook caller needs from its manager."""

    _direct: bool

    def _entry_for(self, impl: HookImpl) -> Entry | None: ...

    def _isolate_for(self, extras: SpecExtras) -> bool: ...


@final
class Plan:
    """An immutable call plan."""

    __slots__ = ("cells", "direct", "entries", "firstresult", "isolate", "simple", "spec_args")

    def __init__(self, entries: tuple[Entry, ...], *, firstresult: bool, isolate: bool, historic: bool, spec_args: frozenset[str]) -> None:
        self.entries: Final = entries
        self.firstresult: Final = firstresult
        self.isolate: Final = isolate
        self.direct: Final = not historic
        self.spec_args: Final = spec_args
        self.simple: Final = not isolate and all(e[5] == PLAIN and e[3] is not None for e in entries)
        self.cells: Final[tuple[Cell, ...]] = tuple(e[3]._cell for e in entries if e[3] is not None)

    def flush(self) -> None:
        """Fold pending latency samples of every implementation into its counters."""
        for cell in self.cells:
            cell.flush()


class SecureHookCaller(HookCaller):
    """A :class:`pluggy.HookCaller` whose calls run through securehost's precomputed, instrumented plan."""

    __slots__ = ("_pm", "_plan", "_tick")

    def __init__(
        self,
        name: str,
        hook_execute: Any,
        manager: PlanSource,
        specmodule_or_class: Any = None,
        spec_opts: HookspecOpts | None = None,
    ) -> None:
        """:meta private:"""
        self._pm: Final = manager
        self._plan: Plan | None = None
        self._tick = itertools.count(1)
        super().__init__(name, hook_execute, specmodule_or_class, spec_opts)

    def invalidate(self) -> None:
        """Drop the call plan; the next call builds a new one."""
        self._plan = None

    def set_specification(self, specmodule_or_class: Any, spec_opts: HookspecOpts) -> None:  # noqa: D102
        super().set_specification(specmodule_or_class, spec_opts)
        self._plan = None

    def _add_hookimpl(self, hookimpl: HookImpl) -> None:
        super()._add_hookimpl(hookimpl)
        self._plan = None

    def _remove_plugin(self, plugin: object) -> None:
        try:
            super()._remove_plugin(plugin)
        finally:
            self._plan = None

    def _remove_hookimpl(self, hookimpl: HookImpl) -> None:
        self._hookimpls.remove(hookimpl)
        self._plan = None

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
            tuple(entries),
            firstresult=bool(spec.opts.get("firstresult", False)) if spec is not None else False,
            isolate=self._pm._isolate_for(self.extras),
            historic=self.is_historic(),
            spec_args=frozenset(spec.argnames) if spec is not None else frozenset(),
        )
        self._plan = plan
        return plan

    def _verify_all_args_are_provided(self, kwargs: Mapping[str, object]) -> None:
        # pluggy's check, with the warning pointing at the code that called the hook
        if self.spec:
            for argname in self.spec.argnames:
                if argname not in kwargs:
                    notincall = ", ".join(repr(a) for a in self.spec.argnames if a not in kwargs.keys())
                    warnings.warn(
                        f"Argument(s) {notincall} which are declared in the hookspec cannot be found in this hook call",
                        stacklevel=3,
                    )
                    break

    def __call__(self, **kwargs: object) -> Any:
        """Call the hook (keyword arguments only); see :meth:`pluggy.HookCaller.__call__`."""
        __tracebackhide__ = True
        plan = self._plan or self._build_plan()
        if plan.direct and self._pm._direct:
            if not kwargs.keys() >= plan.spec_args:
                self._verify_all_args_are_provided(kwargs)
            if not next(self._tick) & FLUSH_MASK:
                plan.flush()
            if plan.simple:
                return call_plain(plan.entries, kwargs, plan.firstresult)
            return call_general(self.name, plan.entries, kwargs, plan.firstresult, plan.isolate)
        return super().__call__(**kwargs)
