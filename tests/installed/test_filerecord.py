"""The file record: a warm check re-reads only files whose identity changed, and nothing forges its way past it.

Attacks (each must still be caught with the record on): a same-size content change with the ``mtime`` restored
(``ctime`` moves), a file swapped in by rename (a new inode), a record forged without the host's key (ignored and
audited). The trust it does take — a file changed while keeping its inode and its ``ctime`` — needs root; see
``docs/threat-model.md``. Plus its contract: hits skip the read and the compile, racily clean files are not
remembered, the paranoid mode reads everything, the bound holds.
"""

from __future__ import annotations

import json
import marshal
import os
import py_compile
import secrets
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from securehost import PrivateKey, ReasonCode
from securehost._audit import AuditLog
from securehost._installed import filerecord, pyccheck, sitecheck
from securehost._installed.distcheck import verify_installed
from securehost._installed.filerecord import FileRecord
from tests._plugins import fake_install
from tests.hostkit import GOOD, Lab, sign
from tests.wheelfactory import copy_wheel, trust, trusted

R = ReasonCode
KEY = secrets.token_bytes(32)
KEY_PAIR = PrivateKey.generate()


@pytest.fixture
def installed(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    site = tmp_path / "site"
    md, subjects = fake_install(
        site,
        "acme-csv",
        "1.0",
        {"acme_csv/__init__.py": "", "acme_csv/plugin.py": "VALUE = 42\n"},
        entry_points={"demoapp.plugins": {"csv": "acme_csv.plugin"}},
    )
    return site, md, subjects


def record(tmp_path: Path, audit: AuditLog | None = None, key: bytes = KEY) -> FileRecord:
    return FileRecord(tmp_path / "installed.record", key, audit, racy_ns=0)


def reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the files the installed check reads and hashes."""
    seen: list[str] = []
    real = sitecheck.read_digest

    def counting(path: str, rel: str, algorithm: str, *, keep: bool) -> Any:
        seen.append(rel)
        return real(path, rel, algorithm, keep=keep)

    monkeypatch.setattr(sitecheck, "read_digest", counting)
    return seen


def codes(result: Any) -> set[ReasonCode]:
    return {r.code for r in result.reasons}


def warm(md: Path, subjects: dict[str, str], files: FileRecord) -> None:
    assert verify_installed(md, subjects, record=files).accepted
    files.save()


def test_a_warm_check_reads_no_file(installed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _site, md, subjects = installed
    warm(md, subjects, record(tmp_path))
    seen = reads(monkeypatch)
    assert verify_installed(md, subjects, record=record(tmp_path)).accepted  # a new process: read from the file
    assert seen == []  # the whole check was remembered (with METADATA's requirements); only lstat-s were made


def test_a_check_made_again_reads_only_metadata_of_the_unchanged_files(
    installed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the remembered check does not hold (a directory changed), unchanged files are still not read again."""
    site, md, subjects = installed
    warm(md, subjects, record(tmp_path))
    (site / "acme_csv/new").write_text("")
    (site / "acme_csv/new").unlink()
    seen = reads(monkeypatch)
    assert verify_installed(md, subjects, record=record(tmp_path)).accepted
    assert seen == ["acme_csv-1.0.dist-info/METADATA"]  # its content is needed; everything else was a hit


def test_paranoid_mode_reads_every_file(installed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _site, md, subjects = installed
    warm(md, subjects, record(tmp_path))
    seen = reads(monkeypatch)
    assert verify_installed(md, subjects, record=None).accepted
    assert sorted(seen) == sorted(subjects)


def test_same_size_change_with_mtime_restored_is_caught(installed: Any, tmp_path: Path) -> None:
    site, md, subjects = installed
    warm(md, subjects, record(tmp_path))
    target = site / "acme_csv/plugin.py"
    before = target.stat()
    target.write_text("VALUE = 66\n")  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # mtime restored; ctime moves, and cannot be set
    after = target.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (before.st_size, before.st_mtime_ns, before.st_ino)
    assert codes(verify_installed(md, subjects, record=record(tmp_path))) == {R.INSTALLED_FILE_MODIFIED}


def test_file_swapped_in_by_rename_is_caught(installed: Any, tmp_path: Path) -> None:
    site, md, subjects = installed
    warm(md, subjects, record(tmp_path))
    target = site / "acme_csv/plugin.py"
    before = target.stat()
    swap = site / "acme_csv/.swap"
    swap.write_text("VALUE = 66\n")
    os.utime(swap, ns=(before.st_atime_ns, before.st_mtime_ns))
    os.replace(swap, target)  # a new inode with the old size and mtime
    assert target.stat().st_ino != before.st_ino
    assert codes(verify_installed(md, subjects, record=record(tmp_path))) == {R.INSTALLED_FILE_MODIFIED}


def test_a_forged_record_is_ignored_and_audited(installed: Any, tmp_path: Path) -> None:
    site, md, subjects = installed
    target = site / "acme_csv/plugin.py"
    target.write_text("VALUE = 66\n")
    # the attacker writes a record, with a key of their own, saying the changed file hashes to the signed digest
    forged = record(tmp_path, key=secrets.token_bytes(32))
    forged.remember_digest(str(target), target.stat(), subjects["acme_csv/plugin.py"])
    forged.save()
    audit = AuditLog(tmp_path / "audit.jsonl")
    try:
        assert codes(verify_installed(md, subjects, record=record(tmp_path, audit))) == {R.INSTALLED_FILE_MODIFIED}
    finally:
        audit.close()
    events = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    tampered = [e for e in events if e["event"] == "installed.record_tampered"]
    assert [e["path"] for e in tampered] == [str(tmp_path / "installed.record")]


def test_a_forged_record_is_replaced_at_the_next_save_and_an_unchanged_one_is_not_written(tmp_path: Path) -> None:
    path = tmp_path / "installed.record"
    forged = record(tmp_path, key=secrets.token_bytes(32))
    forged.remember_digest(str(path), os.lstat(tmp_path), "0" * 64)  # any entry, under another key
    forged.save()
    forged_bytes = path.read_bytes()
    mine = record(tmp_path)
    assert mine.digest(str(path), os.lstat(tmp_path)) is None  # the forged entry is not believed ...
    mine.save()  # ... and the record is written again, under the host's key
    assert path.read_bytes() != forged_bytes
    rewritten = path.stat().st_mtime_ns, path.stat().st_ino
    mine.save()  # once
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == rewritten
    audit = AuditLog(tmp_path / "audit.jsonl")
    try:
        record(tmp_path, audit).recheck("nothing", "fp")  # reads the record: the host's own now
    finally:
        audit.close()
    assert not (tmp_path / "audit.jsonl").read_text()
    written = path.stat().st_mtime_ns, path.stat().st_ino
    again = record(tmp_path)
    assert again.digest(str(path), os.lstat(tmp_path)) is None
    again.save()  # nothing changed: nothing is written
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == written


def test_racily_clean_files_are_not_remembered(installed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _site, md, subjects = installed
    files = FileRecord(tmp_path / "installed.record", KEY)  # the default: files changed in the last 2 s wait
    warm(md, subjects, files)
    assert not (tmp_path / "installed.record").exists()
    monkeypatch.setattr(filerecord, "RACY_NS", 0)
    warm(md, subjects, FileRecord(tmp_path / "installed.record", KEY))
    assert (tmp_path / "installed.record").exists()


def test_compared_bytecode_is_not_recompiled(installed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site, md, subjects = installed
    py_compile.compile(str(site / "acme_csv/plugin.py"), doraise=True)
    warm(md, subjects, record(tmp_path))

    def no_compile(*args: object) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(pyccheck, "_expected_code", no_compile)
    result = verify_installed(md, subjects, record=record(tmp_path))
    assert result.accepted, result.reasons
    assert len(result.evidence["pycache_accepted"]) == 1


def test_a_cache_file_changed_after_its_comparison_is_judged_again(installed: Any, tmp_path: Path) -> None:
    site, md, subjects = installed
    pyc = Path(py_compile.compile(str(site / "acme_csv/plugin.py"), doraise=True))
    warm(md, subjects, record(tmp_path))
    source = site / "acme_csv/plugin.py"
    original = pyc.read_bytes()
    # same size, other code: the constant 42 becomes 43 (a flipped byte of the line table would be the same code to
    # Python 3.10, whose code objects compare without it)
    other = original[:16] + marshal.dumps(compile("VALUE = 43\n", str(source), "exec"))
    assert len(other) == len(original)
    assert other != original
    before = pyc.stat()
    pyc.write_bytes(other)
    os.utime(pyc, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert codes(verify_installed(md, subjects, record=record(tmp_path))) == {R.INSTALLED_FILE_UNSIGNED}


def test_the_record_is_bounded(tmp_path: Path) -> None:
    files = FileRecord(tmp_path / "installed.record", KEY, max_entries=3, racy_ns=0)
    paths = []
    for i in range(5):
        path = tmp_path / f"f{i}"
        path.write_text(str(i))
        paths.append(path)
        files.remember_digest(str(path), path.stat(), f"{i:064x}")
    files.save()
    reread = FileRecord(tmp_path / "installed.record", KEY, racy_ns=0)
    found = [reread.digest(str(p), p.stat()) for p in paths]
    assert found == [None, None, f"{2:064x}", f"{3:064x}", f"{4:064x}"]


# --- through the Host -------------------------------------------------------------------------------------------


@pytest.fixture
def lab(tmp_path: Path, example_wheels: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(filerecord, "RACY_NS", 0)
    made = Lab(root=tmp_path, key=KEY_PAIR, store=trust(trusted(KEY_PAIR, label="release")), good_wheel=Path())
    made.good_wheel = sign(copy_wheel(example_wheels["csv"], tmp_path / "good"), KEY_PAIR)
    made.install_good()
    yield made
    made.close()


def test_host_keeps_the_record_and_paranoid_mode_neither_reads_nor_writes_it(
    lab: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    paranoid = lab.host(paranoid=True)
    assert paranoid.load()[GOOD].status == "accepted"
    paranoid.close()
    assert not (lab.state / "installed.record").exists()
    host = lab.host()
    assert host.load()[GOOD].status == "accepted"
    host.close()
    assert (lab.state / "installed.record").exists()
    seen = reads(monkeypatch)
    again = lab.host()
    assert again.load()[GOOD].status == "accepted"
    assert all(rel.endswith("METADATA") for rel in seen), seen


def test_host_catches_a_change_the_record_has_seen_before(lab: Any) -> None:
    host = lab.host()
    assert host.load()[GOOD].status == "accepted"
    host.close()
    (target,) = lab.site.glob("securehost_example_csv/plugin.py")
    before = target.stat()
    data = target.read_bytes()
    target.write_bytes(data.replace(b"e", b"E", 1))  # same size
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    report = lab.host().load()[GOOD]
    assert report.status == "rejected"
    assert {r.code for r in report.verdict.reasons} == {R.INSTALLED_FILE_MODIFIED}


def test_a_record_of_another_format_is_treated_as_empty_and_rewritten(tmp_path: Path) -> None:
    """Authenticated, but not the entries this version keeps (another securehost's record): start afresh."""
    from securehost._fileio import SealedFile

    path = tmp_path / "installed.record"
    SealedFile(path, KEY, filerecord._MAGIC, context=b"", limit=1 << 20).write(marshal.dumps([1, 2]), prefix=".t-")
    before = path.read_bytes()
    files = record(tmp_path)
    assert files.digest(str(path), os.lstat(tmp_path)) is None
    files.save()
    assert path.read_bytes() != before
    assert marshal.loads(path.read_bytes()[-len(marshal.dumps({})) :]) == {}


def test_a_file_entry_stored_again_unchanged_writes_nothing_and_a_changed_one_is_the_newest(tmp_path: Path) -> None:
    st = os.lstat(tmp_path)
    files = FileRecord(tmp_path / "installed.record", KEY, racy_ns=0, max_entries=2)
    files.remember_digest("/a", st, "1" * 64)
    files.remember_digest("/b", st, "2" * 64)
    files.save()
    again = FileRecord(tmp_path / "installed.record", KEY, racy_ns=0, max_entries=2)
    again.remember_digest("/a", st, "1" * 64)
    assert not again._dirty
    again.remember_digest("/a", st, "3" * 64)  # changed: now the newest
    again.remember_digest("/c", st, "4" * 64)  # so "/b" goes
    assert [again.digest(p, st) for p in ("/a", "/b", "/c")] == ["3" * 64, None, "4" * 64]


def test_a_cache_file_result_is_no_digest(tmp_path: Path) -> None:
    st = os.lstat(tmp_path)
    files = FileRecord(tmp_path / "installed.record", KEY, racy_ns=0)
    files.remember_bytecode("/p/__pycache__/m.pyc", st, "5" * 64)
    assert files.digest("/p/__pycache__/m.pyc", st) is None
    assert files.bytecode_matches("/p/__pycache__/m.pyc", st, "5" * 64)


def _sealed(tmp_path: Path, entries: object) -> None:
    from securehost._fileio import SealedFile

    path = tmp_path / "installed.record"
    SealedFile(path, KEY, filerecord._MAGIC, context=b"", limit=1 << 20).write(marshal.dumps(entries), prefix=".t-")


def test_entries_of_another_shape_are_misses_not_errors(tmp_path: Path) -> None:
    """Authenticated entries this version did not write (an older layout, a truncated value): each is a miss."""
    watched = tmp_path / "watched"
    watched.mkdir()
    st = os.lstat(watched)
    packed = filerecord._PACKED.pack(*filerecord.identity(st))
    check = filerecord._CHECK
    _sealed(
        tmp_path,
        {
            "/tuple": (filerecord.identity(st), "1" * 64),  # the layout before values were bytes
            "/short": packed[:10],
            "/not-utf8": packed + b"\xff\xfe",
            check + "/text": "not bytes",
            check + "/garbage": b"\x00not marshal",
            check + "/three": marshal.dumps(("fp", "", b"")),
            check + "/list": marshal.dumps(["fp", str(watched), packed, "outcome"]),  # the right parts in a list
        },
    )
    files = record(tmp_path)
    for path in ("/tuple", "/short", "/not-utf8"):
        assert files.digest(path, st) is None
    for key in ("/text", "/garbage", "/three", "/list"):
        assert files.recheck(key, "fp") is None
    _sealed(tmp_path, {check + "/tuple": marshal.dumps(("fp", str(watched), packed, "outcome"))})
    assert record(tmp_path).recheck("/tuple", "fp") == "outcome"  # the same parts in a tuple: a hit


def test_identities_beyond_64_bits_are_neither_stored_nor_matched(tmp_path: Path) -> None:
    real = os.lstat(tmp_path)
    fields = {name: getattr(real, name) for name in ("st_dev", "st_size", "st_mtime_ns", "st_ctime_ns")}
    huge = cast("os.stat_result", SimpleNamespace(st_ino=2**70, **fields))
    files = record(tmp_path)
    files.remember_digest("/huge", huge, "1" * 64)
    assert not files._dirty
    files.remember_digest("/normal", real, "2" * 64)
    assert files.digest("/huge", huge) is None  # and looking one up does not raise
    assert files.digest("/normal", real) == "2" * 64
    assert not files.remember_check("/dist", "fp", [("/huge", huge)], ("outcome",))


def test_the_record_in_memory_stays_well_under_three_times_its_file(tmp_path: Path) -> None:
    """Entries stay encoded until used: 1,000 plugins' record must not cost three times its file in memory."""
    import tracemalloc

    watched = tmp_path / "watched"
    watched.mkdir()
    st = os.lstat(watched)
    files = record(tmp_path)
    for plugin in range(300):
        site = f"/site/acme_plugin_{plugin:04d}"
        for module in range(5):
            files.remember_digest(f"{site}/module_{module}.py", st, f"{plugin * 10 + module:064x}")
        modules = [(f"acme_plugin_{plugin}.m{m}", f"{site}/m{m}.py", f"{m:064x}", False, "source") for m in range(4)]
        outcome = ([], {"files_verified": 6, "pycache_accepted": []}, modules, [f"acme_plugin_{plugin}"])
        assert files.remember_check(f"{site}.dist-info", "fp", [(str(watched), st)], outcome)
    files.save()
    size = (tmp_path / "installed.record").stat().st_size
    tracemalloc.start()
    try:
        loaded = record(tmp_path)
        assert loaded.recheck("/site/acme_plugin_0000.dist-info", "fp") is not None  # reads the whole file
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 2 * size, (held, size)  # 1.4-1.5x on Python 3.10 to 3.13; about 3.1x when decoded at load


def test_a_remembered_scan_is_recalled_only_for_its_kind_path_and_identity(tmp_path: Path) -> None:
    files = record(tmp_path)
    path = tmp_path / "entry_points.txt"
    path.write_text("[g]\na = b\n")
    st = os.lstat(path)
    files.remember("entry_points/1", str(path), st, ((("g", (("a", "b"),)),), None))
    assert files.recall("entry_points/1", str(path), st) == ((("g", (("a", "b"),)),), None)
    assert files.recall("listing/1", str(path), st) is None  # another kind
    assert files.recall("entry_points/1", str(tmp_path / "other"), st) is None  # another path
    assert files.digest(str(path), st) is None  # not a file's digest either
    path.write_text("[g]\na = c\n")  # same size: ctime and mtime move
    assert files.recall("entry_points/1", str(path), os.lstat(path)) is None
    files.save()
    again = record(tmp_path)
    assert again.recall("entry_points/1", str(path), st) == ((("g", (("a", "b"),)),), None)  # kept in the file


def test_a_scan_marshal_cannot_keep_or_of_a_racily_clean_path_is_not_remembered(tmp_path: Path) -> None:
    files = FileRecord(tmp_path / "installed.record", KEY, racy_ns=10**18)  # everything is young
    st = os.lstat(tmp_path)
    files.remember("listing/1", str(tmp_path), st, ())
    assert files.recall("listing/1", str(tmp_path), st) is None
    files = record(tmp_path)
    files.remember("listing/1", str(tmp_path), st, object())  # not marshal-able
    assert files.recall("listing/1", str(tmp_path), st) is None
    assert len(files._entries) == 0
