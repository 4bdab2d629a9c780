"""Tests for securehost._installed.approvals: approving a distribution pins its installed files' digests."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from securehost import ReasonCode
from securehost._installed import approvals as approvals_module
from securehost._installed.approvals import DependencyApprovals, approve_dependencies, check_approved
from securehost._installed.filerecord import FileRecord
from securehost.exceptions import ConfigurationError
from tests._plugins import fake_install


@pytest.fixture
def site(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    fake_install(site, "fastmath", "2.1", {"fastmath/__init__.py": "X = 1\n", "fastmath/core.py": "Y = 2\n"})
    return site


@pytest.fixture
def target(tmp_path: Path) -> Path:
    return tmp_path / "state" / "dependency-approvals.json"


def test_approve_hashes_the_files_itself_and_records_them_for_the_plugin(site: Path, target: Path) -> None:
    record = site / "fastmath-2.1.dist-info" / "RECORD"
    lines = record.read_text().splitlines()
    forged = [line.split(",")[0] + ",sha256=AAAA,1" if line.startswith("fastmath/core.py") else line for line in lines]
    record.write_text("\n".join([*forged, "../../bin/fastmath-cli,,", "/etc/passwd,,"]) + "\n")
    result, left_out = approve_dependencies(target, "Acme_Tool", ["FastMath"], path=[str(site)])
    approved = result.distributions["fastmath"]
    assert result.plugins == {"acme-tool": frozenset({"fastmath"})}
    assert (approved.version, approved.site, approved.modules) == ("2.1", str(site.resolve()), ("fastmath",))
    assert approved.files["fastmath/core.py"] == hashlib.sha256(b"Y = 2\n").hexdigest()  # not RECORD's forged hash
    assert "fastmath-2.1.dist-info/RECORD" in approved.files
    assert left_out == ["fastmath: ../../bin/fastmath-cli", "fastmath: /etc/passwd"]
    assert DependencyApprovals.load(target) == result
    assert oct(target.stat().st_mode & 0o777) == oct(0o600)
    assert check_approved(approved, None) == []


def test_a_modified_missing_or_replaced_approved_file_is_dependency_modified(site: Path, target: Path) -> None:
    result, _ = approve_dependencies(target, "acme-tool", ["fastmath"], path=[str(site)])
    approved = result.distributions["fastmath"]
    (site / "fastmath" / "core.py").write_text("Y = 'evil'\n")
    (reason,) = check_approved(approved, None)
    assert (reason.code, reason.subject) == (ReasonCode.DEPENDENCY_MODIFIED, "fastmath:fastmath/core.py")
    assert "fastmath/core.py was modified" in reason.message
    assert "approve it again" in reason.message
    (site / "fastmath" / "core.py").unlink()
    (missing,) = check_approved(approved, None)
    assert "missing" in missing.message
    os.symlink(site / "fastmath" / "__init__.py", site / "fastmath" / "core.py")
    (link,) = check_approved(approved, None)
    assert link.code is ReasonCode.DEPENDENCY_MODIFIED


def test_the_file_record_skips_unchanged_files_but_sees_a_change(site: Path, target: Path, tmp_path: Path) -> None:
    result, _ = approve_dependencies(target, "acme-tool", ["fastmath"], path=[str(site)])
    approved = result.distributions["fastmath"]
    record = FileRecord(tmp_path / "record", b"k" * 32, racy_ns=0)
    assert check_approved(approved, record) == []
    assert check_approved(approved, record) == []
    core = site / "fastmath" / "core.py"
    core.write_text("Y = 3\n")
    assert [r.subject for r in check_approved(approved, record)] == ["fastmath:fastmath/core.py"]


def test_approving_again_adds_plugins_and_replaces_the_record(site: Path, target: Path) -> None:
    approve_dependencies(target, "acme-tool", ["fastmath"], path=[str(site)])
    fake_install(site, "other-lib", "1.0", {"other_lib.py": "Z = 1\n"})
    (site / "fastmath" / "core.py").write_text("Y = 'new'\n")
    result, _ = approve_dependencies(target, "acme-tool", ["other-lib", "fastmath", "other-lib"], path=[str(site)])
    assert result.plugins["acme-tool"] == {"fastmath", "other-lib"}
    assert [d.name for d in result.for_plugin("acme-tool")] == ["fastmath", "other-lib"]
    assert check_approved(result.distributions["fastmath"], None) == []
    assert result.for_plugin("nobody") == ()


def test_approve_refuses_what_it_cannot_pin(site: Path, target: Path) -> None:
    with pytest.raises(ConfigurationError, match="not installed"):
        approve_dependencies(target, "acme-tool", ["absent"], path=[str(site)])
    with pytest.raises(ValueError, match="at least one"):
        approve_dependencies(target, "acme-tool", [], path=[str(site)])
    core = site / "fastmath" / "core.py"
    core.unlink()
    os.symlink(site / "fastmath" / "__init__.py", core)
    with pytest.raises(ConfigurationError, match="cannot approve fastmath"):
        approve_dependencies(target, "acme-tool", ["fastmath"], path=[str(site)])
    assert not target.exists()  # nothing written when one distribution cannot be pinned
    (site / "fastmath-2.1.dist-info" / "RECORD").unlink()
    with pytest.raises(ConfigurationError, match="no RECORD"):
        approve_dependencies(target, "acme-tool", ["fastmath"], path=[str(site)])


def test_a_compiled_file_listed_but_gone_is_not_pinned(site: Path, target: Path) -> None:
    record = site / "fastmath-2.1.dist-info" / "RECORD"
    record.write_text(record.read_text() + "fastmath/__pycache__/core.cpython-311.pyc,,\n")
    result, _ = approve_dependencies(target, "acme-tool", ["fastmath"], path=[str(site)])
    assert not any("__pycache__" in rel for rel in result.distributions["fastmath"].files)


def test_file_limit_at_and_above(site: Path, target: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    count = len((site / "fastmath-2.1.dist-info" / "RECORD").read_text().splitlines())
    monkeypatch.setattr(approvals_module, "MAX_FILES", count)
    approve_dependencies(target, "acme-tool", ["fastmath"], path=[str(site)])
    monkeypatch.setattr(approvals_module, "MAX_FILES", count - 1)
    with pytest.raises(ConfigurationError, match="more than"):
        approve_dependencies(target, "acme-tool", ["fastmath"], path=[str(site)])


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "version"),
        (b'{"version": 2}', "version"),
        (b'{"version": 1, "plugins": []}', "must be objects"),
        (b'{"version": 1, "distributions": {"a": 1}}', "must be a table"),
        (b'{"version": 1, "distributions": {"a": {"version": "1"}}}', "needs version, site and files"),
        (b'{"version": 1, "distributions": {"a": {"version": "1", "site": "/", "files": {"x": 1}}}}', "SHA-256"),
        (
            b'{"version": 1, "distributions": {"a": {"version": "1", "site": "/", "files": {}, "modules": [1]}}}',
            "list of strings",
        ),
        (b'{"version": 1, "plugins": {"p": "a"}}', "list of strings"),
        (b'{"version": 1, "plugins": {"p": ["a"]}}', "unknown"),
    ],
)
def test_malformed_approvals_file_is_a_configuration_error(target: Path, document: bytes, message: str) -> None:
    target.parent.mkdir(parents=True)
    target.write_bytes(document)
    with pytest.raises(ConfigurationError, match=message):
        DependencyApprovals.load(target)


def test_missing_approvals_file_holds_none_and_an_unreadable_one_is_an_error(tmp_path: Path) -> None:
    assert DependencyApprovals.load(tmp_path / "absent.json") == DependencyApprovals()
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ConfigurationError, match="cannot read"):
        DependencyApprovals.load(tmp_path / "dir.json")
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(ConfigurationError, match="cannot write"):
        DependencyApprovals().save(blocked / "approvals.json")


def test_round_trip_json(site: Path, target: Path) -> None:
    result, _ = approve_dependencies(target, "acme-tool", ["fastmath"], path=[str(site)])
    document = json.loads(target.read_text())
    assert document["version"] == 1
    assert document["plugins"] == {"acme-tool": ["fastmath"]}
    assert DependencyApprovals.load(target).to_json() == result.to_json() == document
