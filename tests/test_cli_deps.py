"""``securehost deps``: approve, list and closure, in process (the host tests run the printed approval end to end)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from securehost._cli import main
from tests._plugins import fake_install


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    fake_install(site, "host-app", "1.0", {"host_app/__init__.py": ""}, requires=("fastmath", "gone"))
    fake_install(site, "fastmath", "2.0", {"fastmath/__init__.py": "X = 1\n"})
    return site


def test_approve_and_list_as_json(site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    approvals = tmp_path / "a.json"
    argv = ["deps", "approve", "--approvals", str(approvals), "--plugin", "Acme.Tool", "--path", str(site)]
    assert main([*argv, "fastmath", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["plugin"] == "acme-tool"
    assert [(a["name"], a["version"], a["modules"]) for a in out["approved"]] == [("fastmath", "2.0", ["fastmath"])]
    assert main(["deps", "list", "--approvals", str(approvals), "--json", "--check"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["plugins"] == {"acme-tool": ["fastmath"]}
    assert listed["distributions"]["fastmath"]["problems"] == []
    assert main(["deps", "list", "--approvals", str(approvals)]) == 0
    assert "fastmath 2.0" in capsys.readouterr().out
    (site / "fastmath" / "__init__.py").write_text("X = 2\n")
    assert main(["deps", "list", "--approvals", str(approvals), "--check", "--json"]) == 1
    problems = json.loads(capsys.readouterr().out)["distributions"]["fastmath"]["problems"]
    assert len(problems) == 1
    assert "fastmath/__init__.py was modified" in problems[0]


def test_approvals_default_to_the_projects_state_dir(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    state = tmp_path / "state"
    argv = ["--project", "demoapp", "--state-dir", str(state)]
    assert main(["deps", "approve", *argv, "--plugin", "p", "--path", str(site), "fastmath"]) == 0
    assert f"written to {state / 'dependency-approvals.json'}" in capsys.readouterr().out
    assert main(["deps", "list", *argv]) == 0
    assert "p:" in capsys.readouterr().out


def test_deps_needs_an_approvals_file_and_an_installed_distribution(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deps", "list"]) == 2
    assert "give --approvals FILE, or --project NAME" in capsys.readouterr().err
    approve = ["deps", "approve", "--approvals", str(tmp_path / "a.json"), "--plugin", "p", "--path", str(site)]
    assert main([*approve, "absent"]) == 2
    assert "absent is not installed" in capsys.readouterr().err
    assert main(["deps", "list", "--approvals", str(tmp_path / "a.json")]) == 0
    assert "no approvals" in capsys.readouterr().out


def test_closure(site: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deps", "closure", "host-app", "--path", str(site), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["distributions"] == {
        "fastmath": {"version": "2.0", "modules": ["fastmath"]},
        "host-app": {"version": "1.0", "modules": ["host_app"]},
    }
    assert (out["missing"], out["truncated"]) == (["gone"], False)
    assert main(["deps", "closure", "host-app", "--path", str(site)]) == 0
    text = capsys.readouterr().out
    assert "fastmath 2.0: fastmath" in text
    assert "gone: not installed" in text
    assert main(["deps", "closure", "nothing-here", "--path", str(site)]) == 1
