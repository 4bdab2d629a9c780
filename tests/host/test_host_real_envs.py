"""The Host in a real environment: a fresh ``python -m venv``, securehost installed into it by ``pip`` from this
source tree, the example plugins built with ``python -m build``, signed, and installed by ``pip`` (so with pip's
compiled bytecode), one of them with ``pip install -e``.

The host runs *inside* the venv (a small script executed by the venv's python, as an application would), with the
default search path (:data:`sys.path`); so does ``securehost list``, the venv's console script. The editable
plugin carries attacker code that writes the file named by ``$HOSTTEST_CANARY``; the control test shows that a
plain ``importlib_metadata`` + ``ep.load()`` run in the same venv executes it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from securehost import PrivateKey
from tests.hostkit import CLEANED, GROUP, RECORDS, plain_load_code, sign, write_store
from tests.wheelfactory import EXAMPLES, REPO, copy_wheel

pytestmark = pytest.mark.slow

KEY = PrivateKey.generate()
SKILL_GRANT = "agent.control"
PAYLOAD = (
    "import os as _os, pathlib as _p\n"
    "if _os.environ.get('HOSTTEST_CANARY'):\n"
    "    _p.Path(_os.environ['HOSTTEST_CANARY']).write_text('attacker code ran')\n"
)

HOST_SCRIPT = """
import importlib.util, json, sys
import securehost
from securehost import Host

demoapp_path, store, state = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("demoapp", demoapp_path)
demoapp = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demoapp)
host = Host(
    project="demoapp",
    group=demoapp.GROUP,
    trust_store=store,
    hookspecs=demoapp.DemoAppSpec,
    grants={"securehost-example-skill": ["agent.control"]},
    state_dir=state,
    audit_sink=state + "/audit.jsonl",
)
report = host.load()
accepted = {p.name for p in report.plugins if p.status == "accepted"}
records = json.loads(sys.argv[4])
out = {
    "securehost": securehost.__file__,
    "report": report.to_json(),
    "pycache_accepted": {p.name: p.verdict.evidence.get("pycache_accepted", []) for p in report.plugins},
    "implementations": host.implementations("describe_plugin"),
    "modules": sorted(m for m in sys.modules if m.startswith("securehost_example")),
    "records": host.hook.process_records(records=records) if "securehost-example-csv" in accepted else None,
    "calc": host.hook.run_skill(name="calc", arguments={"expression": "6*7"}),
}
host.close()
print(json.dumps(out))
"""


def run(*args: object, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    environment.update(env or {})
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, check=False, env=environment, cwd=cwd
    )


def checked(*args: object, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = run(*args, **kwargs)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def editable_project(root: Path) -> Path:
    """A copy of the github example whose package runs the payload, with an explicit dev-mode directory.

    hatchling builds editable wheels without the ``editables`` package only with ``dev-mode-dirs``.
    """
    project = shutil.copytree(REPO / "example_plugins" / EXAMPLES["github"][0], root / "github-editable")
    init = project / "src" / "securehost_example_github" / "__init__.py"
    init.write_text(PAYLOAD + init.read_text())
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    assert 'packages = ["src/securehost_example_github"]\n' in text
    pyproject.write_text(text + 'dev-mode-dirs = ["src"]\n')  # the last table is [tool.hatch.build.targets.wheel]
    return project


@pytest.fixture(scope="module")
def venv(example_wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A fresh venv with securehost (from this tree), two signed example plugins and one editable install."""
    root = tmp_path_factory.mktemp("real-venv")
    env_dir = root / "venv"
    checked(sys.executable, "-m", "venv", "--without-pip", env_dir)
    python = env_dir / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
    # as a user installs it: securehost from this tree with its dependencies, built in an isolated build environment
    # (a --system-site-packages venv would depend on whatever the base interpreter happens to have)
    checked(*pip, REPO)
    signed_csv = sign(copy_wheel(example_wheels["csv"], root / "csv"), KEY)
    signed_skill = sign(copy_wheel(example_wheels["skill"], root / "skill"), KEY, permissions=[SKILL_GRANT])
    checked(*pip, "--no-deps", signed_csv, signed_skill)
    checked(*pip, "--no-deps", "-e", editable_project(root))
    (site,) = (env_dir / "lib").glob("python3*/site-packages")
    store = write_store(
        root / "trust.toml", KEY, names=["securehost-example-*"], max_permissions=[SKILL_GRANT], label="release"
    )
    return {"root": root, "python": python, "bin": env_dir / "bin", "site": site, "store": store}


