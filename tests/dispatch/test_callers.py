"""The call loops: pluggy's semantics (differential against bare pluggy), identity, isolation."""

from __future__ import annotations

import gc
import sys
import warnings
from typing import Any

import pluggy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import securehost
from securehost import HookspecMarker, SecurePluginManager, current_plugin
from securehost._dispatch import hookcaller, plan
from securehost._dispatch.callers import multicall
from securehost._dispatch.hookcaller import SecureHookCaller
from securehost._dispatch.plan import MAX_COMPILED
from securehost.exceptions import HookError

hookspec = HookspecMarker("demo")
hookimpl = pluggy.HookimplMarker("demo")


class Spec:
    @hookspec
    def work(self, x: int, log: list[str]) -> Any: ...

    @hookspec(firstresult=True)
    def first(self, x: int, log: list[str]) -> Any: ...

    @hookspec(isolate=True)
    def isolated(self, x: int, log: list[str]) -> Any: ...


# --- differential: random plugin line-ups behave as in bare pluggy --------------------------------

IMPL = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["plain", "wrapper", "hookwrapper"]),
        "order": st.sampled_from(["", "tryfirst", "trylast"]),
        "outcome": st.sampled_from(
            ["none", "value", "raise", "replace", "raise_teardown", "second_yield", "close_raises"]
        ),
    }
)


def _make_plugin(i: int, spec: dict[str, str], hook: str) -> object:
    kind, order, outcome = spec["kind"], spec["order"], spec["outcome"]
    opts: dict[str, bool] = {order: True} if order else {}

    if kind == "plain":

        def impl(x: int, log: list[str]) -> Any:
            log.append(f"call {i}")
            if outcome == "raise":
                raise ValueError(f"plain {i}")
            return None if outcome == "none" else x * 10 + i

        marked = hookimpl(**opts)(impl)
    elif kind == "wrapper":

        def impl(x: int, log: list[str]) -> Any:  # type: ignore[misc]
            log.append(f"setup {i}")
            if outcome == "raise":
                raise KeyError(f"setup {i}")
            try:
                result = yield
            except Exception as exc:
                log.append(f"teardown {i} saw {type(exc).__name__}")
                if outcome == "replace":
                    return [f"recovered {i}"]
                raise
            log.append(f"teardown {i} saw {result!r}")
            if outcome == "raise_teardown":
                raise RuntimeError(f"teardown {i}")
            if outcome in ("second_yield", "close_raises"):
                try:
                    yield  # a misbehaving wrapper: pluggy closes it and says "has second yield"
                except GeneratorExit:
                    log.append(f"closed {i}")
                    if outcome == "close_raises":
                        raise OSError(f"close {i}") from None
                    raise
            return [f"replaced {i}"] if outcome == "replace" else result

        marked = hookimpl(wrapper=True, **opts)(impl)
    else:

        def impl(x: int, log: list[str]) -> Any:  # type: ignore[misc]
            log.append(f"old setup {i}")
            outcome_obj = yield
            log.append(f"old teardown {i} exc={type(outcome_obj.exception).__name__}")
            if outcome == "replace":
                outcome_obj.force_result([f"forced {i}"])
            elif outcome == "raise":
                outcome_obj.force_exception(LookupError(f"forced {i}"))

        marked = hookimpl(hookwrapper=True, **opts)(impl)
    return type(f"Plugin{i}", (), {hook: staticmethod(marked)})()


