"""The layering contract (``[tool.importlinter]`` in ``pyproject.toml``) holds, and it fails when broken."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = shutil.which("lint-imports", path=os.path.dirname(sys.executable))

pytestmark = pytest.mark.skipif(not (ROOT / "src" / "securehost").is_dir(), reason="needs the source tree")


def run_contracts(tmp_path: Path, edit: tuple[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert LINT_IMPORTS is not None, "import-linter is a test dependency (noxfile TEST_DEPS): install it"
    src = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "securehost", src / "securehost", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    if edit is not None:
        module, line = edit
        path = src / "securehost" / module
        path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(src), "COLUMNS": "400"}
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    result = run_contracts(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("_signing/keys.py", "import securehost._wheel.record", "The load path"),
        ("_trust/model.py", "import securehost._host.report", "The load path"),
        ("_guard/checks.py", "import securehost._dispatch.stats", "Dispatch: host above"),
        ("_dispatch/manager.py", "import securehost._trust.store", "independent of the load path"),
        ("_permissions.py", "import securehost._signing.keys", "Leaves import no subsystem"),
        ("_installed/importer.py", "import securehost._cli", "front ends"),
        ("_trust/model.py", "import securehost._trust.store", "No import cycles"),
        ("_install/api.py", "import securehost._host.report", "Installing into a plugin directory"),
        ("_host/listing.py", "import securehost._install.api", "installs plugins"),
        ("_install/target.py", "import securehost._cli", "front ends"),
    ],
)
def test_a_lower_layer_importing_a_higher_one_breaks_the_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    result = run_contracts(tmp_path, (module, line))
    assert result.returncode != 0
    broken = [row for row in result.stdout.splitlines() if row.endswith("BROKEN")]
    assert any(contract in row for row in broken), result.stdout
