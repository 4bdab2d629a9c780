"""Async hook calls: ``await pm.ahook.name(...)`` with identity, counters, isolation, guard."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pluggy
import pytest

from securehost import HookspecMarker, SecurePluginManager, current_plugin
from securehost.exceptions import HookError, PermissionDeniedError

hookspec = HookspecMarker("aio")
hookimpl = pluggy.HookimplMarker("aio")


class Spec:
    @hookspec
    def fetch(self, key: str) -> Any: ...

    @hookspec(firstresult=True)
    def first(self, key: str) -> Any: ...

    @hookspec(isolate=True)
    def gather(self, key: str) -> Any: ...

    @hookspec(historic=True)
    def started(self) -> None: ...


class AsyncPlugin:
    def __init__(self, name: str, delay: float = 0.0, fail: bool = False) -> None:
        self.name = name
        self.delay = delay
        self.fail = fail
        self.seen: list[str | None] = []

    @hookimpl
    async def fetch(self, key: str) -> str:
        await asyncio.sleep(self.delay)
        context = current_plugin()
        self.seen.append(context.plugin if context else None)
        return f"{self.name}:{key}"

    @hookimpl
    async def first(self, key: str) -> str | None:
        await asyncio.sleep(0)
        return None if self.name == "skip" else self.name

    @hookimpl
    async def gather(self, key: str) -> str:
        await asyncio.sleep(0)
        if self.fail:
            raise ValueError(self.name)
        return self.name


class SyncPlugin:
    @hookimpl
    def fetch(self, key: str) -> str:
        return f"sync:{key}"

    @hookimpl(wrapper=True)
    def first(self, key: str) -> Any:
        result = yield
        return f"wrapped({result})"


def _manager() -> SecurePluginManager:
    manager = SecurePluginManager("aio")
    manager.add_hookspecs(Spec)
    return manager


def test_awaits_coroutine_and_plain_implementations() -> None:
    manager = _manager()
    manager.register(AsyncPlugin("a"), name="a", permissions=())
    manager.register(SyncPlugin(), name="s", permissions=())
    assert asyncio.run(manager.ahook.fetch(key="k")) == ["sync:k", "a:k"]
    assert repr(manager.ahook.fetch) == "<AsyncHookCaller 'fetch'>"
    assert manager.ahook.fetch.name == "fetch"


def test_firstresult_and_sync_wrappers() -> None:
    manager = _manager()
    manager.register(AsyncPlugin("second"), name="second", permissions=())
    manager.register(AsyncPlugin("skip"), name="skip", permissions=())
    manager.register(SyncPlugin(), name="wrapper", permissions=())
    assert asyncio.run(manager.ahook.first(key="k")) == "wrapped(second)"


def test_concurrent_calls_keep_identities_apart() -> None:
    manager = _manager()
    slow, fast = AsyncPlugin("slow", delay=0.02), AsyncPlugin("fast", delay=0.0)
    manager.register(slow, name="slow", permissions=())
    manager.register(fast, name="fast", permissions=())

    async def main() -> list[Any]:
        calls = [manager.ahook.fetch(key=str(i)) for i in range(5)]
        return await asyncio.gather(*calls)

    results = asyncio.run(main())
    assert results == [[f"fast:{i}", f"slow:{i}"] for i in range(5)]
    assert slow.seen == ["slow"] * 5
    assert fast.seen == ["fast"] * 5
    assert current_plugin() is None
    stats = manager.stats()
    slow_stats = stats.get("slow", "fetch")
    assert slow_stats is not None
    assert slow_stats.calls == 5
    assert slow_stats.min_ns is not None
    assert slow_stats.min_ns >= 20_000_000  # time spent suspended counts


def test_isolation_in_async_calls() -> None:
    manager = _manager()
    manager.register(AsyncPlugin("good"), name="good", permissions=())
    manager.register(AsyncPlugin("bad", fail=True), name="bad", permissions=())
    with pytest.raises(HookError) as info:
        asyncio.run(manager.ahook.gather(key="k"))
    assert [p for p, _ in info.value.errors] == ["bad"]
    assert info.value.results == ["good"]
    stats = manager.stats().get("bad", "gather")
    assert stats is not None
    assert stats.errors == 1


def test_historic_hooks_cannot_be_awaited() -> None:
    manager = _manager()
    with pytest.raises(TypeError, match="historic"):
        asyncio.run(manager.ahook.started())


def test_unknown_hook_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError):
        _manager().ahook.nope  # noqa: B018


def test_async_generator_wrappers_are_rejected() -> None:
    class AsyncWrapper:
        @hookimpl(wrapper=True)
        async def fetch(self, key: str) -> Any:
            yield

    with pytest.raises(pluggy.PluginValidationError):
        _manager().register(AsyncWrapper(), name="agen", permissions=())
    unchecked = SecurePluginManager("aio")  # no specification: pluggy cannot validate
    unchecked.register(AsyncWrapper(), name="agen", permissions=())
    with pytest.raises(TypeError, match="async generator"):
        asyncio.run(unchecked.ahook.fetch(key="k"))


def test_guard_applies_to_coroutines_and_the_tasks_they_start(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    manager = _manager()
    outcomes: list[Any] = []

    class Sneaky:
        @hookimpl
        async def fetch(self, key: str) -> str:
            async def later() -> str:
                return secret.read_text()

            task = asyncio.get_running_loop().create_task(later())  # inherits the identity
            try:
                await task
            except PermissionDeniedError as exc:
                outcomes.append(exc)
            return secret.read_text()

    manager.register(Sneaky(), name="sneaky", permissions=())
    with pytest.raises(PermissionDeniedError):
        asyncio.run(manager.ahook.fetch(key="k"))
    assert len(outcomes) == 1
    assert secret.read_text() == "s"  # host code, after the call


def test_callbacks_scheduled_by_a_sync_implementation_keep_its_identity(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("s")
    manager = _manager()
    outcome: list[Any] = []

    def callback() -> None:
        try:
            outcome.append(secret.read_text())
        except PermissionDeniedError as exc:
            outcome.append(exc)

    class Scheduler:
        @hookimpl
        def fetch(self, key: str) -> str:
            asyncio.get_running_loop().call_soon(callback)
            return key

    manager.register(Scheduler(), name="scheduler", permissions=())

    async def main() -> None:
        manager.hook.fetch(key="k")
        await asyncio.sleep(0.01)

    asyncio.run(main())
    assert len(outcome) == 1
    assert isinstance(outcome[0], PermissionDeniedError)
