"""The Host: API, lifecycle, reports, audit events, state, pins, statement age, grants, ``check()``, async hooks and
the ``securehost list`` command.

Plugins are real wheels (``tests.hostkit``), signed with :func:`securehost.sign_wheel` and installed with
``installer``; the good plugin is ``example_plugins/csv_processor`` built with ``python -m build``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pluggy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import AuditLog, Host, PrivateKey, ReasonCode, TrustStore
from securehost._cli import main
from securehost._host.state import HostState
from securehost.exceptions import ConfigurationError, TrustStoreError
from tests.hostkit import (
    CLEANED,
    GOOD,
    GOOD_EP,
    GROUP,
    PROJECT,
    RECORDS,
    SIGNED_AT,
    SRC,
    TOOL,
    TOOL_PLUGIN,
    Canary,
    Lab,
    codes,
    entry_points,
    install,
    lab_fixtures,
    rejected,
    tool_files,
    tool_wheel,
    uninstall,
    write_store,
)
from tests.wheelfactory import forge, trust, trusted

R = ReasonCode
KEY = PrivateKey.generate()
READ = "fs.read:/srv/data/**"
CONNECT = "net.connect:api.acme.example:443"
STORE = trust(trusted(KEY, label="release", max_permissions=["fs.read:/srv/**", "net.connect:*.acme.example:443"]))


good_wheel, lab = lab_fixtures(KEY, STORE)  # the signed example plugin and a lab that installs it


def plugin_source(body: str) -> str:
    """A tool ``plugin`` module: pluggy's marker and *body*."""
    return "import pluggy\nhookimpl = pluggy.HookimplMarker('demoapp')\n" + body


def names(results: list[dict[str, Any]]) -> list[str]:
    return [r["name"] for r in results]


# --- loading and reports -----------------------------------------------------------------------------------------


def test_load_accepts_signed_plugins_and_calls_their_hooks(lab: Lab) -> None:
    lab.tool()
    host = lab.host()
    report = host.load()
    assert report.group == GROUP
    assert report.all_accepted
    assert report.rejected == ()
    assert {p.name for p in report.accepted} == {GOOD, TOOL}
    good = report[GOOD]
    assert (good.status, good.version, good.plugins, good.granted) == ("accepted", "1.0.0", (GOOD_EP,), ())
    assert good.verdict.signers == (KEY.key_id,)
    assert good.location is not None
    assert good.location.endswith("securehost_example_csv-1.0.0.dist-info")
    assert GOOD in report
    assert "nope" not in report
    with pytest.raises(KeyError):
        report["nope"]
    assert sorted(names(host.hook.describe_plugin())) == ["TOOL", "csv"]
    assert host.hook.process_records(records=RECORDS) == CLEANED
    assert set(host.plugins) == {GOOD, TOOL}
    assert sys.modules["acme_tool.plugin"].__spec__.loader is host.importer


def test_registration_asks_pluggy_nothing_about_a_verified_modules_loader_and_spec(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[object, str]] = []
    original = pluggy.PluginManager.parse_hookimpl_opts

    def spy(self: pluggy.PluginManager, plugin: object, name: str) -> Any:
        asked.append((plugin, name))
        return original(self, plugin, name)

    monkeypatch.setattr(pluggy.PluginManager, "parse_hookimpl_opts", spy)
    lab.tool()
    assert lab.host().load().all_accepted
    module = sys.modules["acme_tool.plugin"]
    assert "__spec__" in dir(module)
    assert "__loader__" in dir(module)
    assert {name for plugin, name in asked if plugin is module} == {"describe_plugin", "shout"}  # its functions


def test_report_json_and_summary(lab: Lab) -> None:
    lab.tool(permissions=[READ])
    report = lab.host().load()
    data = json.loads(json.dumps(report.to_json()))
    assert data["group"] == GROUP
    tool = next(p for p in data["plugins"] if p["name"] == TOOL)
    assert tool["status"] == "held"
    assert tool["requested"] == [READ]
    assert tool["granted"] == []
    assert tool["signers"] == [KEY.key_id]
    assert [r["code"] for r in tool["reasons"]] == ["permission-not-granted"]
    assert tool["reasons"][0]["subject"] == READ
    text = report.summary()
    assert f"{TOOL} 1.0: HELD" in text
    assert f"{GOOD} 1.0.0: ACCEPTED" in text
    assert f"requests:  {READ}" in text
    assert "[permission-not-granted]" in text


