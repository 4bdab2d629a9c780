"""The orchestrator's side of the Host: capabilities, configuration, lifecycle (order, deadlines) and health.

Plugins are small signed wheels installed with ``installer`` (``tests.hostkit``); each records what happened to it in
a list kept in :mod:`builtins` under a per-test token, so the test reads the order of lifecycle calls.
"""

from __future__ import annotations

import builtins
import json
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import securehost._orchestrator
from securehost import DependencyPolicy, PrivateKey, ReasonCode
from securehost._orchestrator.config import REDACTED
from securehost.exceptions import CapabilityFormatError, ConfigurationError
from tests.hostkit import Lab, codes, tool_files
from tests.wheelfactory import copy_wheel, trust, trusted

R = ReasonCode
KEY = PrivateKey.generate()
STORE = trust(trusted(KEY, label="release", capabilities=["data.*", "agent.*"]))
SECRET = "hunter2-very-secret-token"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "precision": {"type": "integer", "minimum": 0, "maximum": 10},
        "mode": {"enum": ["fast", "exact"]},
        "token": {"type": "string", "format": "password", "minLength": 8},
    },
    "required": ["token"],
    "additionalProperties": False,
}
CONFIG = {"schema": SCHEMA, "defaults": {"precision": 2, "mode": "fast"}}
POLICY = DependencyPolicy(allowed_modules=["pluggy", "securehost"], allowed_distributions=["pluggy"])


