"""No silent no-ops: load notes, the hook-before-load warning, rejection logs with reasons, argument types."""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from pathlib import Path
from typing import Any

import pluggy
import pytest

from securehost import Host, LoadNote, NoteCode, PrivateKey, SecurehostWarning, SecurePluginManager
from tests.hostkit import GOOD, GROUP, PROJECT, TOOL, Lab, lab_fixtures, tool_files
from tests.wheelfactory import trust, trusted

KEY = PrivateKey.generate()
STORE = trust(trusted(KEY, label="release"))
MARKER = "import pluggy\nhookimpl = pluggy.HookimplMarker({project!r})\n"


good_wheel, lab = lab_fixtures(KEY, STORE)  # the signed example plugin and a lab that installs it


def notes(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.securehost_note for r in caplog.records if hasattr(r, "securehost_note")]  # type: ignore[attr-defined]


def tool_plugin(body: str, project: str = PROJECT) -> dict[str, bytes]:
    return tool_files(plugin=MARKER.format(project=project) + body)


# --- the scan -----------------------------------------------------------------------------------------------------


def test_a_group_nobody_declares_is_a_note_listing_the_groups_that_exist_closest_first(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    lab.tool(eps=b"[zzz.unrelated]\ntool = acme_tool.plugin\n")
    caplog.set_level(logging.WARNING, logger="securehost.host")
    report = lab.host(group="demoapp.plugin").load()  # one letter short
    assert report.plugins == ()
    (note,) = report.warnings
    assert note.code is NoteCode.NO_PLUGINS
    assert note.subject == "demoapp.plugin"
    assert note.message.endswith("groups that do exist, closest first: demoapp.plugins, zzz.unrelated")
    assert notes(caplog) == [note.to_json()]
    assert "warning: no-plugins:" in report.summary()
    assert report.to_json()["warnings"] == [note.to_json()]


def test_a_missing_search_path_entry_is_a_note(lab: Lab) -> None:
    missing = lab.root / "no-such-dir"
    report = lab.host(path=[lab.site, missing]).check()
    assert report[GOOD].status == "verified"
    assert [(w.code, w.subject) for w in report.warnings] == [(NoteCode.PATH_MISSING, str(missing))]
    assert "does not exist" in report.warnings[0].message


def test_a_clean_load_has_no_notes(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="securehost.host")
    host = lab.host()
    assert host.load().warnings == ()
    assert host.load().warnings == ()  # and loading again does not repeat anything
    assert notes(caplog) == []


# --- plugins that are loaded but would never be called --------------------------------------------------------------


def test_a_plugin_that_implements_no_hook_is_a_note(lab: Lab) -> None:
    lab.tool(files=tool_plugin("def describe_plugin():\n    return {}\n"))  # forgot the marker
    report = lab.host().load()
    assert report[TOOL].status == "accepted"
    (note,) = report.warnings
    assert (note.code, note.plugin) == (NoteCode.NO_HOOKS, TOOL)
    assert "never called" in note.message


def test_a_plugin_whose_only_hook_needs_a_permission_it_lacks_is_reported_as_skipped_not_as_hookless(
    lab: Lab,
) -> None:
    lab.tool(files=tool_plugin("@hookimpl\ndef run_skill(name, arguments):\n    return name\n"))
    host = lab.host()
    report = host.load()
    assert report[TOOL].status == "accepted"
    assert report.warnings == ()  # the skip itself is audited (hook.impl_skipped) and listed by skipped_impls()
    assert [(s.plugin, s.hook) for s in host.manager.skipped_impls()] == [(TOOL, "run_skill")]


def test_a_plugin_marked_with_another_projects_marker_is_told_so(lab: Lab) -> None:
    lab.tool(files=tool_plugin("@hookimpl\ndef describe_plugin():\n    return {}\n", project="otherapp"))
    (note,) = lab.host().load().warnings
    assert (note.code, note.plugin, note.subject) == (NoteCode.FOREIGN_MARKER, TOOL, "otherapp")
    assert "HookimplMarker('otherapp')" in note.message
    assert "use HookimplMarker('demoapp')" in note.message


def test_an_implementation_of_an_unknown_hook_suggests_the_spelling(lab: Lab) -> None:
    body = "@hookimpl\ndef describe_plugin():\n    return {}\n@hookimpl\ndef proces_records(records):\n    return []\n"
    lab.tool(files=tool_plugin(body))
    (note,) = lab.host().load().warnings
    assert (note.code, note.subject) == (NoteCode.UNKNOWN_HOOK, "proces_records")
    assert "did you mean 'process_records'?" in note.message


def test_the_notes_of_plugins_loaded_together_go_to_each_plugin(lab: Lab) -> None:
    marker = MARKER.format(project=PROJECT)
    hookless = marker + "def describe_plugin():\n    return {}\n"
    misspelt = (
        marker
        + "@hookimpl\ndef describe_plugin():\n    return {}\n@hookimpl\ndef proces_records(records):\n    return []\n"
    )
    clean = marker + "@hookimpl\ndef describe_plugin():\n    return {}\n"
    for name, source in (("tool-a", hookless), ("tool-b", misspelt), ("tool-c", clean)):
        lab.tool(name=name, files=tool_files(name.replace("-", "_"), plugin=source))
    report = lab.host().load()
    assert {p.name for p in report.accepted} >= {"tool-a", "tool-b", "tool-c"}
    assert sorted((n.plugin, n.code) for n in report.warnings) == [
        ("tool-a", NoteCode.NO_HOOKS),
        ("tool-b", NoteCode.UNKNOWN_HOOK),
    ]


def test_an_optional_hook_without_specification_is_no_note(lab: Lab) -> None:
    body = "@hookimpl\ndef describe_plugin():\n    return {}\n"
    body += "@hookimpl(optionalhook=True)\ndef later_hook():\n    pass\n"
    lab.tool(files=tool_plugin(body))
    assert lab.host().load().warnings == ()


# --- a hook used before load() ------------------------------------------------------------------------------------


def test_a_hook_called_before_load_warns_once_per_hook(lab: Lab) -> None:
    host = lab.host()
    with pytest.warns(SecurehostWarning, match=r"hook 'process_records' is used before Host.load\(\)") as caught:
        assert host.hook.process_records(records=[]) == []
    assert caught[0].filename == __file__  # points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        host.hook.process_records(records=[])  # once per hook name
        host.load()
        host.hook.describe_plugin()  # after load(): no warning
    with pytest.warns(SecurehostWarning, match="describe_plugin"):
        lab.host().hook.describe_plugin()


def test_a_hook_the_hosts_own_plugins_implement_does_not_warn_before_load(lab: Lab) -> None:
    """Host code that registers built-in plugins and calls them before loading third-party ones gets no warning."""

    class Builtin:
        @pluggy.HookimplMarker(PROJECT)
        def describe_plugin(self) -> str:
            return "built in"

    host = lab.host()
    host.manager.register(Builtin(), name="builtin")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert host.hook.describe_plugin() == ["built in"]
    with pytest.warns(SecurehostWarning, match="process_records"):
        host.hook.process_records(records=[])  # nothing implements this one: the warning stays


def test_a_plain_plugin_manager_never_warns(lab: Lab) -> None:
    manager = SecurePluginManager(PROJECT, guard=False)
    manager.add_hookspecs(lab.host().manager.hook.describe_plugin.spec.namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert manager.hook.describe_plugin() == []


# --- rejections say why in the log ----------------------------------------------------------------------------------


def test_a_rejection_logs_its_reasons_with_structured_extra(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    lab.tool(key=PrivateKey.generate())  # signed by a key the store does not know
    caplog.set_level(logging.WARNING, logger="securehost.audit")
    lab.host().load()
    (record,) = [r for r in caplog.records if r.getMessage().startswith("plugin.rejected")]
    assert record.getMessage().startswith(f"plugin.rejected {TOOL}: [key-unknown] ")
    assert "; [threshold-not-met] " in record.getMessage()  # every reason, not only the first
    event = record.securehost_event  # type: ignore[attr-defined]
    assert [r["code"] for r in event["reasons"]] == ["key-unknown", "threshold-not-met"]


# --- wrong argument types name the argument -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"path": "site"}, "Host(path=...) takes a list of directories, not one str 'site': pass path=['site']"),
        ({"path": Path("site")}, "Host(path=...) takes a list of directories, not one PosixPath('site')"),
        ({"path": [1]}, "Host(path=...): each entry must be a directory path"),
        ({"path": 3}, "Host(path=...) takes a list of directories"),
        ({"grants": ["net.connect:*"]}, "Host(grants=...) takes a mapping of distribution-name globs"),
        ({"pins": [("acme", "1.0")]}, "Host(pins=...) takes a mapping of distribution names to versions"),
        ({"config": "a.toml"}, "Host(config=...) takes a mapping"),
        ({"project": None}, "Host(project=...) takes a string"),
        ({"group": b"g"}, "Host(group=...) takes a string"),
        ({"trust_store": 42}, "Host(trust_store=...) takes a TrustStore or the path"),
        ({"state_dir": 1}, "Host(state_dir=...) takes a directory path"),
        ({"guard": "no"}, "Host(guard=...) takes True or False, not str 'no'"),
        ({"isolate": 1}, "Host(isolate=...) takes True or False"),
        ({"quarantine_after": True}, "Host(quarantine_after=...) takes a number of consecutive failures"),
        ({"max_statement_age": 30}, "Host(max_statement_age=...) takes a datetime.timedelta"),
        ({"lifecycle_timeout": "10"}, "Host(lifecycle_timeout=...) takes a number of seconds"),
        ({"audit": "audit.log"}, "Host(audit=...) takes a securehost.AuditLog"),
        ({"hookspecs": "myapp.hookspecs"}, "Host(hookspecs=...) takes the module or class"),
        ({"clock": dt.datetime.now(dt.timezone.utc)}, "Host(clock=...) takes a function"),
        ({"dependency_policy": ["pluggy"]}, "Host(dependency_policy=...) takes a securehost.DependencyPolicy"),
        ({"dependency_approvals": 7}, "Host(dependency_approvals=...) takes the approvals file's path"),
        ({"host_distribution": 7}, "Host(host_distribution=...) takes a distribution name or a list of them"),
        ({"host_distribution": ["app", 7]}, "Host(host_distribution=...): each entry must be a distribution name"),
    ],
)
def test_host_argument_of_the_wrong_type_is_a_type_error_naming_it(
    tmp_path: Path, options: dict[str, Any], fragment: str
) -> None:
    settings: dict[str, Any] = {"project": PROJECT, "group": GROUP, "trust_store": STORE, "state_dir": tmp_path}
    settings.update(options)
    with pytest.raises(TypeError) as raised:
        Host(**settings)
    assert fragment in str(raised.value)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"project_name": 1}, "SecurePluginManager(project_name=...) takes a string"),
        ({"audit": "x"}, "SecurePluginManager(audit=...) takes a securehost.AuditLog"),
        ({"isolate": "yes"}, "SecurePluginManager(isolate=...) takes True or False"),
        ({"guard": None}, "SecurePluginManager(guard=...) takes True or False"),
        ({"quarantine_after": 2.5}, "SecurePluginManager(quarantine_after=...) takes an int or None"),
    ],
)
def test_manager_argument_of_the_wrong_type_is_a_type_error_naming_it(options: dict[str, Any], fragment: str) -> None:
    settings: dict[str, Any] = {"project_name": "app", "guard": False, **options}
    with pytest.raises(TypeError, match=fragment.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        SecurePluginManager(**settings)


def test_load_note_is_public_and_printable() -> None:
    note = LoadNote(code=NoteCode.PATH_MISSING, message="gone", subject="/x")
    assert str(note) == "path-missing: gone"
    assert note.to_json() == {"code": "path-missing", "message": "gone", "plugin": None, "subject": "/x"}


def test_the_note_codes_the_load_writes_are_exactly_the_public_ones() -> None:
    """``notes`` names codes by value (its model module is imported by the first note): the two lists stay equal."""
    import typing

    from securehost._host.notes import NoteCodeValue

    assert set(typing.get_args(NoteCodeValue)) == {code.value for code in NoteCode}
