"""Helpers that make plugin installations for the importer tests.

``fake_install`` writes the exact layout an installer produces (package files, ``.dist-info`` with ``METADATA``,
``WHEEL``, ``entry_points.txt`` and a ``RECORD``) and returns the subject map a signed statement would carry, without
running any build tool: fast enough for most tests. The ``build_*``/``install_*`` helpers drive the real tools
(``python -m build --no-isolation`` with hatchling, ``python -m installer``, ``pip``) for the end-to-end tests.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

CANARY_TEMPLATE = "__import__('pathlib').Path({canary!r}).write_text('attacker code ran')\n"


def payload(canary: Path) -> str:
    """Python source that proves it ran by writing the canary file."""
    return CANARY_TEMPLATE.format(canary=str(canary))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def fake_install(
    site: Path,
    name: str,
    version: str,
    files: dict[str, str | bytes],
    *,
    entry_points: dict[str, dict[str, str]] | None = None,
    requires: tuple[str, ...] = (),
) -> tuple[Path, dict[str, str]]:
    """Install a distribution into *site* as an installer would; return ``(dist-info dir, subjects)``."""
    dist = name.replace("-", "_")
    dist_info = f"{dist}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    members: dict[str, bytes] = {}
    for rel, content in files.items():
        members[rel] = content.encode() if isinstance(content, str) else content
    members[f"{dist_info}/METADATA"] = metadata.encode()
    members[f"{dist_info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    if entry_points:
        text = "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
            for group, eps in entry_points.items()
        )
        members[f"{dist_info}/entry_points.txt"] = text.encode()
    record_lines = []
    for rel, data in members.items():
        target = site / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        record_lines.append(f"{rel},{_record_hash(data)},{len(data)}")
    record_lines.append(f"{dist_info}/RECORD,,")
    (site / dist_info / "RECORD").write_text("\n".join(record_lines) + "\n")
    return site / dist_info, {rel: sha256(data) for rel, data in members.items()}


def make_project(root: Path, name: str, files: dict[str, str], *, entry_points: dict[str, str], group: str) -> Path:
    """Write a hatchling project (src layout) with *files* under ``src/``."""
    project = root / f"proj-{name}"
    for rel, content in files.items():
        path = project / "src" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    eps = "".join(f'{k} = "{v}"\n' for k, v in entry_points.items())
    packages = sorted({rel.split("/")[0] for rel in files})
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [build-system]
            requires = ["hatchling"]
            build-backend = "hatchling.build"

            [project]
            name = "{name}"
            version = "1.0"

            [project.entry-points."{group}"]
            """
        )
        + eps
        + textwrap.dedent(
            f"""
            [tool.hatch.build.targets.wheel]
            packages = {[f"src/{p}" for p in packages]!r}
            dev-mode-dirs = ["src"]
            """
        )
    )
    return project


def run(*args: str | Path, cwd: Path | None = None) -> None:
    subprocess.run([str(a) for a in args], check=True, capture_output=True, cwd=cwd, timeout=300)


def build_wheel(project: Path, outdir: Path) -> Path:
    run(sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", outdir, project)
    (wheel,) = outdir.glob("*.whl")
    return wheel


def wheel_subjects(wheel: Path) -> dict[str, str]:
    """The subject map a signed statement carries: every member but RECORD, with its SHA-256."""
    with zipfile.ZipFile(wheel) as archive:
        return {
            info.filename: sha256(archive.read(info))
            for info in archive.infolist()
            if not info.filename.endswith(".dist-info/RECORD") and not info.is_dir()
        }


def record_listdir(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every ``os.listdir`` the shadowing check makes (it still lists); return the list of listed paths."""
    import os

    from securehost._installed import shadowing

    listed: list[str] = []
    real = os.listdir

    def listdir(path: str) -> list[str]:
        listed.append(path)
        return real(path)

    monkeypatch.setattr(shadowing.os, "listdir", listdir)
    return listed
