"""``securehost install``, ``upgrade`` and ``uninstall`` as a user runs them (``python -m securehost``): exit codes
0 (done), 1 (refused, nothing changed), 2 (usage or configuration), and their ``--json`` output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from securehost import PrivateKey, ReasonCode
from securehost._cli import main
from securehost.testing import WheelFactory, WheelTamper
from tests.test_cli import cli, ok, usage_error

KEY = PrivateKey.generate("ed25519")
FILES = {"cli_installed/__init__.py": "VALUE = 1\n"}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    public = tmp_path / "release.pub"
    public.write_text(KEY.public_key.to_openssh("release") + "\n")
    path = tmp_path / "store.toml"
    assert main(["trust", "add", str(public), "--store", str(path), "--names", "cli-*"]) == 0
    return path


@pytest.fixture
def factory(tmp_path: Path) -> WheelFactory:
    return WheelFactory(tmp_path / "wheels", KEY)


def wheel(factory: WheelFactory, version: str) -> Path:
    return factory.from_files(FILES, name="cli-installed", version=version)


def run_json(*args: object) -> tuple[int, list[dict[str, Any]]]:
    result = cli(*args, "--json")
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


def test_install_upgrade_downgrade_uninstall_through_the_command_line(
    tmp_path: Path, store: Path, factory: WheelFactory
) -> None:
    target = tmp_path / "plugins"
    v1, v2 = wheel(factory, "1.0"), wheel(factory, "2.0")
    text = ok(cli("install", v1, "--target", target, "--store", store))
    assert text.startswith(f"installed cli-installed 1.0 into {target}")
    code, (result,) = run_json("install", v2, "--target", target, "--store", store)
    assert (code, result["installed"], result["action"]) == (1, False, "refused")
    assert [r["code"] for r in result["reasons"]] == [ReasonCode.ALREADY_INSTALLED.value]
    code, (result,) = run_json("upgrade", v2, "--target", target, "--store", store)
    assert (code, result["action"], result["replaced"]) == (0, "upgraded", ["1.0"])
    assert sorted(p.name for p in target.glob("*.dist-info")) == ["cli_installed-2.0.dist-info"]
    refused = cli("upgrade", v1, "--target", target, "--store", store)
    assert refused.returncode == 1
    assert "REFUSED" in refused.stdout
    assert "[downgrade]" in refused.stdout
    code, (result,) = run_json("upgrade", v1, "--target", target, "--store", store, "--allow-downgrade")
    assert (code, result["action"]) == (0, "downgraded")
    code, (result,) = run_json("uninstall", "Cli_Installed", "--target", target)
    assert (code, result["uninstalled"], result["versions"]) == (0, True, ["1.0"])
    assert not (target / "cli_installed").exists()
    code, (result,) = run_json("uninstall", "cli-installed", "--target", target)
    assert (code, [r["code"] for r in result["reasons"]]) == (1, ["not-installed"])


def test_a_tampered_wheel_exits_1_with_every_reason_and_installs_nothing(
    tmp_path: Path, store: Path, factory: WheelFactory
) -> None:
    target = tmp_path / "plugins"
    good = wheel(factory, "1.0")
    tampered = factory.tamper(good, WheelTamper.MODIFY_FILE)
    code, results = run_json("install", good, tampered, "--target", target, "--store", store)
    assert code == 1  # one of the two was refused
    assert [r["installed"] for r in results] == [True, False]
    assert WheelTamper.MODIFY_FILE.reason.value in {r["code"] for r in results[1]["reasons"]}
    assert results[1]["verdict"]["accepted"] is False
    text = cli("install", tampered, "--target", tmp_path / "other", "--store", store)
    assert text.returncode == 1
    assert "REFUSED, nothing was changed" in text.stdout
    assert not (tmp_path / "other").exists()  # not even an empty plugin directory


def test_install_usage_and_configuration_errors_exit_2(tmp_path: Path, store: Path, factory: WheelFactory) -> None:
    usage_error(cli("install", wheel(factory, "1.0"), "--store", store), "--target")
    usage_error(cli("install", tmp_path / "missing-1.0-py3-none-any.whl", "--target", tmp_path, "--store", store))
    usage_error(cli("uninstall", "x", "--target", tmp_path / "nowhere"), "no such plugin directory")
    usage_error(cli("install", "--target", tmp_path, "--store", store, "--allow-downgrade", "x.whl"))