def test_empty_directory_gives_an_empty_report(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    with Host(
        project=PROJECT, group=GROUP, trust_store=STORE, path=[tmp_path / "site"], state_dir=tmp_path / "s"
    ) as host:
        report = host.load()
    assert report.plugins == ()
    assert report.all_accepted
    assert [w.code.value for w in report.warnings] == ["no-plugins"]
    assert report.summary().startswith("warning: no-plugins: no distribution on the search path")
    assert report.summary().endswith(f"declares entry points in group {GROUP!r}; no group exists there")


def test_second_load_reports_loaded_plugins_without_verifying_again(lab: Lab) -> None:
    host = lab.host()
    first = host.load()
    second = host.load()
    assert second[GOOD] is first[GOOD]
    assert [e["event"] for e in lab.events()].count("plugin.accepted") == 1


def test_several_entry_points_register_under_their_entry_point_names(lab: Lab) -> None:
    files = {
        **tool_files(),
        "acme_tool/extra.py": plugin_source("@hookimpl\ndef agent_skills():\n    return ['x']\n").encode(),
    }
    lab.tool(files=files, eps=entry_points(tool="acme_tool.plugin", extra="acme_tool.extra"))
    host = lab.host()
    report = host.load()[TOOL]
    assert report.plugins == ("tool", "extra")
    assert host.implementations("agent_skills") == ["extra"]
    assert host.hook.agent_skills() == [["x"]]


def test_implementations_lists_plugins_in_call_order(lab: Lab) -> None:
    lab.tool()
    host = lab.host()
    host.load()
    order = host.implementations("describe_plugin")
    assert sorted(order) == sorted([GOOD_EP, TOOL])
    by_name = {"csv": GOOD_EP, "TOOL": TOOL}
    assert [by_name[n] for n in names(host.hook.describe_plugin())] == order
    assert host.implementations("process_records") == [GOOD_EP]
    assert host.implementations("no_such_hook") == []


# --- lifecycle ---------------------------------------------------------------------------------------------------


def test_unload_removes_hooks_and_modules(lab: Lab) -> None:
    lab.tool()
    host = lab.host()
    host.load()
    assert host.unload("ACME_Tool") is True
    assert host.unload(TOOL) is False
    assert set(host.plugins) == {GOOD}
    assert host.implementations("describe_plugin") == [GOOD_EP]
    assert not [m for m in sys.modules if m.startswith("acme_tool")]
    assert "plugin.unloaded" in [e["event"] for e in lab.events() if e["plugin"] == TOOL]
    assert host.load()[TOOL].status == "accepted"  # and it comes back on the next load


def test_reload_verifies_again(lab: Lab) -> None:
    lab.tool()
    host = lab.host()
    host.load()
    helpers = lab.site / "acme_tool" / "helpers.py"
    original = helpers.read_bytes()
    helpers.write_bytes(original + b"# changed\n")
    again = host.reload(TOOL)
    assert again.status == "rejected"
    assert codes(again) == {R.INSTALLED_FILE_MODIFIED}
    assert host.implementations("describe_plugin") == [GOOD_EP]
    assert TOOL not in host.plugins
    helpers.write_bytes(original)
    assert host.reload(TOOL).status == "accepted"
    assert sorted(names(host.hook.describe_plugin())) == ["TOOL", "csv"]
    with pytest.raises(KeyError, match="no-such-plugin"):
        host.reload("no-such-plugin")


def test_load_after_an_upgrade_in_place_loads_the_new_version(lab: Lab) -> None:
    old = lab.tool(version="1.0")
    host = lab.host()
    assert host.load()[TOOL].version == "1.0"
    uninstall(old)
    plugin = TOOL_PLUGIN.replace("'capabilities': ['tool']", "'capabilities': ['tool', 'v2']")
    lab.tool(version="2.0", files=tool_files(plugin=plugin))
    report = host.load()  # the loaded 1.0 is gone from disk: 2.0 is judged and replaces it, nothing raises
    assert report[TOOL].status == "accepted"
    assert report[TOOL].version == "2.0"
    assert host.plugins[TOOL].version == "2.0"
    tool = next(r for r in host.hook.describe_plugin() if r["name"] == "TOOL")
    assert tool["capabilities"] == ["tool", "v2"]
    assert report[GOOD].status == "accepted"


def test_loaded_plugin_shadowed_later_is_judged_again(lab: Lab) -> None:
    lab.tool()
    host = lab.host(path=[lab.root / "earlier", lab.site])
    assert host.load()[TOOL].status == "accepted"
    lab.tool(site=lab.root / "earlier")
    copies = [p for p in host.load().plugins if p.name == TOOL]
    assert [p.status for p in copies] == ["rejected", "rejected"]
    assert all(codes(p) == {R.DISTRIBUTION_SHADOWED} for p in copies)
    assert TOOL not in host.plugins
    assert host.implementations("describe_plugin") == [GOOD_EP]


def test_close_unloads_everything_and_leaves_meta_path(lab: Lab) -> None:
    lab.tool()
    with lab.host() as host:
        host.load()
        assert sys.meta_path[0] is host.importer
    assert host.importer not in sys.meta_path
    assert host.plugins == {}
    assert not [m for m in sys.modules if m.startswith(("acme_tool", "securehost_example_csv"))]
    lines = len(lab.events())
    host.audit.emit("after.close")
    assert len(lab.events()) == lines  # the sink is closed


def test_disable_persists_across_hosts_and_enable_restores(lab: Lab) -> None:
    lab.tool()
    host = lab.host()
    host.load()
    host.disable(TOOL)
    assert TOOL not in host.plugins
    assert host.implementations("describe_plugin") == [GOOD_EP]
    host.close()
    second = lab.host()
    report = second.load()
    disabled = report[TOOL]
    assert disabled.status == "disabled"
    assert codes(disabled) == {R.DISABLED}
    assert report.all_accepted  # disabled is not rejected
    assert disabled not in report.accepted
    assert not [m for m in sys.modules if m.startswith("acme_tool")]
    second.enable(TOOL)
    assert second.reload(TOOL).status == "accepted"
    second.close()
    assert lab.host().load()[TOOL].status == "accepted"
    events = [e["event"] for e in lab.events() if e["plugin"] == TOOL]
    assert "plugin.enabled" in events
    assert events.count("plugin.disabled") == 2  # the operator's action, then the decision of the second host


# --- audit ---------------------------------------------------------------------------------------------------------


def test_every_decision_is_an_audit_event_in_the_logger_and_the_sink(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    lab.tool(permissions=[CONNECT])
    caplog.set_level(logging.INFO, logger="securehost.audit")
    host = lab.host()
    host.load()
    sink = lab.events()  # read while the host is open: flushed per event
    decisions = {e["plugin"]: e for e in sink if e["event"].startswith("plugin.")}
    assert decisions[GOOD]["event"] == "plugin.accepted"
    assert decisions[GOOD]["version"] == "1.0.0"
    assert decisions[GOOD]["signers"] == [KEY.key_id]
    assert decisions[GOOD]["reasons"] == []
    assert decisions[TOOL]["event"] == "plugin.held"
    assert decisions[TOOL]["requested"] == [CONNECT]
    assert [r["code"] for r in decisions[TOOL]["reasons"]] == ["permission-not-granted"]
    assert all(dt.datetime.fromisoformat(e["time"]).tzinfo is not None for e in sink)
    records = {r.securehost_event["plugin"]: r for r in caplog.records if r.name == "securehost.audit"}  # type: ignore[attr-defined]
    assert records[GOOD].levelno == logging.INFO
    assert records[TOOL].levelno == logging.WARNING
    assert records[TOOL].securehost_event == decisions[TOOL]  # type: ignore[attr-defined]


def test_audit_sink_is_appended_to_by_successive_hosts(lab: Lab) -> None:
    lab.host().load()
    lab.close()
    lab.host().load()
    accepted = [e for e in lab.events() if e["event"] == "plugin.accepted"]
    assert len(accepted) == 2


def test_host_given_an_audit_log_uses_it(lab: Lab) -> None:
    audit = AuditLog(lab.root / "own.jsonl")
    lab.host(audit=audit).load()
    lab.close()
    own = [json.loads(line)["event"] for line in (lab.root / "own.jsonl").read_text().splitlines()]
    assert own == ["plugin.accepted", "lifecycle.started", "plugin.unloaded"]  # the csv example has a start hook
    assert not lab.audit.exists()


# --- state: rollback and pins --------------------------------------------------------------------------------------


def state(lab: Lab) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((lab.state / "state.json").read_text())
    return data


def test_state_records_the_highest_accepted_version(lab: Lab) -> None:
    lab.tool(version="2.0")
    lab.host().load()
    assert state(lab)["versions"] == {GOOD: "1.0.0", TOOL: "2.0"}
    assert (lab.state / "state.json").stat().st_mode & 0o777 == 0o600
    assert lab.state.stat().st_mode & 0o777 == 0o700


def test_rollback_is_rejected_across_hosts_unless_pinned(lab: Lab) -> None:
    newer = lab.tool(version="2.0")
    lab.host().load()
    lab.close()
    uninstall(newer)
    lab.tool(version="1.5")
    rejected(lab.host().load(), TOOL, {R.ROLLBACK})
    lab.close()
    pinned = lab.host(pins={"ACME_Tool": "1.5"}).load()[TOOL]
    assert pinned.status == "accepted"
    lab.close()
    assert state(lab)["versions"][TOOL] == "2.0"  # a pin allows a downgrade; it does not lower the record
    rejected(lab.host(pins={TOOL: "1.4"}).load(), TOOL, {R.ROLLBACK})


def test_pins_compare_versions_not_spellings(lab: Lab) -> None:
    newer = lab.tool(version="2.0")
    lab.host().load()
    lab.close()
    uninstall(newer)
    lab.tool(version="1.0")
    assert lab.host(pins={TOOL: "1.0.0"}).load()[TOOL].status == "accepted"


def test_invalid_pin_is_a_configuration_error(lab: Lab) -> None:
    with pytest.raises(ConfigurationError, match="not-a-version"):
        lab.host(pins={TOOL: "not-a-version"})


def test_state_is_written_once_per_load(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    lab.tool()
    saves: list[int] = []
    save = HostState._save

    def counting(self: HostState) -> None:
        saves.append(1)
        save(self)

    monkeypatch.setattr(HostState, "_save", counting)
    lab.host().load()
    assert len(saves) == 1
    assert state(lab)["versions"] == {GOOD: "1.0.0", TOOL: "1.0"}
    lab.close()
    lab.host().load()
    assert len(saves) == 1  # nothing new to record


def test_deferred_state_changes_are_written_when_the_block_ends(tmp_path: Path) -> None:
    host_state = HostState(tmp_path / "state")
    with host_state.deferred():
        host_state.record(TOOL, "1.0")
        host_state.set_disabled(GOOD, True)
        with host_state.deferred():
            host_state.record(TOOL, "2.0")
        assert not (tmp_path / "state" / "state.json").exists()
    again = HostState(tmp_path / "state")
    assert (again.highest(TOOL), again.is_disabled(GOOD)) == ("2.0", True)
    again.record(TOOL, "3.0")  # outside a block: written at once
    assert HostState(tmp_path / "state").highest(TOOL) == "3.0"


def test_state_that_cannot_be_written_is_a_configuration_error(lab: Lab) -> None:
    """The versions a load accepts are the rollback floor: not recording them is an error, which says what to do."""
    lab.tool()
    host = lab.host()
    shutil.rmtree(lab.state)  # the state directory disappears under the running host
    with pytest.raises(ConfigurationError, match="cannot write host state") as raised:
        host.load()
    assert str(raised.value).endswith("free space there, or give the Host a state_dir it can write")
    assert sorted(host.plugins) == sorted([GOOD, TOOL])  # what the load accepted stays loaded, as documented
    lab.state.mkdir()
    host.load()  # the next load writes what the last one could not
    assert state(lab)["versions"] == {GOOD: "1.0.0", TOOL: "1.0"}


def test_check_does_not_record_versions(lab: Lab) -> None:
    lab.tool(version="2.0")
    assert lab.host().check().all_accepted
    assert not (lab.state / "state.json").exists()


def test_unreadable_state_is_an_error_not_a_reset(lab: Lab) -> None:
    lab.host().load()
    lab.close()
    (lab.state / "state.json").write_text("{ not json")
    with pytest.raises(ConfigurationError, match="refusing to reset"):
        lab.host()
    (lab.state / "state.json").write_text(json.dumps({"format": 1, "versions": {TOOL: "x y"}, "disabled": []}))
    with pytest.raises(ConfigurationError, match="bad version"):
        lab.host()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_STATE_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "format": st.sampled_from([1, 1.0, True, "1", 2]),
        "versions": st.dictionaries(st.text(max_size=8), st.sampled_from(["1.0", "2!1.0.post1", "x", 1]) | _JSON),
        "disabled": st.lists(st.text(max_size=8) | _JSON, max_size=3),
    },
)


@given(
    document=st.binary(max_size=64)
    | _JSON.map(lambda v: json.dumps(v).encode())
    | _STATE_LIKE.map(lambda v: json.dumps(v).encode())
)
def test_state_file_parser_raises_only_configuration_errors(document: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp) / "state"
        directory.mkdir(mode=0o700)
        (directory / "state.json").write_bytes(document)
        try:
            loaded = HostState(directory)
        except ConfigurationError:
            return
    data = json.loads(document)
    assert type(data["format"]) is int
    assert data["format"] == 1
    for name, version in data.get("versions", {}).items():
        assert loaded.highest(name) == version
    assert all(loaded.is_disabled(name) for name in data.get("disabled", []))


@pytest.mark.parametrize(
    "document",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"format": true, "versions": {}, "disabled": []}',
        b'{"format": 1, "versions": {}, "disabled": [["a"]]}',
        b'{"format": 1, "versions": {"a": 1}, "disabled": []}',
        b"\xff\xfe",
    ],
    ids=["deeply-nested", "format-true", "disabled-not-str", "version-not-str", "not-utf8"],
)
def test_malformed_state_files_are_configuration_errors(tmp_path: Path, document: bytes) -> None:
    (tmp_path / "state").mkdir(mode=0o700)
    (tmp_path / "state" / "state.json").write_bytes(document)
    with pytest.raises(ConfigurationError):
        HostState(tmp_path / "state")


