"""The plugin manager: permissions at registration, hook requirements, context API, quarantine."""

from __future__ import annotations

import logging
from typing import Any

import pluggy
import pytest

from securehost import (
    HookspecMarker,
    Permission,
    PermissionSet,
    SecurePluginManager,
    current_plugin,
)
from securehost._audit import AUDIT_LOGGER_NAME, AuditLog
from securehost.exceptions import PermissionDeniedError, PermissionFormatError

hookspec = HookspecMarker("host")
hookimpl = pluggy.HookimplMarker("host")


class Spec:
    @hookspec
    def read(self, key: str) -> Any: ...

    @hookspec(requires=["db.write", "fs.write:/srv/out/**"])
    def store(self, key: str) -> Any: ...

    @hookspec(quarantine_after=3)
    def flaky(self, fail: bool) -> Any: ...


class Plugin:
    @hookimpl
    def read(self, key: str) -> str:
        return f"read {key}"

    @hookimpl
    def store(self, key: str) -> str:
        return f"stored {key}"

    @hookimpl
    def flaky(self, fail: bool) -> str:
        if fail:
            raise ValueError("flaky")
        return "ok"


@pytest.fixture
def events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER_NAME)
    records: list[dict[str, Any]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.securehost_event)  # type: ignore[attr-defined]

    handler = Collect()
    logging.getLogger(AUDIT_LOGGER_NAME).addHandler(handler)
    yield records
    logging.getLogger(AUDIT_LOGGER_NAME).removeHandler(handler)


def _manager(**kwargs: Any) -> SecurePluginManager:
    manager = SecurePluginManager("host", **kwargs)
    manager.add_hookspecs(Spec)
    return manager


def test_is_a_pluggy_plugin_manager() -> None:
    assert isinstance(_manager(), pluggy.PluginManager)


@pytest.mark.parametrize(
    "permissions",
    [
        PermissionSet.parse(["db.write", "fs.write:/srv/out/**"]),
        ["db.write", "fs.write:/srv/out/**"],
        [Permission.parse("db.write"), "fs.write:/srv/**"],
    ],
)
def test_register_accepts_permission_sets_and_iterables(permissions: Any) -> None:
    manager = _manager()
    assert manager.register(Plugin(), name="acme", permissions=permissions) == "acme"
    effective = manager.get_permissions("acme")
    assert effective is not None
    assert effective.covers(Permission.parse("db.write"))
    assert manager.hook.store(key="k") == ["stored k"]
    assert manager.skipped_impls() == ()


def test_register_with_empty_permissions_means_none() -> None:
    manager = _manager()
    manager.register(Plugin(), name="bare", permissions=())
    assert manager.get_permissions("bare") == PermissionSet()
    assert not manager.runs_as_host("bare")
    assert manager.get_permissions("unknown") is None


def test_register_rejects_bad_permissions_and_leaves_no_state() -> None:
    manager = _manager()
    with pytest.raises(TypeError):
        manager.register(Plugin(), name="x", permissions="db.write")  # type: ignore[arg-type]
    with pytest.raises(PermissionFormatError):
        manager.register(Plugin(), name="x", permissions=["fs.read:relative"])
    assert manager.get_plugin("x") is None
    assert manager.get_permissions("x") is None


def test_duplicate_and_blocked_registration_keep_pluggy_semantics() -> None:
    manager = _manager()
    plugin = Plugin()
    manager.register(plugin, name="acme", permissions=["db.write"])
    with pytest.raises(ValueError, match="already registered"):
        manager.register(Plugin(), name="acme", permissions=["fs.read:/**"])
    assert manager.get_permissions("acme") == PermissionSet.parse(["db.write"])
    manager.set_blocked("blocked")
    assert manager.register(Plugin(), name="blocked", permissions=["db.write"]) is None
    assert manager.get_permissions("blocked") is None


def test_hook_requirement_skips_and_reports_implementation(events: list[dict[str, Any]]) -> None:
    manager = _manager()
    manager.register(Plugin(), name="weak", permissions=["db.write"])
    assert manager.hook.store(key="k") == []
    assert manager.hook.read(key="k") == ["read k"]  # other hooks are unaffected
    (skipped,) = manager.skipped_impls()
    assert (skipped.plugin, skipped.hook) == ("weak", "store")
    assert skipped.missing.strings() == ("fs.write:/srv/out/**",)
    (event,) = [e for e in events if e["event"] == "hook.impl_skipped"]
    assert event["plugin"] == "weak"
    assert event["missing"] == ["fs.write:/srv/out/**"]
    manager.unregister(name="weak")
    assert manager.skipped_impls() == ()
    assert manager.get_permissions("weak") is None