def host_run(venv: dict[str, Path], tmp_path: Path, canary: Path) -> dict[str, Any]:
    script = tmp_path / "host_app.py"
    script.write_text(HOST_SCRIPT)
    state = tmp_path / "state"
    done = checked(
        venv["python"],
        script,
        REPO / "example_plugins" / "demoapp.py",
        venv["store"],
        state,
        json.dumps(RECORDS),
        env={"HOSTTEST_CANARY": str(canary)},
        cwd=tmp_path,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def statuses(report: dict[str, Any]) -> dict[str, tuple[str, set[str]]]:
    return {p["name"]: (p["status"], {r["code"] for r in p["reasons"]}) for p in report["plugins"]}


def test_host_in_a_pip_venv_loads_signed_plugins_and_rejects_the_editable_one(
    venv: dict[str, Path], tmp_path: Path
) -> None:
    canary = tmp_path / "CANARY"
    out = host_run(venv, tmp_path, canary)
    assert Path(out["securehost"]).is_relative_to(venv["site"])  # the venv's securehost, not this tree
    assert statuses(out["report"]) == {
        "securehost-example-csv": ("accepted", set()),
        "securehost-example-skill": ("accepted", set()),
        "securehost-example-github": ("rejected", {"editable-install", "envelope-missing"}),
    }
    assert out["pycache_accepted"]["securehost-example-csv"]  # pip's compiled files, listed in RECORD without hash
    assert sorted(out["implementations"]) == ["csv", "skill"]  # entry-point names, as pluggy registers them
    assert out["records"] == CLEANED
    assert out["calc"] == "42"
    assert not any(m.startswith("securehost_example_github") for m in out["modules"])
    assert not canary.exists()


def test_modified_pip_installed_file_is_rejected_in_the_venv(venv: dict[str, Path], tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    target = venv["site"] / "securehost_example_csv" / "plugin.py"
    original = target.read_bytes()
    target.write_bytes(original + b"\n" + PAYLOAD.encode())
    try:
        out = host_run(venv, tmp_path, canary)
    finally:
        target.write_bytes(original)
    report = statuses(out["report"])
    assert report["securehost-example-csv"] == ("rejected", {"installed-file-modified"})
    assert report["securehost-example-skill"] == ("accepted", set())
    assert out["calc"] == "42"  # the other plugin still answers
    assert out["records"] is None
    assert not canary.exists()


def test_securehost_list_in_the_venv(venv: dict[str, Path], tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    command = [venv["bin"] / "securehost", "list", "--group", GROUP, "--store", venv["store"], "--json"]
    done = run(*command, env={"HOSTTEST_CANARY": str(canary)}, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (1, "")  # the editable install is rejected, the skill is held
    listed = statuses(json.loads(done.stdout))
    assert listed["securehost-example-csv"] == ("verified", set())
    assert listed["securehost-example-skill"] == ("held", {"permission-not-granted"})
    assert listed["securehost-example-github"] == ("rejected", {"editable-install", "envelope-missing"})
    granted = run(*command, "--grant", f"securehost-example-skill={SKILL_GRANT}", cwd=tmp_path)
    assert granted.returncode == 1
    assert statuses(json.loads(granted.stdout))["securehost-example-skill"] == ("verified", set())
    text = run(*command[:-1], cwd=tmp_path)
    assert "securehost-example-github 1.0.0: REJECTED" in text.stdout
    assert "[editable-install]" in text.stdout
    assert not canary.exists()


def test_plain_loading_in_the_venv_runs_the_editable_code(venv: dict[str, Path], tmp_path: Path) -> None:
    """The control: the editable plugin's code is live without securehost."""
    canary = tmp_path / "CANARY"
    checked(venv["python"], "-c", plain_load_code([]), env={"HOSTTEST_CANARY": str(canary)}, cwd=tmp_path)
    assert canary.exists()