def test_state_directory_writable_by_others_is_refused(lab: Lab) -> None:
    lab.state.mkdir()
    lab.state.chmod(0o777)
    with pytest.raises(ConfigurationError, match="writable by group or others"):
        lab.host()


# --- statement age and expiry ---------------------------------------------------------------------------------------


def test_max_statement_age_rejects_old_statements(lab: Lab) -> None:
    lab.tool(issued_at=SIGNED_AT - dt.timedelta(days=10))
    rejected(lab.host(max_statement_age=dt.timedelta(days=1)).load(), TOOL, {R.STATEMENT_EXPIRED})
    lab.close()
    assert lab.host(max_statement_age=dt.timedelta(days=30)).load()[TOOL].status == "accepted"


def test_expired_statement_is_rejected(lab: Lab) -> None:
    lab.tool(issued_at=SIGNED_AT - dt.timedelta(days=2), expires_at=SIGNED_AT - dt.timedelta(days=1))
    report = lab.host().load()
    rejected(report, TOOL, {R.STATEMENT_EXPIRED})
    assert report[GOOD].status == "accepted"


def test_clock_judges_expiry(lab: Lab) -> None:
    lab.tool(expires_at=SIGNED_AT + dt.timedelta(days=1))
    assert lab.host().check()[TOOL].status == "verified"
    later = lab.host(clock=lambda: SIGNED_AT + dt.timedelta(days=2))
    rejected(later.check(), TOOL, {R.STATEMENT_EXPIRED})


