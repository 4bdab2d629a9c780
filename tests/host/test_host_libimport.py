"""Import attribution: what an allowed library does at import time counts against the library, not the plugin.

``fakenum`` is a real installed distribution (a wheel installed with ``installer`` into its own site directory on
:data:`sys.path`) that behaves like a numerical package at import time: it sets an environment variable, lists every
:data:`sys.path` directory and reads a data file next to itself. A signed plugin imports it. The plugin holds no
permission for any of that; the library is host-installed code that the dependency policy allows.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from securehost import DependencyPolicy, PrivateKey, ReasonCode
from securehost.exceptions import PermissionDeniedError
from tests.hostkit import RECORDS, TOOL, Lab, codes, install, sign, tool_files
from tests.wheelfactory import copy_wheel, make_wheel, trust, trusted

KEY = PrivateKey.generate()
STORE = trust(trusted(KEY, label="release"))
LIBRARY = '''
"""A numerical library that does what such libraries do when imported."""
import os
import sys

os.environ["FAKENUM_NUM_THREADS"] = "1"  # os.putenv: env.write
PATH_LISTING = {p: len(os.listdir(p)) for p in sys.path if os.path.isdir(p)}  # os.listdir: fs.read
with open(os.path.join(os.path.dirname(__file__), "tables.dat"), encoding="utf-8") as handle:  # open: fs.read
    TABLE = handle.read()


def probe():
    """A library function that reads a directory (called later by the plugin)."""
    return sorted(os.listdir(os.path.dirname(__file__)))
'''
PLUGIN_BODY = """import fakenum
import pluggy
hookimpl = pluggy.HookimplMarker("demoapp")


@hookimpl
def describe_plugin():
    return {"name": "numeric", "capabilities": [fakenum.TABLE]}


@hookimpl
def process_records(records):
    return fakenum.probe()
"""
ALLOW = DependencyPolicy(allowed_modules=["pluggy", "fakenum"], allowed_distributions=["pluggy", "fakenum"])


@pytest.fixture(scope="module")
def good_wheel(example_wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sign(copy_wheel(example_wheels["csv"], tmp_path_factory.mktemp("good")), KEY)


@pytest.fixture
def lab(tmp_path: Path, good_wheel: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    library_site = tmp_path / "libsite"
    wheel = make_wheel(
        tmp_path / "libdist",
        {"fakenum/__init__.py": LIBRARY.encode(), "fakenum/tables.dat": b"pi=3.14"},
        name="fakenum",
        version="1.0",
        entry_points=None,
    )
    install(wheel, library_site)
    monkeypatch.syspath_prepend(str(library_site))
    monkeypatch.delenv("FAKENUM_NUM_THREADS", raising=False)
    made = Lab(root=tmp_path, key=KEY, store=STORE, good_wheel=good_wheel)
    made.tool(files=tool_files(plugin=PLUGIN_BODY))
    yield made
    made.close()
    sys.modules.pop("fakenum", None)


def test_an_allowed_librarys_import_time_work_is_not_charged_to_the_plugin(lab: Lab) -> None:
    host = lab.host(guard=True, dependency_policy=ALLOW)
    report = host.load()[TOOL]
    assert report.status == "accepted", report.summary()
    assert report.granted == ()
    assert os.environ["FAKENUM_NUM_THREADS"] == "1"
    assert "guard.denied" not in [e["event"] for e in lab.events()]
    assert host.hook.describe_plugin() == [{"name": "numeric", "capabilities": ["pi=3.14"]}]
    stats = host.manager.stats().for_plugin(TOOL)
    assert all(s.denials == 0 for s in stats)
    # the module looks exactly as if imported normally: the wrapper stepped aside before its code ran
    fakenum = sys.modules["fakenum"]
    assert type(fakenum.__loader__) is importlib.machinery.SourceFileLoader
    assert fakenum.__spec__.loader is fakenum.__loader__


def test_later_calls_into_the_library_are_the_plugins(lab: Lab) -> None:
    host = lab.host(guard=True, dependency_policy=ALLOW)
    assert host.load()[TOOL].status == "accepted"
    with pytest.raises(PermissionDeniedError) as denied:
        host.hook.process_records(records=RECORDS)
    assert denied.value.plugin == TOOL
    assert denied.value.permission.startswith("fs.read:")
    assert [(e["event"], e["plugin"]) for e in lab.events() if e["event"] == "guard.denied"] == [("guard.denied", TOOL)]


def test_a_library_the_policy_does_not_allow_runs_as_the_plugin(lab: Lab) -> None:
    """``"report"`` mode lets the import through, audited; its import-time work is still the plugin's."""
    host = lab.host(guard=True, dependency_policy=DependencyPolicy(mode="report"))
    report = host.load()[TOOL]
    assert report.status == "rejected"
    assert codes(report) == {ReasonCode.IMPORT_FAILED}
    assert "PermissionDeniedError" in report.verdict.reasons[0].message
    assert "import.dependency_reported" in [e["event"] for e in lab.events()]
    assert "FAKENUM_NUM_THREADS" not in os.environ
