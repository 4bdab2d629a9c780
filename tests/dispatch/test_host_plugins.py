"""Drop-in compatibility: plugins the host registers itself (``pm.register(obj)``) run as the host, as under pluggy.

An application that swaps ``pluggy.PluginManager`` for :class:`SecurePluginManager` registers its built-in plugins
with ``pm.register()`` and calls hooks from its own code. Those plugins must behave exactly as they did: the same
results, no warnings, no ``guard.denied`` events, and they may read the user's configuration file with the guard
installed. A plugin gets an identity (and is checked) only when it is registered with ``permissions=``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import pluggy
import pytest

from securehost import HookspecMarker, PermissionSet, SecurePluginManager, current_plugin
from securehost._audit import AUDIT_LOGGER_NAME
from securehost._guard.audithook import guard_installed
from securehost.exceptions import PermissionDeniedError

hookspec = HookspecMarker("app")
hookimpl = pluggy.HookimplMarker("app")


class AppSpec:
    """The application's hook specifications, written for pluggy (one ``requires``, which only securehost reads)."""

    @hookspec
    def app_settings(self, path: Path) -> Any: ...

    @hookspec(firstresult=True)
    def app_title(self) -> Any: ...

    @hookspec(requires=["fs.write:/srv/**"])
    def app_export(self, rows: list[str]) -> Any: ...

    @hookspec
    def app_identity(self) -> Any: ...


class ConfigReader:
    """A built-in plugin: reads the user's configuration file."""

    @hookimpl
    def app_settings(self, path: Path) -> dict[str, str]:
        return dict(line.split("=", 1) for line in path.read_text().splitlines())


class Titles:
    @hookimpl(tryfirst=True)
    def app_title(self) -> str:
        return "built-in"

    @hookimpl
    def app_export(self, rows: list[str]) -> int:
        return len(rows)

    @hookimpl(wrapper=True)
    def app_settings(self, path: Path) -> Any:
        result = yield
        return [*result, {"wrapped": str(path.name)}]


class Who:
    @hookimpl
    def app_identity(self) -> str:
        context = current_plugin()
        return "<host>" if context is None else context.plugin


def _user_config(tmp_path: Path) -> Path:
    config = tmp_path / "home" / ".config" / "app" / "settings.ini"
    config.parent.mkdir(parents=True)
    config.write_text("theme=dark\nuser=ada\n")
    return config


def _run(manager: pluggy.PluginManager, config: Path) -> list[Any]:
    manager.add_hookspecs(AppSpec)
    for plugin in (ConfigReader(), Titles(), Who()):
        manager.register(plugin)
    return [
        manager.hook.app_settings(path=config),
        manager.hook.app_title(),
        manager.hook.app_export(rows=["a", "b"]),
        manager.hook.app_identity(),
        len(manager.list_name_plugin()),
    ]


@pytest.fixture
def audit_events(caplog: pytest.LogCaptureFixture) -> list[str]:
    caplog.set_level(logging.DEBUG, logger=AUDIT_LOGGER_NAME)
    events: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            events.append(record.securehost_event["event"])  # type: ignore[attr-defined]

    handler = Collect()
    logging.getLogger(AUDIT_LOGGER_NAME).addHandler(handler)
    yield events
    logging.getLogger(AUDIT_LOGGER_NAME).removeHandler(handler)


def test_built_in_plugins_behave_exactly_as_under_pluggy(tmp_path: Path, audit_events: list[str]) -> None:
    config = _user_config(tmp_path)
    expected = _run(pluggy.PluginManager("app"), config)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        secure = SecurePluginManager("app")  # guard on (the default)
        got = _run(secure, config)
    assert guard_installed()
    assert got == expected
    assert got[0] == [{"theme": "dark", "user": "ada"}, {"wrapped": "settings.ini"}]
    assert got[3] == ["<host>"]  # runs as the host: no plugin identity
    assert [str(w.message) for w in caught] == []
    assert "guard.denied" not in audit_events
    assert "hook.impl_skipped" not in audit_events
    assert secure.skipped_impls() == ()


def test_host_plugins_have_no_permissions_entry_and_are_counted(tmp_path: Path) -> None:
    manager = SecurePluginManager("app")
    manager.add_hookspecs(AppSpec)
    name = manager.register(ConfigReader())
    assert name is not None
    assert manager.runs_as_host(name)
    assert manager.get_permissions(name) is None
    manager.hook.app_settings(path=_user_config(tmp_path))
    stats = manager.stats().get(name, "app_settings")
    assert stats is not None
    assert stats.calls == 1
    assert stats.denials == 0


def test_registering_with_permissions_makes_a_guarded_plugin(tmp_path: Path, audit_events: list[str]) -> None:
    config = _user_config(tmp_path)
    manager = SecurePluginManager("app")
    manager.add_hookspecs(AppSpec)
    manager.register(ConfigReader(), name="third-party", permissions=())
    manager.register(Who(), name="who", permissions=["fs.read:/nonexistent/**"])
    manager.register(Titles(), name="titles", permissions=PermissionSet())
    assert not manager.runs_as_host("third-party")
    with pytest.raises(PermissionDeniedError, match="third-party"):
        manager.hook.app_settings(path=config)
    assert "guard.denied" in audit_events
    assert manager.hook.app_identity() == ["who"]
    assert manager.hook.app_export(rows=["a"]) == []  # requires fs.write:/srv/**: left out
    assert [s.plugin for s in manager.skipped_impls()] == ["titles"]


def test_a_host_plugin_called_from_a_guarded_plugin_runs_as_that_plugin(tmp_path: Path) -> None:
    """A hook call made by plugin code is the plugin's: a host plugin cannot be used to escape the guard."""
    config = _user_config(tmp_path)
    manager = SecurePluginManager("app")
    manager.add_hookspecs(AppSpec)
    manager.register(ConfigReader())

    class Caller:
        @hookimpl
        def app_title(self) -> str:
            return str(manager.hook.app_settings(path=config))

    manager.register(Caller(), name="caller", permissions=())
    with pytest.raises(PermissionDeniedError, match="caller"):
        manager.hook.app_title()


def test_config_needs_permissions() -> None:
    manager = SecurePluginManager("app")
    with pytest.raises(TypeError, match="permissions="):
        manager.register(Who(), name="who", config={"a": 1})
    assert manager.get_plugin("who") is None