# --- grants -------------------------------------------------------------------------------------------------------


def test_ungranted_permission_holds_the_plugin_and_others_load(lab: Lab) -> None:
    lab.tool(permissions=[READ])
    host = lab.host()
    report = host.load()
    held = rejected(report, TOOL, {R.PERMISSION_NOT_GRANTED}, status="held")
    assert held in report.rejected
    assert not report.all_accepted
    assert not [m for m in sys.modules if m.startswith("acme_tool")]
    lab.good_answers(host)


def test_grants_by_name_pattern_give_the_effective_permissions(lab: Lab) -> None:
    lab.tool(permissions=[READ, CONNECT])
    host = lab.host(grants={"ACME_*": ["fs.read:/srv/**"], "acme-tool": [CONNECT], "other-*": ["agent.control"]})
    report = host.load()[TOOL]
    assert report.status == "accepted"
    assert report.granted == tuple(sorted([READ, CONNECT]))
    permissions = host.manager.get_permissions(TOOL)
    assert permissions is not None
    assert sorted(permissions.strings()) == sorted([READ, CONNECT])  # what was requested, not the whole grant


def test_grants_take_lists_not_strings(lab: Lab) -> None:
    with pytest.raises(TypeError, match="list of permissions"):
        lab.host(grants={TOOL: READ})


