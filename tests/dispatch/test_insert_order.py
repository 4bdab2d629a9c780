"""Where a new hook implementation goes: pluggy's order, found without a pass over every implementation."""

from __future__ import annotations

from typing import Any

import pluggy
from hypothesis import given, settings
from hypothesis import strategies as st
from pluggy import HookCaller, HookImpl

from securehost import SecurePluginManager
from securehost._dispatch.hookcaller import insert_hookimpl

hookspec = pluggy.HookspecMarker("order")
hookimpl = pluggy.HookimplMarker("order")

KINDS = ("plain", "hookwrapper", "wrapper")
PRIORITIES = ("none", "tryfirst", "trylast")


def _impl(index: int, kind: str, priority: str) -> HookImpl:
    def function() -> None:
        return None

    opts: Any = {
        "wrapper": kind == "wrapper",
        "hookwrapper": kind == "hookwrapper",
        "optionalhook": False,
        "tryfirst": priority == "tryfirst",
        "trylast": priority == "trylast",
        "specname": None,
    }
    return HookImpl(object(), f"p{index}", function, opts)


#: an operation: add an implementation of a kind and priority, or remove the one at a position (modulo the length)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(KINDS), st.sampled_from(PRIORITIES)),
        st.tuples(st.just("remove"), st.integers(min_value=0, max_value=50), st.just("")),
    ),
    max_size=60,
)


@settings(max_examples=300)
@given(operations)
def test_insertion_order_is_pluggys(ops: list[tuple[str, Any, str]]) -> None:
    reference = HookCaller("h", lambda *args: None)  # pluggy's own _add_hookimpl
    ours: list[HookImpl] = []
    for index, (op, first, second) in enumerate(ops):
        if op == "add":
            impl = _impl(index, first, second)
            reference._add_hookimpl(impl)
            insert_hookimpl(ours, impl)
        elif ours:
            gone = ours[first % len(ours)]
            ours.remove(gone)
            reference._hookimpls.remove(gone)
        assert [id(i) for i in ours] == [id(i) for i in reference._hookimpls]


def _counted(attribute: str) -> Any:
    """A flag that counts its reads in ``_Counted.reads``."""

    def read(self: _Counted) -> bool:
        _Counted.reads += 1
        return bool(getattr(self, attribute))

    return property(read)


class _Counted:
    """An implementation whose flags count how often they are read."""

    reads = 0
    wrapper = _counted("_wrapper")
    hookwrapper = _counted("_never")
    tryfirst = _counted("_tryfirst")
    trylast = _counted("_never")

    def __init__(self, *, wrapper: bool = False, tryfirst: bool = False) -> None:
        self._wrapper, self._tryfirst, self._never = wrapper, tryfirst, False


def test_registering_n_implementations_reads_a_bounded_number_of_flags_each() -> None:
    impls: list[Any] = []
    for _ in range(3):
        insert_hookimpl(impls, _Counted(wrapper=True))
    insert_hookimpl(impls, _Counted(tryfirst=True))
    _Counted.reads = 0
    n = 2000
    for _ in range(n):
        insert_hookimpl(impls, _Counted())
    # pluggy's walk from the front reads about n * n / 2 flags here; this reads a few per insertion
    assert _Counted.reads <= 20 * n
    assert [i.wrapper for i in impls[-3:]] == [True, True, True]
    assert impls[-4].tryfirst
    assert not any(i.wrapper or i.tryfirst for i in impls[:-4])


class Spec:
    @hookspec
    def step(self) -> Any: ...


def _plugins() -> list[tuple[str, object]]:
    made: list[tuple[str, object]] = []
    for index, (kind, priority) in enumerate(
        [(k, p) for k in KINDS for p in PRIORITIES] * 2 + [("plain", "none")] * 5 + [("wrapper", "tryfirst")]
    ):

        class Plugin:
            number = index

            if kind == "plain":

                @hookimpl(tryfirst=priority == "tryfirst", trylast=priority == "trylast")
                def step(self) -> Any:
                    return self.number

            elif kind == "wrapper":

                @hookimpl(wrapper=True, tryfirst=priority == "tryfirst", trylast=priority == "trylast")
                def step(self) -> Any:
                    return (yield)

            else:

                @hookimpl(hookwrapper=True, tryfirst=priority == "tryfirst", trylast=priority == "trylast")
                def step(self) -> Any:
                    yield

        made.append((f"p{index}", Plugin()))
    return made


def test_the_manager_orders_implementations_as_pluggy_does() -> None:
    plain = pluggy.PluginManager("order")
    secure = SecurePluginManager("order")
    for manager in (plain, secure):
        manager.add_hookspecs(Spec)
    plugins = _plugins()
    for name, plugin in plugins:
        plain.register(plugin, name=name)
        secure.register(plugin, name=name)
    assert [i.plugin_name for i in secure.hook.step.get_hookimpls()] == [
        i.plugin_name for i in plain.hook.step.get_hookimpls()
    ]
    secure.unregister(name="p3")
    plain.unregister(name="p3")
    assert [i.plugin_name for i in secure.hook.step.get_hookimpls()] == [
        i.plugin_name for i in plain.hook.step.get_hookimpls()
    ]
    assert secure.hook.step() == plain.hook.step()