def _run(manager: pluggy.PluginManager, hook: str) -> tuple[list[str], str]:
    log: list[str] = []
    try:
        result = getattr(manager.hook, hook)(x=1, log=log)
    except Exception as exc:  # the outcome is compared, whatever it is
        outcome = f"raised {type(exc).__name__}: {exc}"
    else:
        outcome = f"returned {result!r}"
    gc.collect()
    # After "has second yield" the outer wrappers are never torn down; the garbage collector closes their
    # generators in an order that depends on how each loop holds them: compare those lines as a set.
    closing = sorted(line for line in log if "GeneratorExit" in line or line.startswith("closed"))
    return [line for line in log if line not in closing] + closing, outcome


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # a generator closed by the GC raises
@given(st.lists(IMPL, max_size=7), st.sampled_from(["work", "first"]))
def test_same_behaviour_as_pluggy(impls: list[dict[str, str]], hook: str) -> None:
    outcomes = []
    for cls in (pluggy.PluginManager, SecurePluginManager):
        manager = cls("demo")
        manager.add_hookspecs(Spec)
        for i, spec in enumerate(impls):
            manager.register(_make_plugin(i, spec, hook), name=f"p{i}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pluggy.PluggyTeardownRaisedWarning)
            outcomes.append(_run(manager, hook))
    assert outcomes[0] == outcomes[1]


def test_multicall_replacement_matches_pluggy() -> None:
    from pluggy._callers import _multicall

    @hookimpl
    def f(x: int) -> int:
        return x + 1

    @hookimpl(wrapper=True)
    def w(x: int) -> Any:
        return [*(yield), "w"]

    impls = [pluggy.HookImpl(None, "<temp>", fn, fn.demo_impl) for fn in (f, w)]  # type: ignore[attr-defined]
    assert multicall("h", impls, {"x": 1}, False) == _multicall("h", impls, {"x": 1}, False) == [2, "w"]
    with pytest.raises(pluggy.HookCallError):
        multicall("h", impls, {}, False)


# --- identity -------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str | None, str | None]] = []

    @hookimpl
    def work(self, x: int, log: list[str]) -> int:
        context = current_plugin()
        self.seen.append((context.plugin, context.hook) if context else (None, None))
        return x

    @hookimpl(wrapper=True)
    def first(self, x: int, log: list[str]) -> Any:
        context = current_plugin()
        self.seen.append((context.plugin if context else None, "setup"))
        result = yield
        context = current_plugin()
        self.seen.append((context.plugin if context else None, "teardown"))
        return result


def _manager() -> SecurePluginManager:
    manager = SecurePluginManager("demo")
    manager.add_hookspecs(Spec)
    return manager


def test_each_implementation_runs_with_its_plugin_identity() -> None:
    manager = _manager()
    one, two = Recorder(), Recorder()
    manager.register(one, name="one", permissions=())
    manager.register(two, name="two", permissions=())
    assert current_plugin() is None
    assert manager.hook.work(x=3, log=[]) == [3, 3]
    assert current_plugin() is None
    assert one.seen == [("one", "work")]
    assert two.seen == [("two", "work")]
    manager.hook.first(x=1, log=[])
    assert one.seen[1:] == [("one", "setup"), ("one", "teardown")]


def test_identity_is_restored_after_an_error() -> None:
    manager = _manager()

    class Failing:
        @hookimpl
        def work(self, x: int, log: list[str]) -> int:
            raise ValueError("boom")

    manager.register(Failing(), name="failing", permissions=())
    with pytest.raises(ValueError, match="boom"):
        manager.hook.work(x=1, log=[])
    assert current_plugin() is None


def test_nested_hook_calls_restore_the_outer_plugin() -> None:
    manager = _manager()
    inner_seen: list[str | None] = []
    outer_after: list[str | None] = []

    class Inner:
        @hookimpl
        def first(self, x: int, log: list[str]) -> int:
            context = current_plugin()
            inner_seen.append(context.plugin if context else None)
            return 1

    class Outer:
        @hookimpl
        def work(self, x: int, log: list[str]) -> int:
            manager.hook.first(x=x, log=log)
            context = current_plugin()
            outer_after.append(context.plugin if context else None)
            return 0

    manager.register(Inner(), name="inner", permissions=())
    manager.register(Outer(), name="outer", permissions=())
    manager.hook.work(x=1, log=[])
    assert inner_seen == ["inner"]
    assert outer_after == ["outer"]


def test_call_extra_functions_run_with_the_callers_identity() -> None:
    manager = _manager()
    seen: list[str | None] = []

    def extra(x: int, log: list[str]) -> int:
        context = current_plugin()
        seen.append(context.plugin if context else None)
        return 7

    class Caller:
        @hookimpl
        def work(self, x: int, log: list[str]) -> int:
            return manager.hook.first.call_extra([extra], {"x": x, "log": log})  # type: ignore[no-any-return]

    assert manager.hook.first.call_extra([extra], {"x": 1, "log": []}) == 7
    manager.register(Caller(), name="caller", permissions=())
    assert manager.hook.work(x=1, log=[]) == [7]
    assert seen == [None, "caller"]


# --- isolation ------------------------------------------------------------------------------------


def _plugin(name: str, behaviour: str) -> object:
    class Plugin:
        @hookimpl
        def isolated(self, x: int, log: list[str]) -> Any:
            log.append(name)
            if behaviour == "raise":
                raise ValueError(name)
            return name

        @hookimpl
        def work(self, x: int, log: list[str]) -> Any:
            return self.isolated(x, log)

    return Plugin()


def test_isolated_hook_runs_every_implementation_and_raises_one_hook_error() -> None:
    manager = _manager()
    for name, behaviour in [("a", "ok"), ("b", "raise"), ("c", "ok"), ("d", "raise")]:
        manager.register(_plugin(name, behaviour), name=name, permissions=())
    log: list[str] = []
    with pytest.raises(HookError) as info:
        manager.hook.isolated(x=1, log=log)
    assert log == ["d", "c", "b", "a"]
    assert [plugin for plugin, _ in info.value.errors] == ["d", "b"]
    assert info.value.results == ["c", "a"]
    assert info.value.hook == "isolated"
    cause = info.value.__cause__
    if sys.version_info >= (3, 11):
        assert [str(e) for e in cause.exceptions] == ["d", "b"]  # type: ignore[union-attr]
    else:  # no ExceptionGroup: the first error
        assert cause is info.value.errors[0][1]
    stats = manager.stats()
    assert stats.get("b", "isolated").errors == 1  # type: ignore[union-attr]
    assert stats.get("a", "isolated").errors == 0  # type: ignore[union-attr]


def test_isolated_hook_without_failures_returns_results() -> None:
    manager = _manager()
    manager.register(_plugin("a", "ok"), name="a", permissions=())
    assert manager.hook.isolated(x=1, log=[]) == ["a"]


def test_manager_wide_isolation_and_per_hook_override() -> None:
    manager = SecurePluginManager("demo", isolate=True)

    class NoIsolation:
        @hookspec(isolate=False)
        def work(self, x: int, log: list[str]) -> Any: ...

    manager.add_hookspecs(NoIsolation)
    manager.register(_plugin("a", "raise"), name="a", permissions=())
    with pytest.raises(ValueError, match="a"):
        manager.hook.work(x=1, log=[])


def test_isolation_keeps_base_exceptions_propagating() -> None:
    manager = _manager()

    class Interrupt:
        @hookimpl
        def isolated(self, x: int, log: list[str]) -> Any:
            raise KeyboardInterrupt

    manager.register(Interrupt(), name="interrupt", permissions=())
    manager.register(_plugin("a", "ok"), name="a", permissions=())
    with pytest.raises(KeyboardInterrupt):
        manager.hook.isolated(x=1, log=[])


def test_isolated_wrapper_errors_are_collected() -> None:
    manager = _manager()

    class BadWrapper:
        @hookimpl(wrapper=True)
        def isolated(self, x: int, log: list[str]) -> Any:
            yield
            raise RuntimeError("teardown")

    class BadSetup:
        @hookimpl(wrapper=True)
        def isolated(self, x: int, log: list[str]) -> Any:
            raise RuntimeError("setup")
            yield  # pragma: no cover

    manager.register(_plugin("a", "ok"), name="a", permissions=())
    manager.register(BadWrapper(), name="bad-teardown", permissions=())
    manager.register(BadSetup(), name="bad-setup", permissions=())
    with pytest.raises(HookError) as info:
        manager.hook.isolated(x=1, log=[])
    assert sorted(p for p, _ in info.value.errors) == ["bad-setup", "bad-teardown"]
    assert info.value.results == ["a"]


# --- plans ----------------------------------------------------------------------------------------


def test_more_implementations_than_a_compiled_plan_holds() -> None:
    manager = _manager()
    count = MAX_COMPILED + 3
    for i in range(count):
        manager.register(_plugin(f"p{i}", "ok"), name=f"p{i}", permissions=())
    assert len(manager.hook.work(x=1, log=[])) == count
    assert manager.stats().calls == count


def test_a_plan_runs_the_generic_loop_for_its_first_calls_then_compiles_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hook called a few times (a CLI host's start-up) is never compiled; a hook called often is, once."""
    compiled: list[str] = []
    real = hookcaller.compile_plan

    def counting(*args: Any, **kwargs: Any) -> Any:
        compiled.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(hookcaller, "compile_plan", counting)
    monkeypatch.setattr(plan, "COMPILE_AFTER", 3)
    manager = _manager()
    for name in ("a", "b"):
        manager.register(_plugin(name, "ok"), name=name, permissions=())
    for call in range(1, 7):
        assert manager.hook.work(x=1, log=[]) == ["b", "a"]
        assert compiled == ([] if call <= 3 else ["work"])
        assert (type(manager.hook.work) is SecureHookCaller) == (call <= 3)  # specialised once compiled
    assert manager.stats().calls == 12  # both paths count every call
    manager.register(_plugin("c", "ok"), name="c", permissions=())  # a new plan starts generic again
    assert manager.hook.work(x=1, log=[]) == ["c", "b", "a"]
    assert type(manager.hook.work) is SecureHookCaller
    assert compiled == ["work"]


def test_missing_argument_raises_hook_call_error_after_earlier_implementations() -> None:
    manager = SecurePluginManager("demo")

    class Loose:
        @hookspec
        def loose(self, a: int, b: int) -> Any: ...

    manager.add_hookspecs(Loose)
    calls: list[str] = []

    class NeedsA:
        @hookimpl(tryfirst=True)
        def loose(self, a: int) -> int:
            calls.append("a")
            return a

    class NeedsB:
        @hookimpl(trylast=True)
        def loose(self, b: int) -> int:
            calls.append("b")  # pragma: no cover
            return b  # pragma: no cover

    manager.register(NeedsA(), name="needs-a", permissions=())
    manager.register(NeedsB(), name="needs-b", permissions=())
    with (
        pytest.warns(UserWarning, match="'b'") as record,
        pytest.raises(pluggy.HookCallError, match="'b'"),
    ):
        manager.hook.loose(a=1)
    assert calls == ["a"]
    assert record[0].filename == __file__


def test_tracing_takes_the_generic_path_and_back() -> None:
    manager = _manager()
    manager.register(_plugin("a", "ok"), name="a", permissions=())
    traced: list[str] = []
    undo = manager.add_hookcall_monitoring(
        lambda name, impls, kwargs: traced.append(name), lambda outcome, name, impls, kwargs: None
    )
    assert manager.hook.work(x=1, log=[]) == ["a"]
    assert traced == ["work"]
    undo()
    assert manager.hook.work(x=1, log=[]) == ["a"]
    assert traced == ["work"]
    assert manager.stats().get("a", "work").calls == 2  # type: ignore[union-attr]


def test_historic_hooks_are_instrumented() -> None:
    manager = SecurePluginManager("demo")

    class History:
        @hookspec(historic=True)
        def started(self, x: int) -> None: ...

    manager.add_hookspecs(History)
    results: list[int] = []
    manager.hook.started.call_historic(results.append, kwargs={"x": 2})

    class Late:
        @hookimpl
        def started(self, x: int) -> int:
            context = current_plugin()
            assert context is not None
            return x * 10

    manager.register(Late(), name="late", permissions=())
    assert results == [20]
    assert manager.stats().get("late", "started").calls == 1  # type: ignore[union-attr]
    with pytest.raises(AssertionError):
        manager.hook.started(x=1)


def test_public_names_are_exported() -> None:
    assert len(set(securehost.__all__)) == len(securehost.__all__)
    for name in securehost.__all__:
        assert hasattr(securehost, name)