def test_hook_requiring_a_permission_skips_plugins_without_it(lab: Lab) -> None:
    body = "@hookimpl\ndef run_skill(name, arguments):\n    return 'ran ' + name\n"
    lab.tool(files=tool_files(plugin=plugin_source(body)))
    host = lab.host()
    assert host.load()[TOOL].status == "accepted"
    assert host.implementations("run_skill") == []  # run_skill requires agent.control, which it does not hold
    assert host.hook.run_skill(name="calc", arguments={}) is None


def test_plugin_code_run_by_registration_runs_as_the_plugin(lab: Lab) -> None:
    """pluggy's ``register`` calls ``dir(plugin)``: a module's ``__dir__`` is plugin code and gets no host identity."""
    canary = Canary(lab.root / "written-by-dunder-dir")
    body = (
        "def __dir__():\n"
        f"    {canary.source().strip()}\n"
        "    return sorted(globals())\n"
        "\n"
        "@hookimpl\n"
        "def describe_plugin():\n"
        "    return 'tool'\n"
    )
    lab.tool(files=tool_files(plugin=plugin_source(body)))
    report = lab.host(guard=True).load()[TOOL]
    assert report.status == "rejected"
    assert not canary.path.exists()  # the write was denied: the plugin holds no fs.write
    assert "PermissionDeniedError" in report.verdict.reasons[0].message
    assert "fs.write" in report.verdict.reasons[0].message


# --- check() ------------------------------------------------------------------------------------------------------