def test_requirement_added_after_registration_removes_implementation() -> None:
    manager = SecurePluginManager("host")
    manager.register(Plugin(), name="early", permissions=["db.write"])
    manager.register(Plugin(), name="strong", permissions=["db.write", "fs.write:/srv/**"])
    assert len(manager.hook.store(key="k")) == 2  # no specification yet: no requirement
    manager.add_hookspecs(Spec)
    assert manager.hook.store(key="k") == ["stored k"]
    assert [(s.plugin, s.hook) for s in manager.skipped_impls()] == [("early", "store")]


def test_historic_replay_skips_implementation_without_permission() -> None:
    manager = SecurePluginManager("host")

    class History:
        @hookspec(historic=True, requires=["agent.control"])
        def boot(self) -> None: ...

    manager.add_hookspecs(History)
    calls: list[str] = []
    manager.hook.boot.call_historic(kwargs={})

    class Late:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def boot(self) -> None:
            calls.append(self.name)

    manager.register(Late("denied"), name="denied", permissions=())
    manager.register(Late("allowed"), name="allowed", permissions=["agent.control"])
    assert calls == ["allowed"]


def test_plugin_context_reports_permissions_and_require(events: list[dict[str, Any]]) -> None:
    manager = _manager()
    seen: dict[str, Any] = {}

    class Asker:
        @hookimpl
        def read(self, key: str) -> str:
            context = current_plugin()
            assert context is not None
            seen["context"] = (context.plugin, context.hook, context.permissions)
            seen["allows"] = (
                context.allows("fs.read", "/srv/data/x"),
                context.allows("fs.read", "/etc/x"),
            )
            context.require("fs.read:/srv/data/*", Permission.parse("db.write"))
            context.require(key)
            return "done"

    manager.register(Asker(), name="asker", permissions=["fs.read:/srv/data/**", "db.write"])
    assert manager.hook.read(key="db.write") == ["done"]
    assert seen["context"][:2] == ("asker", "read")
    assert seen["allows"] == (True, False)
    with pytest.raises(PermissionDeniedError) as info:
        manager.hook.read(key="agent.control")
    assert info.value.plugin == "asker"
    assert info.value.permission == "agent.control"
    with pytest.raises(PermissionFormatError):
        manager.hook.read(key="fs.read:relative")
    stats = manager.stats().get("asker", "read")
    assert stats is not None
    assert (stats.calls, stats.errors, stats.denials) == (3, 2, 1)
    assert [e["permission"] for e in events if e["event"] == "hook.denied"] == ["agent.control"]
    assert current_plugin() is None


def test_circuit_breaker_quarantines_after_consecutive_failures(
    events: list[dict[str, Any]],
) -> None:
    manager = _manager()
    manager.register(Plugin(), name="flaky")
    manager.register(Plugin(), name="steady")
    for fail in (True, True, False, True, True):  # a success resets the streak
        with pytest.raises(ValueError, match="flaky") if fail else _nothing():
            manager.hook.flaky(fail=fail)
    assert manager.quarantined() == ()
    with pytest.raises(ValueError, match="flaky"):
        manager.hook.flaky(fail=True)  # third in a row: trips
    assert manager.quarantined() == (("steady", "flaky"),)
    # "steady" runs first (registered last); once quarantined, "flaky" is called
    with pytest.raises(ValueError, match="flaky"):
        manager.hook.flaky(fail=True)
    assert [e["plugin"] for e in events if e["event"] == "hook.quarantined"] == ["steady"]
    assert manager.restore("steady", "flaky")
    assert not manager.restore("steady", "flaky")
    assert manager.hook.flaky(fail=False) == ["ok", "ok"]
    assert [e["plugin"] for e in events if e["event"] == "hook.restored"] == ["steady"]


def test_manual_quarantine_and_manager_default_threshold() -> None:
    manager = _manager(quarantine_after=1)
    manager.register(Plugin(), name="p")
    assert manager.quarantine("p", "read")
    assert not manager.quarantine("p", "read")
    assert not manager.quarantine("nobody", "read")
    assert manager.hook.read(key="k") == []
    assert manager.restore("p", "read")
    assert manager.hook.read(key="k") == ["read k"]
    with pytest.raises(ValueError, match="quarantine_after"):
        SecurePluginManager("host", quarantine_after=-1)


def test_quarantine_applies_to_async_calls() -> None:
    import asyncio

    manager = _manager()
    manager.register(Plugin(), name="p")
    manager.quarantine("p", "read")
    assert asyncio.run(manager.ahook.read(key="k")) == []


def test_audit_sink_receives_events(tmp_path: Any) -> None:
    sink = tmp_path / "audit.jsonl"
    manager = _manager(audit=AuditLog(sink))
    manager.register(Plugin(), name="weak", permissions=())
    assert "hook.impl_skipped" in sink.read_text()


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
