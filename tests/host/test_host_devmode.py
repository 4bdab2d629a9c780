"""Plugin development mode: ``Host(unsafe_unsigned=[...])`` loads named unsigned or editable plugins, loudly."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from securehost import NoteCode, PrivateKey, ReasonCode
from tests._plugins import make_project
from tests.hostkit import (
    GOOD,
    GROUP,
    TOOL,
    Lab,
    codes,
    editable_direct_url,
    editable_wheel,
    install,
    lab_fixtures,
    rejected,
    tool_files,
    tool_wheel,
)
from tests.wheelfactory import trust, trusted

R = ReasonCode
KEY = PrivateKey.generate()
STORE = trust(trusted(KEY, label="release"))
READ = "fs.read:/srv/data/**"


good_wheel, lab = lab_fixtures(KEY, STORE)  # the signed example plugin and a lab that installs it


def pip_install_editable(lab: Lab) -> Path:
    """``pip install -e`` as pip does it: the backend's PEP 660 wheel plus ``direct_url.json``; returns the project."""
    files = {k: v.decode() for k, v in tool_files().items()}
    project = make_project(lab.root, TOOL, files, entry_points={TOOL: "acme_tool.plugin"}, group=GROUP)
    wheel = editable_wheel(project, lab.root / "dist" / "editable")
    install(wheel, lab.site, additional_metadata={"direct_url.json": editable_direct_url(project)})
    return project


def test_an_editable_plugin_named_in_unsafe_unsigned_loads_loudly_with_its_grants(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    project = pip_install_editable(lab)
    caplog.set_level(logging.WARNING, logger="securehost.host")
    host = lab.host(unsafe_unsigned=[TOOL], grants={TOOL: [READ]})
    report = host.load()
    tool = report[TOOL]
    assert (tool.status, tool.unsigned, tool.granted) == ("accepted", True, (READ,))
    assert tool.verdict.evidence["development_root"] == str(project / "src")
    assert "UNSIGNED: development mode" in tool.summary()
    assert tool.to_json()["unsigned"] is True
    assert not report[GOOD].unsigned
    assert [(w.code, w.plugin) for w in report.warnings] == [(NoteCode.UNSIGNED_DEV, TOOL)]
    assert {"name": "TOOL", "capabilities": ["tool"]} in host.hook.describe_plugin()
    (event,) = [e for e in lab.events() if e["event"] == "plugin.accepted" and e["plugin"] == TOOL]
    assert event["unsigned"] is True
    assert "unsafe_unsigned" in caplog.text
    # every load warns again, and the development build sets no rollback floor
    caplog.clear()
    assert [w.code for w in host.load().warnings] == [NoteCode.UNSIGNED_DEV]
    assert "unsafe_unsigned" in caplog.text
    assert host._state.highest(TOOL) is None


def test_reload_picks_up_the_working_tree_of_a_development_plugin(lab: Lab) -> None:
    project = pip_install_editable(lab)
    host = lab.host(unsafe_unsigned=[TOOL])
    assert host.check()[TOOL].status == "verified"
    host.load()
    assert {"name": "TOOL", "capabilities": ["tool"]} in host.hook.describe_plugin()
    (project / "src" / "acme_tool" / "helpers.py").write_text("def shout(text):\n    return text + '!'\n")
    assert host.reload(TOOL).status == "accepted"  # hashed again at each load: the new bytes are the ones run
    assert {"name": "tool!", "capabilities": ["tool"]} in host.hook.describe_plugin()


def test_an_unsigned_wheel_install_named_in_unsafe_unsigned_loads(lab: Lab) -> None:
    install(tool_wheel(lab.root / "dist" / "unsigned"), lab.site)
    report = lab.host(unsafe_unsigned=["Acme_Tool"]).load()[TOOL]  # names are canonicalised
    assert (report.status, report.unsigned, report.granted) == ("accepted", True, ())


def test_without_the_option_or_for_another_name_it_is_rejected_as_always(lab: Lab) -> None:
    pip_install_editable(lab)
    rejected(lab.host().load(), TOOL, {R.EDITABLE_INSTALL, R.ENVELOPE_MISSING})
    rejected(lab.host(unsafe_unsigned=["acme-other"]).load(), TOOL, {R.EDITABLE_INSTALL, R.ENVELOPE_MISSING})


def test_a_bad_signature_is_not_excused_by_development_mode(lab: Lab) -> None:
    lab.tool(key=PrivateKey.generate())
    report = lab.host(unsafe_unsigned=[TOOL]).load()[TOOL]
    assert report.status == "rejected"
    assert not report.unsigned
    assert R.KEY_UNKNOWN in codes(report)


@pytest.mark.parametrize(
    ("value", "error", "fragment"),
    [
        (TOOL, TypeError, "takes a list of distribution names"),
        (["acme-*"], ValueError, "exact distribution names, not the pattern 'acme-*'"),
        ([""], TypeError, "each entry must be a distribution name"),
        ([3], TypeError, "each entry must be a distribution name"),
    ],
)
def test_unsafe_unsigned_takes_exact_names_only(lab: Lab, value: Any, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment.replace("*", r"\*")):
        lab.host(unsafe_unsigned=value)
