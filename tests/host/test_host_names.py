"""Plugin names: the Host registers entry points under their entry-point names and reports distributions, as pluggy.

``pluggy.PluginManager.load_setuptools_entrypoints`` registers ``ep.name`` and lists ``(plugin, distinfo)`` pairs;
an application that moves to :class:`Host` keeps both. A name that is taken never silently overwrites or skips.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from securehost import PrivateKey, ReasonCode
from securehost._names import canonicalize_name
from tests.hostkit import GOOD, GOOD_EP, TOOL, Lab, codes, entry_points, lab_fixtures, rejected
from tests.wheelfactory import trust, trusted

R = ReasonCode
KEY = PrivateKey.generate()
STORE = trust(trusted(KEY, label="release"))


good_wheel, lab = lab_fixtures(KEY, STORE)  # the signed example plugin and a lab that installs it


def test_plugins_are_registered_under_their_entry_point_names(lab: Lab) -> None:
    lab.tool()
    host = lab.host()
    report = host.load()
    assert report[GOOD].plugins == (GOOD_EP,)  # the report is still by distribution
    assert report[TOOL].plugins == (TOOL,)
    assert host.manager.get_plugin(GOOD_EP) is sys.modules["securehost_example_csv.plugin"]
    assert host.manager.get_plugin(GOOD) is None


def test_list_plugin_distinfo_returns_the_distributions_as_pluggy_does(lab: Lab) -> None:
    host = lab.host()
    assert host.manager.list_plugin_distinfo() == []
    host.load()
    ((plugin, dist),) = host.manager.list_plugin_distinfo()
    assert plugin is host.manager.get_plugin(GOOD_EP)
    assert dist.project_name == GOOD
    assert dist.metadata["Name"] == GOOD
    assert dist.version == "1.0.0"
    assert [(p, d.metadata["Name"]) for p, d in host.manager.list_plugin_distributions()] == [(plugin, GOOD)]
    host.unload(GOOD)
    assert host.manager.list_plugin_distinfo() == []


@pytest.mark.parametrize("other_first", [False, True])
def test_two_distributions_with_one_entry_point_name_the_first_on_the_path_keeps_it(
    lab: Lab, other_first: bool
) -> None:
    other_site = lab.root / "other-site"
    lab.tool(name="other-csv", eps=entry_points(csv="other_csv.plugin"), site=other_site)
    path = [other_site, lab.site] if other_first else [lab.site, other_site]
    host = lab.host(path=path)
    checked = host.check()
    report = host.load()
    winner, loser = ("other-csv", GOOD) if other_first else (GOOD, "other-csv")
    for outcome, status in ((checked, "verified"), (report, "accepted")):
        assert outcome[winner].status == status
        assert codes(outcome[loser]) == {R.PLUGIN_NAME_TAKEN}
        (reason,) = outcome[loser].verdict.reasons
        assert reason.subject == "csv"
        assert f"already registered by distribution {winner}" in reason.message
    rejected(report, loser, {R.PLUGIN_NAME_TAKEN})
    assert host.implementations("describe_plugin") == ["csv"]
    assert canonicalize_name(host.manager.list_plugin_distinfo()[0][1].project_name) == winner
    if other_first:
        assert "securehost_example_csv" not in sys.modules  # the loser is never imported
    else:
        assert "other_csv" not in sys.modules


def test_a_name_registered_by_host_code_is_not_overwritten(lab: Lab) -> None:
    host = lab.host()

    class BuiltIn:
        pass

    builtin = BuiltIn()
    host.manager.register(builtin, name=GOOD_EP)
    report = host.load()
    plugin = rejected(report, GOOD, {R.PLUGIN_NAME_TAKEN})
    assert "the host (registered with pm.register)" in plugin.verdict.reasons[0].message
    assert host.manager.get_plugin(GOOD_EP) is builtin


def test_a_name_blocked_by_the_host_disables_the_distribution_with_the_reason(lab: Lab) -> None:
    host = lab.host()
    host.manager.set_blocked(GOOD_EP)
    report = host.load()[GOOD]
    assert report.status == "disabled"
    assert codes(report) == {R.DISABLED}
    assert "pm.set_blocked" in report.verdict.reasons[0].message
    assert host.manager.get_plugin(GOOD_EP) is None


def test_a_built_in_plugin_registered_by_the_host_runs_as_the_host_next_to_loaded_plugins(
    lab: Lab, tmp_path: Path
) -> None:
    """The application's own plugin reads the user's configuration with the guard on; loaded plugins stay guarded."""
    import pluggy

    user_config = tmp_path / "home" / ".config" / "demoapp.ini"
    user_config.parent.mkdir(parents=True)
    user_config.write_text("theme=dark")

    class BuiltIn:
        @pluggy.HookimplMarker("demoapp")
        def describe_plugin(self) -> dict[str, Any]:
            return {"name": user_config.read_text(), "capabilities": []}

    host = lab.host(guard=True)
    name = host.manager.register(BuiltIn())
    report = host.load()
    assert report[GOOD].status == "accepted"
    assert report.warnings == ()
    assert name is not None
    assert host.manager.runs_as_host(name)
    assert not host.manager.runs_as_host(GOOD_EP)
    assert {"name": "theme=dark", "capabilities": []} in host.hook.describe_plugin()
    assert "guard.denied" not in [e["event"] for e in lab.events()]


def test_a_load_lists_each_directory_on_the_path_once(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shadowing check takes the listings of the load's own discovery instead of listing the same entries again."""
    import importlib.machinery

    from tests._plugins import record_listdir

    other = lab.root / "other-libs"
    other.mkdir()
    monkeypatch.syspath_prepend(str(other))
    monkeypatch.syspath_prepend(str(lab.site))
    for entry in (str(other), str(lab.site)):
        importlib.machinery.PathFinder.find_spec("nothing_here_names", [entry])  # each entry has its finder
    listed = record_listdir(monkeypatch)
    report = lab.host(path=None).load()
    assert report[GOOD].status == "accepted"
    assert str(other) not in listed
