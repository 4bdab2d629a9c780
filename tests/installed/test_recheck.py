"""The re-check of a distribution verified before: ``lstat`` only, and every change an attacker can make is seen.

With a file record, :func:`verify_installed` remembers a clean check with the identity of every path it looked at;
the next check compares those identities and does nothing else when none changed. Each test below first checks a
clean installation (so the check is remembered), then changes one thing and expects the full check's verdict.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from securehost import ReasonCode
from securehost._installed import distcheck, sitecheck, sitehooks
from securehost._installed.distcheck import InstalledDistribution, verify_installed
from securehost._installed.filerecord import FileRecord
from securehost._installed.sitehooks import SiteIndex
from tests._plugins import _record_hash, fake_install

R = ReasonCode
FILES = {"acme_csv/__init__.py": "", "acme_csv/plugin.py": "X = 1\n", "acme_csv/sub/data.json": "{}"}


def _record(tmp_path: Path, **kwargs: int) -> FileRecord:
    (tmp_path / "state").mkdir(mode=0o700, exist_ok=True)
    return FileRecord(tmp_path / "state" / "installed.record", b"k" * 32, **kwargs)


def _check(
    md: Path, subjects: dict[str, str], record: FileRecord | None, index: SiteIndex | None = None, **kwargs: Any
) -> InstalledDistribution:
    """Check as a load does: with the listing of the site directory taken once for all its plugins."""
    index = index if index is not None else SiteIndex(str(md.parent))
    return verify_installed(md, subjects, site_index=index, record=record, **kwargs)


@pytest.fixture
def remembered(tmp_path: Path) -> tuple[Path, dict[str, str], FileRecord, InstalledDistribution]:
    """A clean installation, checked once with a record that remembers at once (no racy interval)."""
    md, subjects = fake_install(tmp_path / "site", "acme-csv", "1.0", FILES, requires=("attrs>=23",))
    record = _record(tmp_path, racy_ns=0)
    first = _check(md, subjects, record)
    assert first.accepted, first.reasons
    return md, subjects, record, first


def _no_listing_or_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the re-check listed or read something: {args}")

    monkeypatch.setattr(os, "scandir", refuse)
    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(sitecheck, "read_file", refuse)
    monkeypatch.setattr(sitehooks, "read_file", refuse)


def test_an_unchanged_distribution_is_rechecked_without_listing_or_reading_anything(remembered, monkeypatch):
    md, subjects, record, first = remembered
    index = SiteIndex(str(md.parent))  # once per load, for every plugin in the site
    _no_listing_or_reading(monkeypatch)
    again = _check(md, subjects, record, index)
    assert again == first
    assert again.evidence == first.evidence
    assert again.requires == ("attrs>=23",)
    assert dict(again.modules) == dict(first.modules)


def test_the_remembered_check_survives_the_record_being_saved_and_read_again(remembered, tmp_path, monkeypatch):
    md, subjects, record, first = remembered
    record.save()
    fresh = _record(tmp_path, racy_ns=0)
    assert fresh.recheck(str(md), distcheck._fingerprint(subjects, refuse_bytecode=False)) is not None
    index = SiteIndex(str(md.parent))
    _no_listing_or_reading(monkeypatch)
    assert _check(md, subjects, fresh, index) == first


@pytest.mark.parametrize(
    ("attack", "code", "subject"),
    [
        ("planted module", R.INSTALLED_FILE_UNSIGNED, "acme_csv/evil.py"),
        ("planted file deeper", R.INSTALLED_FILE_UNSIGNED, "acme_csv/sub/evil.py"),
        (
            "planted cache file",
            R.INSTALLED_FILE_UNSIGNED,
            f"acme_csv/__pycache__/plugin.{sys.implementation.cache_tag}.pyc",
        ),
        ("same size, mtime put back", R.INSTALLED_FILE_MODIFIED, "acme_csv/plugin.py"),
        ("replaced by rename", R.INSTALLED_FILE_MODIFIED, "acme_csv/plugin.py"),
        ("removed", R.INSTALLED_FILE_MISSING, "acme_csv/plugin.py"),
        ("shadowing sibling", R.INSTALLED_FILE_UNSIGNED, "acme_csv.py"),
        ("RECORD row", R.INSTALLED_FILE_UNSIGNED, "acme_csv/extra.py"),
        ("unvouched start-up hook", R.INSTALLED_FILE_UNSIGNED, "zz.pth"),
        ("metadata", R.INSTALLED_FILE_MODIFIED, "acme_csv-1.0.dist-info/METADATA"),
    ],
)
def test_every_change_is_seen_by_the_recheck(remembered, attack, code, subject):
    md, subjects, record, _ = remembered
    site = md.parent
    plugin = site / "acme_csv/plugin.py"
    if attack.startswith("planted"):
        (site / subject).parent.mkdir(exist_ok=True)
        (site / subject).write_bytes(b"import os\n")
    elif attack == "same size, mtime put back":
        before = plugin.stat()
        plugin.write_text("X = 2\n")
        os.utime(plugin, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert plugin.stat().st_mtime_ns == before.st_mtime_ns
        assert plugin.stat().st_size == before.st_size
    elif attack == "replaced by rename":
        (site / "acme_csv/tmp").write_text("X = 3\n")
        os.replace(site / "acme_csv/tmp", plugin)
    elif attack == "removed":
        plugin.unlink()
    elif attack == "shadowing sibling":
        (site / "acme_csv.py").write_text("")
    elif attack == "RECORD row":
        with open(md / "RECORD", "a") as rows:
            rows.write("acme_csv/extra.py,,\n")
    elif attack == "unvouched start-up hook":
        (site / "zz.pth").write_text("import os\n")
    elif attack == "metadata":
        text = (md / "METADATA").read_text()
        (md / "METADATA").write_text(text.replace("attrs>=23", "attrs>=24"))
    result = _check(md, subjects, record)
    assert (code, subject) in {(r.code, r.subject) for r in result.reasons}


def test_a_changed_start_up_hook_that_another_record_vouched_for_is_seen(tmp_path):
    site = tmp_path / "site"
    fake_install(site, "helper", "1.0", {"helper.pth": "/somewhere\n", "helper_mod.py": ""})
    md, subjects = fake_install(site, "acme-csv", "1.0", FILES)
    record = _record(tmp_path, racy_ns=0)
    assert _check(md, subjects, record).evidence["startup_hooks_verified"] == ["helper.pth"]
    (site / "helper.pth").write_text("/elsewhere\n")  # in place: the site directory does not change
    result = _check(md, subjects, record)
    assert [(r.code, r.subject) for r in result.reasons] == [(R.INSTALLED_FILE_UNSIGNED, "helper.pth")]


def test_a_changed_record_that_vouched_for_a_hook_is_seen(tmp_path):
    site = tmp_path / "site"
    hook = b"/somewhere\n"
    helper_md, _ = fake_install(site, "helper", "1.0", {"helper.pth": hook, "helper_mod.py": ""})
    md, subjects = fake_install(site, "acme-csv", "1.0", FILES)
    record = _record(tmp_path, racy_ns=0)
    assert _check(md, subjects, record).accepted
    text = (helper_md / "RECORD").read_text()
    (helper_md / "RECORD").write_text(text.replace(_record_hash(hook), "sha256=forged"))
    result = _check(md, subjects, record)
    assert [(r.code, r.subject) for r in result.reasons] == [(R.INSTALLED_FILE_UNSIGNED, "helper.pth")]


def test_another_signed_file_list_is_checked_afresh(remembered):
    md, subjects, record, _ = remembered
    changed = {**subjects, "acme_csv/plugin.py": "0" * 64}  # a new statement for the same directory
    result = _check(md, changed, record)
    assert [(r.code, r.subject) for r in result.reasons] == [(R.INSTALLED_FILE_MODIFIED, "acme_csv/plugin.py")]


def test_refusing_bytecode_is_checked_afresh(remembered):
    md, subjects, record, _ = remembered
    cache = md.parent / f"acme_csv/__pycache__/__init__.{sys.implementation.cache_tag}.pyc"
    cache.parent.mkdir()
    import py_compile

    py_compile.compile(str(md.parent / "acme_csv/__init__.py"), cfile=str(cache))
    assert _check(md, subjects, record).accepted  # the compiled signed source: accepted, and remembered
    refused = _check(md, subjects, record, refuse_bytecode=True)
    assert {r.code for r in refused.reasons} == {R.INSTALLED_FILE_UNSIGNED}


def test_a_racily_clean_check_is_not_remembered(tmp_path, monkeypatch):
    """Files younger than the racy interval (two seconds by default) are checked in full next time."""
    md, subjects = fake_install(tmp_path / "site", "acme-csv", "1.0", FILES)
    record = _record(tmp_path)  # the default interval: everything was written just now
    assert _check(md, subjects, record).accepted
    assert record.recheck(str(md), distcheck._fingerprint(subjects, refuse_bytecode=False)) is None
    listed: list[str] = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(str(path)) or real(path))
    assert _check(md, subjects, record).accepted
    assert str(md.parent / "acme_csv") in listed


def test_the_paranoid_mode_never_rechecks(remembered, monkeypatch):
    md, subjects, _, _ = remembered
    listed: list[str] = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: listed.append(str(path)) or real(path))
    assert _check(md, subjects, None).accepted
    assert str(md.parent / "acme_csv") in listed


def test_a_vanished_path_is_no_recheck(remembered):
    md, subjects, record, _ = remembered
    (md.parent / "acme_csv/sub/data.json").unlink()
    (md.parent / "acme_csv/sub").rmdir()
    assert record.recheck(str(md), distcheck._fingerprint(subjects, refuse_bytecode=False)) is None


def test_an_accepted_cache_file_changed_in_place_is_seen(remembered):
    """A ``__pycache__`` file accepted as the compiled signed source is watched too: rewriting it is seen."""
    md, subjects, record, _ = remembered
    import py_compile

    cache = md.parent / f"acme_csv/__pycache__/plugin.{sys.implementation.cache_tag}.pyc"
    cache.parent.mkdir()
    py_compile.compile(str(md.parent / "acme_csv/plugin.py"), cfile=str(cache))
    first = _check(md, subjects, record)
    assert first.evidence["pycache_accepted"]
    other = md.parent.parent / "other.py"  # outside the site: its directory must not change
    other.write_text("X = 2\n")  # the same size as the signed "X = 1\n"
    data = Path(py_compile.compile(str(other), cfile=str(md.parent.parent / "other.pyc"))).read_bytes()
    with open(cache, "r+b") as handle:  # in place: its directory does not change
        handle.write(data)
        handle.truncate()
    result = _check(md, subjects, record)
    assert (R.INSTALLED_FILE_UNSIGNED, cache.relative_to(md.parent).as_posix()) in {
        (r.code, r.subject) for r in result.reasons
    }


def test_an_identity_that_does_not_fit_is_not_remembered(tmp_path):
    """A file system whose identities do not fit 64 bits is checked in full every time, never a crash."""
    record = _record(tmp_path, racy_ns=0)
    st = os.lstat(tmp_path)
    fields = ("st_dev", "st_size", "st_mtime_ns", "st_ctime_ns")
    huge = types.SimpleNamespace(st_ino=2**64, **{f: getattr(st, f) for f in fields})  # an inode beyond 64 bits
    assert record.remember_check("k", "fp", [(str(tmp_path), st)], "outcome")
    assert record.recheck("k", "fp") == "outcome"
    assert not record.remember_check("k2", "fp", [(str(tmp_path), huge)], "outcome")
    assert record.recheck("k2", "fp") is None


def test_a_check_that_vouched_for_a_hook_is_remembered(tmp_path):
    """A site with a start-up hook (most site-packages) keeps the re-check: the hook and its RECORD are watched."""
    site = tmp_path / "site"
    fake_install(site, "helper", "1.0", {"helper.pth": "/somewhere\n", "helper_mod.py": ""})
    md, subjects = fake_install(site, "acme-csv", "1.0", FILES)
    record = _record(tmp_path, racy_ns=0)
    assert _check(md, subjects, record).accepted
    assert record.recheck(str(md), distcheck._fingerprint(subjects, refuse_bytecode=False)) is not None


def test_remember_check_refuses_what_it_could_not_tell_apart(tmp_path):
    record = _record(tmp_path)  # the default racy interval
    fresh = os.lstat(tmp_path)  # just written
    assert not record.remember_check("k", "fp", [(str(tmp_path), fresh)], "outcome")
    assert record.recheck("k", "fp") is None
    old = _record(tmp_path, racy_ns=0)
    assert not old.remember_check("k", "fp", [(f"{tmp_path}\0x", fresh)], "outcome")  # a path with NUL
    assert old.recheck("k", "fp") is None


def test_remembered_checks_keep_what_the_record_held_and_stay_bounded(tmp_path):
    first = _record(tmp_path, racy_ns=0)
    st = os.lstat(tmp_path)
    for key in ("a", "b"):
        assert first.remember_check(key, "fp", [(str(tmp_path), st)], key)
    first.save()
    again = FileRecord(tmp_path / "state" / "installed.record", b"k" * 32, racy_ns=0, max_entries=2)
    assert again.remember_check("a", "fp", [(str(tmp_path), st)], "a")  # the same: reads the record first ...
    assert not again._dirty  # ... and finds nothing to write
    assert again.remember_check("c", "fp", [(str(tmp_path), st)], "c")  # the first stored ("a") goes
    assert [again.recheck(key, "fp") for key in ("a", "b", "c")] == [None, "b", "c"]
    assert again.remember_check("b", "fp", [(str(tmp_path), st)], "b, changed")  # stored again: now the newest
    assert again.remember_check("d", "fp", [(str(tmp_path), st)], "d")  # so "c" goes
    assert [again.recheck(key, "fp") for key in ("b", "c", "d")] == ["b, changed", None, "d"]


def test_the_payload_digest_names_the_subjects_and_another_digest_is_a_full_check(tmp_path, monkeypatch):
    """A load names the signed files by the digest of the payload they come from: the same payload, the same files.

    A check remembered under one payload is not reused under another (a re-signed statement: its whole check runs
    once more), nor by a caller that names the files by their list, nor under the other bytecode policy.
    """
    md, subjects = fake_install(tmp_path / "site", "acme-csv", "1.0", FILES)
    record = _record(tmp_path, racy_ns=0)
    first = _check(md, subjects, record, subjects_digest="a" * 64)
    assert first.accepted, first.reasons
    assert record.recheck(str(md), distcheck._fingerprint(subjects, refuse_bytecode=False, subjects_digest="a" * 64))
    for other in (
        distcheck._fingerprint(subjects, refuse_bytecode=False, subjects_digest="b" * 64),
        distcheck._fingerprint(subjects, refuse_bytecode=False),
        distcheck._fingerprint(subjects, refuse_bytecode=True, subjects_digest="a" * 64),
    ):
        assert record.recheck(str(md), other) is None
    index = SiteIndex(str(md.parent))
    _no_listing_or_reading(monkeypatch)
    assert _check(md, subjects, record, index, subjects_digest="a" * 64) == first  # the same payload: lstat only
    with pytest.raises(AssertionError, match="listed or read"):
        _check(md, subjects, record, index, subjects_digest="b" * 64)  # another payload: the full check
