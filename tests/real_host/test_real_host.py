"""A real pluggy application and its plugins, end to end: the dependency policy works for real plugins.

``projects/`` holds the application ``realapp`` (hook specifications, a built-in plugin registered with
``pm.register()``, a dependency of its own: ``realapp-util``), a third-party library ``fastcalc``, and two plugins:
``realapp-greet`` imports realapp and realapp-util only; ``realapp-stats`` also needs ``fastcalc`` (``Requires-Dist``
and imports in two modules). Everything is built with ``python -m build``, the plugins are signed with securehost, and
all of it is installed with ``pip install --target`` into one directory; the host runs in a fresh interpreter with
that directory on ``sys.path``, as the application would.

Shown: with no dependency configuration realapp-greet loads and realapp-stats is rejected with every missing
dependency in one report (``securehost list`` says the same); the approval command printed in the report, run as
printed, makes it load; modifying fastcalc's installed file afterwards is caught at the next load.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import securehost
from securehost import PrivateKey
from tests.hostkit import sign, write_store

pytestmark = pytest.mark.slow

PROJECTS = Path(__file__).resolve().parent / "projects"
#: the securehost under test (this tree), after the plugin directory on the host's ``sys.path``
SECUREHOST_SRC = Path(securehost.__file__).resolve().parent.parent
KEY = PrivateKey.generate()
HOST_SCRIPT = """
import json, sys
import realapp

store, state = sys.argv[1:3]
# the guard is on: fastcalc's files, read while the plugin imports it, count against the library, not the plugin
host = realapp.make_host(store, state, guard=True)
report = host.load()
out = {
    "report": report.to_json(),
    "greet": host.hook.greet(name=" ada lovelace "),
    "summarize": host.hook.summarize(numbers=[1.0, 2.0, 6.0]),
    "plugins": sorted(name for name, _ in host.manager.list_name_plugin()),
}
host.close()
print(json.dumps(out))
"""


def run(*args: object, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    environment.update(env or {})
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, check=False, cwd=cwd, env=environment
    )


def checked(*args: object, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = run(*args, **kwargs)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build every project, sign the plugins, install everything with pip into one target directory."""
    root = tmp_path_factory.mktemp("realapp")
    wheels = root / "wheels"
    for project in sorted(PROJECTS.iterdir()):
        copy = shutil.copytree(project, root / "src" / project.name)  # builds never write into the repository
        checked(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", wheels / project.name, copy)
    built = {p.name: next((wheels / p.name).glob("*.whl")) for p in PROJECTS.iterdir()}
    signed = [sign(built[name], KEY) for name in ("realapp_greet", "realapp_stats")]
    target = root / "site"
    unsigned = [built[name] for name in ("realapp", "realapp_util", "fastcalc")]
    checked(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", target, *unsigned, *signed)
    store = write_store(root / "trust.toml", KEY, names=["realapp-*"], label="realapp plugins")
    return {"root": root, "site": target, "store": store}


def pythonpath(world: dict[str, Path]) -> str:
    return os.pathsep.join([str(world["site"]), str(SECUREHOST_SRC)])


def host_run(world: dict[str, Path], state: Path) -> dict[str, Any]:
    script = state.parent / "host_app.py"
    script.write_text(HOST_SCRIPT)
    done = checked(sys.executable, script, world["store"], state, env={"PYTHONPATH": pythonpath(world)})
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in report["plugins"]}


def securehost_list(world: dict[str, Path], state: Path) -> dict[str, dict[str, Any]]:
    done = run(
        sys.executable,
        "-m",
        "securehost",
        "list",
        "--group",
        "realapp.plugins",
        "--store",
        world["store"],
        "--path",
        world["site"],
        "--project",
        "realapp",
        "--approvals",
        state / "dependency-approvals.json",
        "--json",
        env={"PYTHONPATH": pythonpath(world)},
    )
    assert done.stderr == ""
    return by_name(json.loads(done.stdout))


def test_a_real_host_its_dependencies_and_its_plugins(world: dict[str, Path], tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = host_run(world, state)
    plugins = by_name(first["report"])
    assert plugins["realapp-greet"]["status"] == "accepted", plugins["realapp-greet"]
    stats = plugins["realapp-stats"]
    assert stats["status"] == "rejected"
    assert {r["code"] for r in stats["reasons"]} == {"dependency-not-allowed"}
    # every missing dependency at once: the Requires-Dist and the imports of both modules
    assert sorted(r["subject"] for r in stats["reasons"]) == ["fastcalc", "fastcalc", "fastcalc.ops"]
    assert any("from distribution fastcalc 0.9.1" in r["message"] for r in stats["reasons"])
    assert first["greet"] == ["HEY ADA LOVELACE!", "Hello, Ada Lovelace"]  # the plugin and the built-in one
    assert first["summarize"] == []
    assert "realapp.builtin" in first["plugins"]
    listed = securehost_list(world, state)
    assert (listed["realapp-greet"]["status"], listed["realapp-stats"]["status"]) == ("verified", "rejected")

    # the one approval step, exactly as printed
    message = stats["reasons"][0]["message"]
    command = shlex.split(message.split("approve with integrity: ")[1].split("; or allow by name")[0])
    assert command[:3] == ["securehost", "deps", "approve"]
    assert command[-1] == "fastcalc"
    approved = checked(sys.executable, "-m", "securehost", *command[1:], env={"PYTHONPATH": pythonpath(world)})
    assert "approved for realapp-stats: fastcalc 0.9.1" in approved.stdout

    second = host_run(world, state)
    assert by_name(second["report"])["realapp-stats"]["reasons"] == []
    assert {p["name"]: p["status"] for p in second["report"]["plugins"]} == {
        "realapp-greet": "accepted",
        "realapp-stats": "accepted",
    }
    assert second["summarize"] == [{"mean": 3.0, "spread": 5.0}]
    assert securehost_list(world, state)["realapp-stats"]["status"] == "verified"

    # an approved dependency's installed file changes: caught at the next load, the other plugin unaffected
    ops = world["site"] / "fastcalc" / "ops.py"
    original = ops.read_bytes()
    ops.write_bytes(original + b"\nimport os\nos.environ['FASTCALC_TAMPERED'] = '1'\n")
    try:
        third = host_run(world, state)
    finally:
        ops.write_bytes(original)
    plugins = by_name(third["report"])
    assert plugins["realapp-greet"]["status"] == "accepted"
    assert plugins["realapp-stats"]["status"] == "rejected"
    assert {r["code"] for r in plugins["realapp-stats"]["reasons"]} == {"dependency-modified"}
    assert "fastcalc:fastcalc/ops.py" in {r["subject"] for r in plugins["realapp-stats"]["reasons"]}
    assert third["summarize"] == []