def test_check_verifies_and_imports_nothing(lab: Lab) -> None:
    marker = Canary(lab.root / "unused")
    lab.tool(files=tool_files(payload=marker.source(write_file=False)))
    host = lab.host()
    meta_path = list(sys.meta_path)
    report = host.check()
    assert {p.status for p in report.plugins} == {"verified"}
    assert all(p.accepted and p.plugins == () for p in report.plugins)
    assert not marker.fired()
    assert not [m for m in sys.modules if m.startswith(("acme_tool", "securehost_example_csv"))]
    assert sys.meta_path == meta_path
    assert host.implementations("describe_plugin") == []
    assert host.load()[TOOL].status == "accepted"  # the control: loading runs the module
    assert marker.fired()


# --- import and registration failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "raise RuntimeError('broken at import')",
        "raise ValueError('bad configuration')",
        "raise SystemExit(3)",
        "def broken(:\n    pass",
        "from acme_tool.helpers import missing_name",
    ],
)
def test_plugin_that_fails_to_import_is_rejected_and_others_load(lab: Lab, statement: str) -> None:
    lab.tool(files=tool_files(plugin=statement + "\n"))
    host = lab.host()
    report = host.load()
    rejected(report, TOOL, {R.IMPORT_FAILED})
    assert not [m for m in sys.modules if m.startswith("acme_tool")]
    assert set(host.plugins) == {GOOD}
    lab.good_answers(host)


def test_entry_point_at_a_missing_attribute_is_import_failed(lab: Lab) -> None:
    lab.tool(eps=entry_points(tool="acme_tool.plugin:NoSuchThing"))
    rejected(lab.host().load(), TOOL, {R.IMPORT_FAILED})


def test_hookimpl_that_does_not_match_its_spec_is_registration_failed(lab: Lab) -> None:
    body = "@hookimpl\ndef describe_plugin(verbose):\n    return {}\n"  # the spec has no argument 'verbose'
    lab.tool(files=tool_files(plugin=plugin_source(body)))
    host = lab.host()
    reason = rejected(host.load(), TOOL, {R.REGISTRATION_FAILED}).verdict.reasons[0]
    assert "verbose" in reason.message
    lab.good_answers(host)


def test_failure_of_a_later_entry_point_unregisters_the_earlier_ones(lab: Lab) -> None:
    bad = plugin_source("@hookimpl\ndef process_records(rows):\n    return rows\n")
    files = {**tool_files(), "acme_tool/bad.py": bad.encode()}
    lab.tool(files=files, eps=entry_points(tool="acme_tool.plugin", bad="acme_tool.bad"))
    host = lab.host()
    rejected(host.load(), TOOL, {R.REGISTRATION_FAILED})
    assert host.implementations("describe_plugin") == [GOOD_EP]
    assert host.manager.get_plugin("tool") is None


def test_same_module_under_two_entry_points_is_registration_failed(lab: Lab) -> None:
    lab.tool(eps=entry_points(one="acme_tool.plugin", two="acme_tool.plugin"))
    rejected(lab.host().load(), TOOL, {R.REGISTRATION_FAILED})


def test_import_outside_the_dependency_policy_is_rejected(lab: Lab) -> None:
    body = "import tomlkit\n@hookimpl\ndef describe_plugin():\n    return {'name': 'x'}\n"
    lab.tool(files=tool_files(plugin=plugin_source(body)))
    host = lab.host()
    rejected(host.load(), TOOL, {R.DEPENDENCY_NOT_ALLOWED})
    lab.good_answers(host)


# --- statements that disagree with the installation --------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"name": "acme-other"}, R.NAME_MISMATCH),
        ({"version": "9.9"}, R.VERSION_MISMATCH),
        ({"entry_points": {GROUP: {"tool": "acme_tool.helpers"}}}, R.ENTRY_POINTS_MISMATCH),
        ({"entry_points": {}}, R.ENTRY_POINTS_MISMATCH),
    ],
)
def test_statement_that_disagrees_with_the_installation_is_rejected(
    lab: Lab, changes: dict[str, Any], code: ReasonCode
) -> None:
    wheel = tool_wheel(lab.root / "dist")
    install(forge(wheel, KEY, issued_at=SIGNED_AT, **changes), lab.site)
    rejected(lab.host().load(), TOOL, {code})


# --- async hooks --------------------------------------------------------------------------------------------------


def test_ahook_awaits_async_implementations_through_the_host(lab: Lab) -> None:
    body = (
        "import asyncio\n"
        "@hookimpl\n"
        "async def describe_plugin():\n"
        "    await asyncio.sleep(0)\n"
        "    return {'name': 'async-tool'}\n"
    )
    lab.tool(files=tool_files(plugin=plugin_source(body)))
    host = lab.host()
    assert host.load().all_accepted
    results = asyncio.run(host.ahook.describe_plugin())
    assert sorted(names(results)) == ["async-tool", "csv"]
    assert asyncio.run(host.ahook.process_records(records=RECORDS)) == CLEANED
    calls = {(s.plugin, s.hook): s.calls for s in host.manager.stats().entries}
    assert calls[(TOOL, "describe_plugin")] == 1


