"""Lifecycle hooks, configuration and health for a plugin that runs in an isolated worker."""

from __future__ import annotations

import sys

import pytest

from securehost import DependencyPolicy, HookspecMarker, ProcessIsolation, ReasonCode, WorkerLimits, sign_wheel

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="confinement is Linux-only")

hookspec = HookspecMarker("isoapp")
SCHEMA = {
    "type": "object",
    "properties": {"greeting": {"type": "string"}, "token": {"type": "string", "writeOnly": True}},
}
SOURCE = """
import os, time
import pluggy
from securehost import current_plugin
hookimpl = pluggy.HookimplMarker("isoapp")
STARTED = []

@hookimpl
def securehost_start(config):
    if config.get("greeting") == "hang":
        time.sleep(30)
    STARTED.append(dict(config))

@hookimpl
def securehost_health():
    return {"status": "degraded", "reason": f"pid {os.getpid()}"} if STARTED else "failing"

@hookimpl
def greet():
    return [current_plugin().config["greeting"], STARTED[0]["greeting"], os.getpid()]
"""


class Spec:
    @hookspec
    def greet(self) -> list[object]:  # type: ignore[empty-body]
        """Answer with the configuration the plugin sees."""


@pytest.fixture
def make_host(securehost_site, securehost_wheel_factory, securehost_key, securehost_host_factory):
    def make(greeting: str, **options: object):
        wheel = securehost_wheel_factory.from_files(
            {"iso_life/__init__.py": SOURCE},
            name="iso-life",
            entry_points={"isoapp.plugins": {"iso-life": "iso_life"}},
            signed=False,
        )
        signed = sign_wheel(wheel, securehost_key, config={"schema": SCHEMA, "defaults": {"greeting": "hi"}})
        securehost_site.install(signed)
        return securehost_host_factory(
            project="isoapp",
            hookspecs=Spec,
            isolation={"iso-*": ProcessIsolation(limits=WorkerLimits(call_timeout=10.0))},
            dependency_policy=DependencyPolicy(allowed_modules=["pluggy", "securehost"]),
            config={"iso-life": {"greeting": greeting, "token": "s3cr3t-token"}},
            **options,
        )

    return make


def test_an_isolated_plugin_starts_with_its_configuration_and_reports_health(make_host) -> None:
    host = make_host("hello")
    report = host.load()["iso-life"]
    assert report.status == "accepted", report.summary()
    assert report.isolation["mode"] == "process"
    greeting, started, pid = host.hook.greet()[0]
    assert (greeting, started) == ("hello", "hello")
    health = host.health()["iso-life"]
    assert health.state == "degraded"
    assert health.reason == f"pid {pid}"
    assert health.isolation == "process"
    assert health.config == {"greeting": "hello", "token": "********"}


def test_an_isolated_plugin_whose_start_hangs_is_held_and_its_worker_goes(make_host) -> None:
    host = make_host("hang", lifecycle_timeout=1.0)
    report = host.load()["iso-life"]
    assert report.status == "held"
    assert {r.code for r in report.verdict.reasons} == {ReasonCode.PLUGIN_START_TIMEOUT}
    assert host.implementations("greet") == []