@pytest.fixture(scope="module")
def good_wheel(example_wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.hostkit import sign

    return sign(copy_wheel(example_wheels["csv"], tmp_path_factory.mktemp("good")), KEY)


@pytest.fixture
def lab(tmp_path: Path, good_wheel: Path) -> Any:
    made = Lab(root=tmp_path, key=KEY, store=STORE, good_wheel=good_wheel)
    yield made
    made.close()


@pytest.fixture
def log() -> Any:
    token = f"_orchestration_{uuid.uuid4().hex}"
    entries: list[Any] = []
    setattr(builtins, token, entries)
    yield token, entries
    delattr(builtins, token)


def plugin(token: str, body: str = "") -> str:
    """A plugin module that logs its lifecycle calls into ``builtins.<token>``; *body* adds or overrides hooks."""
    return (
        "import builtins, pluggy, time\n"
        "from securehost import current_plugin\n"
        "hookimpl = pluggy.HookimplMarker('demoapp')\n"
        f"LOG = getattr(builtins, {token!r})\n"
        "NAME = __name__.split('.')[0]\n"
        "@hookimpl\n"
        "def securehost_start(config):\n"
        "    LOG.append(('start', NAME, dict(config)))\n"
        "@hookimpl\n"
        "def securehost_stop():\n"
        "    LOG.append(('stop', NAME))\n"
        "@hookimpl\n"
        "def describe_plugin():\n"
        "    context = current_plugin()\n"
        "    return {'name': NAME, 'config': dict(context.config), 'who': context.plugin}\n" + body
    )


def add(lab: Lab, name: str, source: str, **options: Any) -> Path:
    package = name.replace("-", "_")
    return lab.tool(name=name, files=tool_files(package, plugin=source), **options)


# --- capabilities -------------------------------------------------------------------------------------------------


def test_select_and_hook_for_route_calls_by_capability(lab: Lab, log: Any) -> None:
    token, _ = log
    add(lab, "alpha", plugin(token), capabilities=["data.filter", "data.transform"])
    add(lab, "beta", plugin(token), capabilities=["agent.analyze"])
    add(lab, "gamma", plugin(token))
    host = lab.host(dependency_policy=POLICY)
    report = host.load()
    assert report["alpha"].capabilities == ("data.filter", "data.transform")
    assert "offers:    data.filter, data.transform" in report["alpha"].summary()
    assert host.select("data.transform") == ("alpha",)
    assert host.select("data.*") == ("alpha",)
    assert host.select("*") == ("alpha", "beta")
    assert host.select("agent.decompose") == ()
    assert [r["name"] for r in host.hook_for("data.transform").describe_plugin()] == ["alpha"]
    assert [r["name"] for r in host.hook_for("agent.*").describe_plugin()] == ["beta"]
    assert host.hook_for("system.nothing").describe_plugin() == []
    assert host.manager.stats().get("alpha", "describe_plugin").calls == 1
    assert host.manager.stats().get("gamma", "describe_plugin") is None
    with pytest.raises(CapabilityFormatError):
        host.select("Data.Transform")


def test_a_capability_the_key_may_not_vouch_for_is_rejected(lab: Lab, log: Any) -> None:
    token, _ = log
    add(lab, "alpha", plugin(token), capabilities=["data.transform", "system.shell"])
    report = lab.host(dependency_policy=POLICY).load()
    assert report["alpha"].status == "rejected"
    assert codes(report["alpha"]) == {R.CAPABILITY_NOT_VOUCHED}
    assert report["alpha"].verdict.reasons[0].subject == "system.shell"


# --- configuration ------------------------------------------------------------------------------------------------


def test_valid_configuration_reaches_start_and_current_plugin_with_secrets_redacted_in_reports(
    lab: Lab, log: Any
) -> None:
    token, entries = log
    add(lab, "alpha", plugin(token), config=CONFIG)
    host = lab.host(dependency_policy=POLICY, config={"Alpha": {"token": SECRET, "mode": "exact"}})
    report = host.load()["alpha"]
    assert report.status == "accepted", report.summary()
    expected = {"precision": 2, "mode": "exact", "token": SECRET}
    assert entries == [("start", "alpha", expected)]
    assert host.hook.describe_plugin() == [{"name": "alpha", "config": expected, "who": "alpha"}]
    assert report.config == {"precision": 2, "mode": "exact", "token": REDACTED}
    assert SECRET not in json.dumps(report.to_json())
    assert SECRET not in json.dumps(host.health().to_json())
    assert SECRET not in lab.audit.read_text()
    assert any(e["event"] == "lifecycle.started" and e["config"]["token"] == REDACTED for e in lab.events())


def test_configuration_file_is_overlaid_by_the_mapping(lab: Lab, log: Any, tmp_path: Path) -> None:
    token, entries = log
    add(lab, "alpha", plugin(token), config=CONFIG)
    path = tmp_path / "plugins.toml"
    path.write_text(f'[alpha]\ntoken = "{SECRET}"\nprecision = 7\nmode = "exact"\n')
    host = lab.host(dependency_policy=POLICY, config_file=path, config={"alpha": {"precision": 9}})
    assert host.load()["alpha"].status == "accepted"
    assert entries == [("start", "alpha", {"precision": 9, "mode": "exact", "token": SECRET})]
    path.write_text("alpha = 1\n")
    with pytest.raises(ConfigurationError, match="must be a table"):
        lab.host(config_file=path)


def test_invalid_configuration_holds_the_plugin_naming_the_keys_never_the_values(lab: Lab, log: Any) -> None:
    token, entries = log
    add(lab, "alpha", plugin(token), config=CONFIG)
    add(lab, "beta", plugin(token))
    bad = {"token": "short", "precision": 99, "colour": "red"}
    host = lab.host(dependency_policy=POLICY, config={"alpha": bad})
    report = host.load()
    alpha = report["alpha"]
    assert alpha.status == "held"
    assert codes(alpha) == {R.CONFIG_INVALID}
    assert {r.subject for r in alpha.verdict.reasons} == {"/token", "/precision", "/colour"}
    held = next(e for e in lab.events() if e["event"] == "plugin.held")
    messages = [r.message for r in alpha.verdict.reasons] + [r["message"] for r in held["reasons"]]
    assert len(messages) == 6
    for message in messages:
        for value in ("short", "99", "'red'"):
            assert value not in message
    assert report["beta"].status == "accepted"
    assert entries == [("start", "beta", {})]
    assert host.implementations("describe_plugin") == ["beta"]


def test_missing_configuration_holds_the_plugin(lab: Lab, log: Any) -> None:
    token, _ = log
    add(lab, "alpha", plugin(token), config=CONFIG)
    alpha = lab.host(dependency_policy=POLICY).load()["alpha"]
    assert alpha.status == "held"
    assert [str(r) for r in alpha.verdict.reasons] == ["[config-invalid] configuration /token: missing (required)"]


def test_configuring_a_plugin_that_declares_no_schema_holds_it(lab: Lab, log: Any) -> None:
    token, _ = log
    add(lab, "alpha", plugin(token))
    alpha = lab.host(dependency_policy=POLICY, config={"alpha": {"x": 1}}).load()["alpha"]
    assert alpha.status == "held"
    assert codes(alpha) == {R.CONFIG_INVALID}


def test_secrets_are_scrubbed_from_errors_in_health(lab: Lab, log: Any) -> None:
    token, _ = log
    body = (
        "@hookimpl\ndef process_records(records):\n"
        "    raise ValueError('bad token ' + current_plugin().config['token'])"
    )
    add(lab, "alpha", plugin(token, body + "\n"), config=CONFIG)
    host = lab.host(dependency_policy=POLICY, config={"alpha": {"token": SECRET}}, isolate=True)
    host.load()
    with pytest.raises(Exception, match="process_records"):
        host.hook.process_records(records=[])
    health = host.health()["alpha"]
    assert health.last_error == f"ValueError: bad token {REDACTED}"
    assert SECRET not in json.dumps(health.to_json())


# --- lifecycle ----------------------------------------------------------------------------------------------------


def test_plugins_start_in_dependency_order_and_stop_in_reverse(lab: Lab, log: Any) -> None:
    token, entries = log
    add(lab, "alpha", plugin(token), requires=["beta>=1.0"])
    add(lab, "beta", plugin(token), requires=["gamma"])
    add(lab, "gamma", plugin(token))
    policy = DependencyPolicy(allowed_modules=POLICY.allowed_modules, allowed_distributions=["alpha", "beta", "gamma"])
    host = lab.host(dependency_policy=policy)
    assert host.load().all_accepted
    assert [e[1] for e in entries] == ["gamma", "beta", "alpha"]
    entries.clear()
    host.reload("beta")
    assert entries == [("stop", "beta"), ("start", "beta", {})]
    entries.clear()
    host.close()
    assert entries == [("stop", "alpha"), ("stop", "beta"), ("stop", "gamma")]
    events = [e["event"] for e in lab.events()]
    assert "lifecycle.started" in events
    assert "lifecycle.stopped" in events


def test_a_plugin_whose_start_raises_is_held_and_the_others_start(lab: Lab, log: Any) -> None:
    token, entries = log
    body = "@hookimpl\ndef securehost_start(config):\n    raise RuntimeError('no database')\n"
    add(lab, "alpha", plugin(token, body))
    add(lab, "beta", plugin(token))
    add(lab, "gamma", plugin(token), requires=["alpha"])
    host = lab.host(dependency_policy=DependencyPolicy(allowed_modules=POLICY.allowed_modules, mode="report"))
    report = host.load()
    alpha = report["alpha"]
    assert (alpha.status, codes(alpha)) == ("held", {R.PLUGIN_START_FAILED})
    assert "RuntimeError: no database" in str(alpha.verdict.reasons[0])
    assert report["gamma"].status == "held"
    assert "depends on alpha" in str(report["gamma"].verdict.reasons[0])
    assert report["beta"].status == "accepted"
    assert host.implementations("describe_plugin") == ["beta"]
    assert set(host.plugins) == {"beta"}
    assert entries == [("start", "beta", {})]
    failed = [e for e in lab.events() if e["event"] == "lifecycle.failed"]
    assert [(e["plugin"], e["phase"]) for e in failed] == [("alpha", "start")]


def test_a_plugin_whose_start_hangs_is_held_after_the_deadline(lab: Lab, log: Any) -> None:
    token, entries = log
    release = threading.Event()
    setattr(builtins, token + "_release", release)
    body = f"@hookimpl\ndef securehost_start(config):\n    getattr(builtins, {token + '_release'!r}).wait(30)\n"
    add(lab, "alpha", plugin(token, body))
    add(lab, "beta", plugin(token))
    host = lab.host(dependency_policy=POLICY, lifecycle_timeout=0.5)
    started = time.monotonic()
    try:
        report = host.load()
    finally:
        release.set()
        delattr(builtins, token + "_release")
    assert time.monotonic() - started < 10
    assert (report["alpha"].status, codes(report["alpha"])) == ("held", {R.PLUGIN_START_TIMEOUT})
    assert "did not return within 0.5 s" in str(report["alpha"].verdict.reasons[0])
    assert report["beta"].status == "accepted"
    assert entries == [("start", "beta", {})]


def test_a_failing_stop_is_audited_and_the_plugin_is_unloaded_anyway(lab: Lab, log: Any) -> None:
    token, _ = log
    add(lab, "alpha", plugin(token, "@hookimpl\ndef securehost_stop():\n    raise OSError('stuck')\n"))
    host = lab.host(dependency_policy=POLICY)
    host.load()
    assert host.unload("alpha")
    assert host.implementations("describe_plugin") == []
    failed = [e for e in lab.events() if e["event"] == "lifecycle.failed"]
    assert [(e["plugin"], e["phase"]) for e in failed] == [("alpha", "stop")]


def test_selection_and_health_first_used_inside_a_plugin_hook_are_imported_as_the_host(
    lab: Lab, log: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They are imported on first use; a host callback that a plugin calls may be that use (guard on)."""
    token, _ = log
    body = "@hookimpl\ndef process_records(records):\n    return records[0]()\n"
    add(lab, "alpha", plugin(token, body), capabilities=["data.filter"])
    host = lab.host(dependency_policy=POLICY, guard=True)
    assert host.load()["alpha"].accepted
    for module in ("select", "health"):  # as in a fresh process: not imported yet
        monkeypatch.delitem(sys.modules, f"securehost._orchestrator.{module}", raising=False)
        monkeypatch.delattr(securehost._orchestrator, module, raising=False)

    def callback() -> tuple[tuple[str, ...], str]:
        return host.select("data.*"), host.health()["alpha"].state

    assert host.hook.process_records(records=[callback]) == [(("alpha",), "ok")]
    assert host.manager.stats().get("alpha", "process_records").denials == 0


# --- health -------------------------------------------------------------------------------------------------------


def test_health_is_ok_then_degraded_after_errors_then_failing_in_quarantine(lab: Lab, log: Any) -> None:
    token, _ = log
    body = "@hookimpl\ndef process_records(records):\n    raise ValueError('broken batch')\n"
    add(lab, "alpha", plugin(token, body))
    host = lab.host(dependency_policy=POLICY, isolate=True, quarantine_after=2)
    host.load()
    first = host.health()["alpha"]
    assert (first.state, first.reason, first.calls, first.errors) == ("ok", None, 0, 0)
    host.hook.describe_plugin()
    with pytest.raises(Exception, match="process_records"):
        host.hook.process_records(records=[])
    degraded = host.health()["alpha"]
    assert (degraded.state, degraded.errors, degraded.calls) == ("degraded", 1, 2)
    assert degraded.last_error == "ValueError: broken batch"
    with pytest.raises(Exception, match="process_records"):
        host.hook.process_records(records=[])
    quarantined = host.health()["alpha"]
    assert quarantined.state == "degraded"  # describe_plugin still works
    assert quarantined.quarantined == (("alpha", "process_records"),)
    host.manager.quarantine("alpha", "describe_plugin")
    failing = host.health()
    assert failing["alpha"].state == "failing"
    assert failing.state == "failing"
    assert "quarantined: alpha.describe_plugin, alpha.process_records" in failing["alpha"].reason
    table = failing.table()
    assert table.splitlines()[0].split()[:6] == ["plugin", "state", "calls", "errors", "denials", "runs"]
    assert "alpha" in table
    assert "failing" in table


@pytest.mark.parametrize(
    ("answer", "state", "reason"),
    [
        ("'degraded'", "degraded", None),
        ("{'status': 'failing', 'reason': 'disk full'}", "failing", "disk full"),
        ("'confused'", "failing", "not ok/degraded/failing"),
        ("1 / 0", "failing", "ZeroDivisionError"),
    ],
)
def test_health_reports_what_the_plugin_says(lab: Lab, log: Any, answer: str, state: str, reason: str | None) -> None:
    token, _ = log
    add(lab, "alpha", plugin(token, f"@hookimpl\ndef securehost_health():\n    return {answer}\n"))
    host = lab.host(dependency_policy=POLICY)
    host.load()
    health = host.health()["alpha"]
    assert health.state == state
    if reason is None:
        assert health.reason is None
    else:
        assert reason in (health.reason or "")


def test_health_is_exportable_with_the_metrics(lab: Lab, log: Any) -> None:
    from securehost.metrics import prometheus_text

    token, _ = log
    add(lab, "alpha", plugin(token, "@hookimpl\ndef securehost_health():\n    return 'degraded'\n"))
    host = lab.host(dependency_policy=POLICY)
    host.load()
    text = prometheus_text(host.manager, health=host.health())
    assert 'securehost_plugin_health{plugin="alpha",state="degraded"} 1' in text
    assert 'securehost_plugin_health{plugin="alpha",state="ok"} 0' in text
    assert 'securehost_plugin_quarantined_hooks{plugin="alpha"} 0' in text