# --- construction ---------------------------------------------------------------------------------------------------


def test_trust_store_from_a_file(lab: Lab) -> None:
    store = write_store(lab.root / "trust.toml", KEY)
    assert lab.host(trust_store=store).load()[GOOD].status == "accepted"
    (lab.root / "bad.toml").write_text("version = 2\n")
    with pytest.raises(TrustStoreError):
        lab.host(trust_store=lab.root / "bad.toml")


def test_unknown_signer_is_rejected(lab: Lab) -> None:
    lab.tool(key=PrivateKey.generate())
    rejected(lab.host().load(), TOOL, {R.KEY_UNKNOWN, R.THRESHOLD_NOT_MET})


def test_store_with_no_keys_rejects_everything(lab: Lab) -> None:
    report = lab.host(trust_store=TrustStore.from_keys([])).load()
    rejected(report, GOOD, {R.KEY_UNKNOWN, R.THRESHOLD_NOT_MET})


# --- securehost list -----------------------------------------------------------------------------------------------


def cli(*args: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SECUREHOST_DEBUG"}
    env["PYTHONPATH"] = str(SRC)
    return subprocess.run(
        [sys.executable, "-m", "securehost", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


@pytest.fixture
def store_file(lab: Lab) -> Path:
    return write_store(lab.root / "trust.toml", KEY, max_permissions=["fs.read:/srv/**"])


def test_cli_list_shows_verdicts_and_runs_no_plugin_code(lab: Lab, store_file: Path) -> None:
    lab.tool(files=tool_files(payload=lab.canary.source()))
    done = cli("list", "--group", GROUP, "--store", store_file, "--path", lab.site)
    assert (done.returncode, done.stderr) == (0, "")
    assert f"{GOOD} 1.0.0: VERIFIED" in done.stdout
    assert f"{TOOL} 1.0: VERIFIED" in done.stdout
    assert f"signed by: {KEY.key_id[:16]}" in done.stdout
    assert not lab.canary.path.exists()


def test_cli_list_json_and_exit_1_when_one_is_rejected(lab: Lab, store_file: Path) -> None:
    lab.tool()
    helpers = lab.site / "acme_tool" / "helpers.py"
    helpers.write_text(helpers.read_text() + "# changed\n")
    done = cli("list", "--group", GROUP, "--store", store_file, "--path", lab.site, "--json")
    assert (done.returncode, done.stderr) == (1, "")
    data = json.loads(done.stdout)
    assert data["group"] == GROUP
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name[GOOD]["status"] == "verified"
    assert by_name[GOOD]["signers"] == [KEY.key_id]
    assert by_name[TOOL]["status"] == "rejected"
    assert [r["code"] for r in by_name[TOOL]["reasons"]] == ["installed-file-modified"]
    assert by_name[TOOL]["reasons"][0]["subject"] == "acme_tool/helpers.py"


def test_cli_list_grant_releases_a_held_plugin(lab: Lab, store_file: Path) -> None:
    lab.tool(permissions=[READ])
    args = ["list", "--group", GROUP, "--store", store_file, "--path", lab.site, "--json"]
    held = json.loads(cli(*args).stdout)
    assert {p["name"]: p["status"] for p in held["plugins"]}[TOOL] == "held"
    assert main([*map(str, args), "--grant", f"{TOOL}={READ}"]) == 0
    assert main([*map(str, args)]) == 1


def test_cli_list_shows_where_each_plugin_would_run(lab: Lab, store_file: Path) -> None:
    lab.tool()
    args = ["list", "--group", GROUP, "--store", store_file, "--path", lab.site]
    data = json.loads(cli(*args, "--json", "--isolation", f"{TOOL}=process").stdout)
    by_name = {p["name"]: p for p in data["plugins"]}
    assert by_name[GOOD]["isolation"] == {"mode": "in-process"}
    isolation = by_name[TOOL]["isolation"]
    assert isolation["mode"] == "process"
    assert isolation["planned"] is True
    assert set(isolation["protections"]) >= {"userns", "netns", "pidns", "landlock", "seccomp", "no_new_privs"}
    assert "would run in a process (" in cli(*args, "--isolation", f"{TOOL}=process").stdout
    bad = cli(*args, "--isolation", f"{TOOL}=sandbox")
    assert bad.returncode == 2
    assert "--isolation takes GLOB=in-process or GLOB=process" in bad.stderr


def test_cli_list_without_plugins_exits_0(lab: Lab, store_file: Path) -> None:
    empty = lab.root / "empty"
    empty.mkdir()
    done = cli("list", "--group", GROUP, "--store", store_file, "--path", empty)
    assert done.returncode == 0
    assert f"declares entry points in group {GROUP!r}; no group exists there" in done.stdout


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--group", GROUP, "--store", "{missing}"], "missing.toml"),
        (["--group", "bad group!", "--store", "{store}"], "bad group!"),
        (["--group", GROUP, "--store", "{store}", "--grant", "no-equals-sign"], "NAME=PERMISSION"),
        (["--group", GROUP, "--store", "{store}", "--grant", f"{TOOL}=not a permission"], "not a permission"),
        (["--store", "{store}"], "--group"),
    ],
)
def test_cli_list_usage_errors_exit_2(lab: Lab, store_file: Path, args: list[str], fragment: str) -> None:
    values = {"store": store_file, "missing": lab.root / "missing.toml"}
    done = cli("list", *(a.format(**values) for a in args), "--path", lab.site)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert "Traceback" not in done.stderr
    assert fragment in done.stderr


def test_list_plugins_with_a_state_dir_sees_rollbacks(lab: Lab) -> None:
    from securehost import list_plugins

    newer = lab.tool(version="2.0")
    lab.host().load()
    lab.close()
    uninstall(newer)
    lab.tool(version="1.0")
    with_state = list_plugins(group=GROUP, store=STORE, path=[lab.site], state_dir=lab.state)
    assert codes(with_state[TOOL]) == {R.ROLLBACK}
    assert list_plugins(group=GROUP, store=STORE, path=[lab.site])[TOOL].status == "verified"


def test_loading_with_the_guard_off_warns_every_time(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from securehost import Host, PermissionSet, PrivateKey, TrustedKey, TrustStore

    key = PrivateKey.generate()
    store = TrustStore.from_keys(
        [TrustedKey(key=key.public_key, label="k", names=["*"], max_permissions=PermissionSet())]
    )
    state = tmp_path / "s"
    host = Host(
        project="warnapp", group="warnapp.plugins", trust_store=store, path=[tmp_path], state_dir=state, guard=False
    )
    with caplog.at_level(logging.WARNING, logger="securehost.host"):
        host.load()
        host.load()
        host.check()
    host.close()
    warnings = [r for r in caplog.records if "guard off" in r.getMessage()]
    assert len(warnings) == 2


def test_closing_a_host_leaves_a_shared_audit_log_open(tmp_path: Path) -> None:
    import json

    from securehost import AuditLog, Host, PermissionSet, PrivateKey, TrustedKey, TrustStore

    key = PrivateKey.generate()
    store = TrustStore.from_keys(
        [TrustedKey(key=key.public_key, label="k", names=["*"], max_permissions=PermissionSet())]
    )
    shared = AuditLog(tmp_path / "audit.jsonl")
    first = Host(
        project="a", group="a.plugins", trust_store=store, path=[tmp_path], state_dir=tmp_path / "a", audit=shared
    )
    second = Host(
        project="b", group="b.plugins", trust_store=store, path=[tmp_path], state_dir=tmp_path / "b", audit=shared
    )
    first.close()
    second.enable("some-plugin")  # an audited decision after the other host closed
    second.close()
    events = [json.loads(line)["event"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert events == ["plugin.enabled"]
    shared.close()


def test_closing_a_host_closes_the_audit_sink_it_opened(tmp_path: Path) -> None:
    from securehost import Host, PermissionSet, PrivateKey, TrustedKey, TrustStore

    key = PrivateKey.generate()
    store = TrustStore.from_keys(
        [TrustedKey(key=key.public_key, label="k", names=["*"], max_permissions=PermissionSet())]
    )
    host = Host(project="c", group="c.plugins", trust_store=store, path=[tmp_path], state_dir=tmp_path / "c",
                audit_sink=tmp_path / "own.jsonl")  # fmt: skip
    host.close()
    host.audit.emit("after.close")
    assert (tmp_path / "own.jsonl").read_text() == ""


def test_an_unreadable_envelope_is_one_reason_and_the_other_plugins_load(lab: Lab) -> None:
    """A symlinked envelope is not followed: one ``envelope-malformed`` reason, not a second one for empty JSON."""
    lab.tool()
    (dist_info,) = lab.site.glob("acme_tool-*.dist-info")
    envelope = dist_info / "securehost.dsse.json"
    real = envelope.rename(lab.site.parent / "elsewhere.dsse.json")
    envelope.symlink_to(real)
    host = lab.host()
    report = host.load()
    tool = report[TOOL]
    assert tool.status == "rejected"
    assert [r.code for r in tool.verdict.reasons] == [ReasonCode.ENVELOPE_MALFORMED]
    assert "cannot read securehost.dsse.json" in tool.verdict.reasons[0].message
    assert report[GOOD].status == "accepted"
