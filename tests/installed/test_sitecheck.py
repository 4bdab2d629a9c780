"""The file-system checks of an installed distribution, one function at a time, with exact reasons and effects.

``tests/installed/test_installed.py`` runs them through :func:`verify_installed`; these tests pin what each part does
on its own (written against the mutation survivors of issue 13).
"""

from __future__ import annotations

import base64
import errno
import hashlib
import marshal
import os
import py_compile
import sys

import pytest

from securehost import Reason, ReasonCode
from securehost._installed import pyccheck, sitecheck, sitehooks
from securehost._installed.filerecord import FileRecord
from securehost._installed.sitecheck import PYCACHE_ADVICE, PackageWalker, RecordIndex, hash_installed
from securehost._installed.sitehooks import SiteIndex, check_startup_hooks, scan_site, site_record_hashes

R = ReasonCode
TAG = sys.implementation.cache_tag
KEY = b"k" * 32


def sha(data: bytes, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, data).hexdigest()


def record_field(data: bytes, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm, data).digest()
    return f"{algorithm}=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def unsafe(rel: str, why: str) -> Reason:
    return Reason(code=R.INSTALLED_FILE_UNSAFE, message=f"{rel}: {why}", subject=rel)


def unsigned(rel: str, why: str) -> Reason:
    return Reason(code=R.INSTALLED_FILE_UNSIGNED, message=f"{rel}: {why}", subject=rel)


def missing(rel: str) -> Reason:
    return Reason(code=R.INSTALLED_FILE_MISSING, message=f"{rel} is missing", subject=rel)


def write(path, data: bytes = b"x = 1\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- hash_installed ----------------------------------------------------------------------------------------------


def test_hash_installed_reads_and_hashes_and_records_checked_parents(tmp_path):
    write(tmp_path / "a/b/c.py", b"VALUE = 1\n")
    checked: set[str] = set()
    hashed = hash_installed(str(tmp_path), "a/b/c.py", checked)
    assert hashed.problem is None
    assert hashed.digest == sha(b"VALUE = 1\n")
    assert hashed.content is None
    assert hashed.stat is not None
    assert hashed.stat.st_size == 10
    assert checked == {"a", "a/b"}
    kept = hash_installed(str(tmp_path), "a/b/c.py", checked, keep=True)
    assert (kept.digest, kept.content) == (sha(b"VALUE = 1\n"), b"VALUE = 1\n")


@pytest.mark.parametrize("size", [0, 1, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 7])
def test_hash_installed_reads_every_chunk(tmp_path, size):
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    write(tmp_path / "big.bin", data)
    hashed = hash_installed(str(tmp_path), "big.bin", set(), keep=True)
    assert hashed.digest == sha(data)
    assert hashed.content == data
    assert hash_installed(str(tmp_path), "big.bin", set()).digest == sha(data)


def test_missing_file_and_missing_parent_are_missing(tmp_path):
    write(tmp_path / "a/x.py")
    assert hash_installed(str(tmp_path), "a/gone.py", set()).problem == missing("a/gone.py")
    assert hash_installed(str(tmp_path), "b/c/gone.py", set()).problem == missing("b/c/gone.py")
    assert hash_installed(str(tmp_path), "top.py", set()).problem == missing("top.py")


def test_symlinked_parent_is_unsafe_and_not_followed(tmp_path):
    write(tmp_path / "elsewhere/c.py")
    (tmp_path / "site/a").mkdir(parents=True)
    (tmp_path / "site/a/b").symlink_to(tmp_path / "elsewhere")
    checked: set[str] = set()
    hashed = hash_installed(str(tmp_path / "site"), "a/b/c.py", checked)
    assert hashed.problem == unsafe("a/b/c.py", "parent a/b is not a real directory (symlink?)")
    assert hashed.digest is None
    assert checked == {"a"}


def test_a_checked_parent_is_skipped_but_not_the_ones_below_it(tmp_path):
    """Only the parents already checked are trusted: a symlink further down is still found."""
    write(tmp_path / "elsewhere/c.py")
    (tmp_path / "site/a").mkdir(parents=True)
    (tmp_path / "site/a/b").symlink_to(tmp_path / "elsewhere")
    checked = {"a"}
    hashed = hash_installed(str(tmp_path / "site"), "a/b/c.py", checked)
    assert hashed.problem == unsafe("a/b/c.py", "parent a/b is not a real directory (symlink?)")


def test_a_parent_that_is_a_file_is_not_a_real_directory(tmp_path):
    write(tmp_path / "a")
    hashed = hash_installed(str(tmp_path), "a/x.py", set())
    assert hashed.problem == unsafe("a/x.py", "parent a is not a real directory (symlink?)")


def test_a_parent_that_cannot_be_inspected(tmp_path):
    long = "d" * 300  # longer than NAME_MAX: lstat fails with ENAMETOOLONG
    hashed = hash_installed(str(tmp_path), f"{long}/x.py", set())
    reason = unsafe(f"{long}/x.py", f"parent {long} cannot be inspected: {os.strerror(errno.ENAMETOOLONG)}")
    assert hashed.problem == reason


def test_final_symlink_is_unsafe(tmp_path):
    write(tmp_path / "real.py")
    (tmp_path / "link.py").symlink_to(tmp_path / "real.py")
    hashed = hash_installed(str(tmp_path), "link.py", set())
    assert hashed.problem == unsafe("link.py", f"cannot be opened safely (symlink?): {os.strerror(errno.ELOOP)}")


def test_directory_and_fifo_are_not_regular_files(tmp_path):
    (tmp_path / "dir.py").mkdir()
    os.mkfifo(tmp_path / "pipe.py")
    assert hash_installed(str(tmp_path), "dir.py", set()).problem == unsafe("dir.py", "is not a regular file")
    assert hash_installed(str(tmp_path), "pipe.py", set()).problem == unsafe("pipe.py", "is not a regular file")


def test_a_read_error_is_reported_and_the_file_closed(tmp_path, monkeypatch):
    write(tmp_path / "x.py")
    closed = []
    real_close = os.close

    def failing_read(fd, n):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    def close(fd):
        closed.append(fd)
        real_close(fd)

    monkeypatch.setattr(os, "read", failing_read)
    monkeypatch.setattr(os, "close", close)
    hashed = hash_installed(str(tmp_path), "x.py", set())
    assert hashed.problem == unsafe("x.py", f"cannot be read: {os.strerror(errno.EIO)}")
    assert len(closed) == 1


def test_the_file_record_spares_the_read_of_an_unchanged_file(tmp_path, monkeypatch):
    site = str(tmp_path / "site")
    write(tmp_path / "site/a/x.py", b"X = 1\n")
    files = FileRecord(tmp_path / "installed.record", KEY, racy_ns=0)
    first = hash_installed(site, "a/x.py", set(), files=files)
    assert first.digest == sha(b"X = 1\n")
    assert files.digest(os.path.join(site, "a/x.py"), os.lstat(os.path.join(site, "a/x.py"))) == first.digest

    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    again = hash_installed(site, "a/x.py", set(), files=files)
    assert (again.digest, again.problem, opened) == (first.digest, None, [])
    assert again.stat is not None
    assert again.stat.st_ino == first.stat.st_ino  # type: ignore[union-attr]
    # keep=True needs the content: read even when the record knows the file
    assert hash_installed(site, "a/x.py", set(), files=files, keep=True).content == b"X = 1\n"
    assert opened == [os.path.join(site, "a/x.py")]


def test_the_file_record_uses_the_stat_of_the_walk(tmp_path, monkeypatch):
    site = str(tmp_path / "site")
    path = write(tmp_path / "site/a/x.py", b"X = 1\n")
    files = FileRecord(tmp_path / "installed.record", KEY, racy_ns=0)
    hash_installed(site, "a/x.py", set(), files=files)
    st = os.lstat(path)
    monkeypatch.setattr(os, "lstat", lambda *a, **k: pytest.fail("lstat called although the walk gave the stat"))
    monkeypatch.setattr(os, "open", lambda *a, **k: pytest.fail("opened although the record knows it"))
    assert hash_installed(site, "a/x.py", set(), st=st, files=files).digest == sha(b"X = 1\n")


def test_a_changed_file_is_read_again_and_remembered_anew(tmp_path):
    site = str(tmp_path / "site")
    path = write(tmp_path / "site/x.py", b"X = 1\n")
    files = FileRecord(tmp_path / "installed.record", KEY, racy_ns=0)
    hash_installed(site, "x.py", set(), files=files)
    path.write_bytes(b"X = 22\n")
    hashed = hash_installed(site, "x.py", set(), files=files)
    assert hashed.digest == sha(b"X = 22\n")
    assert hashed.content is None  # hashed, not kept
    assert files.digest(str(path), os.lstat(path)) == sha(b"X = 22\n")


def test_the_file_record_does_not_vouch_for_a_missing_or_special_file(tmp_path):
    site = str(tmp_path / "site")
    write(tmp_path / "site/x.py")
    files = FileRecord(tmp_path / "installed.record", KEY, racy_ns=0)
    assert hash_installed(site, "gone.py", set(), files=files).problem == missing("gone.py")
    os.mkfifo(tmp_path / "site/pipe.py")
    assert hash_installed(site, "pipe.py", set(), files=files).problem == unsafe("pipe.py", "is not a regular file")
    assert files.digest(os.path.join(site, "pipe.py"), os.lstat(os.path.join(site, "pipe.py"))) is None


# --- RecordIndex -------------------------------------------------------------------------------------------------


def _record(tmp_path, text: str | bytes):
    md = tmp_path / "site/p-1.0.dist-info"
    md.mkdir(parents=True, exist_ok=True)
    (md / "RECORD").write_bytes(text.encode() if isinstance(text, str) else text)
    return RecordIndex(str(tmp_path / "site"), str(md))


def test_record_index_maps_paths_to_hash_fields(tmp_path):
    index = _record(tmp_path, 'p/a.py,sha256=AAA,3\r\n"p/b,c.py",,\np-1.0.dist-info/RECORD,,\n')
    assert index.site == str(tmp_path / "site")
    assert index.error is None
    assert index.entries == {"p/a.py": "sha256=AAA", "p/b,c.py": "", "p-1.0.dist-info/RECORD": ""}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("p/a.py,sha256=AAA,3\np/b.py,sha256=BBB\n", "row with 2 fields"),
        ("p/a.py,sha256=AAA,3,extra\n", "row with 4 fields"),
        ("p/a.py,sha256=AAA,3\n\np/b.py,,\n", "row with 0 fields"),  # a blank line, which installer refuses too
        (b"p/\xff.py,,\n", "'utf-8' codec can't decode byte 0xff in position 2: invalid start byte"),
        ("p/a.py," + "h" * 131073 + ",1\n", "field larger than field limit (131072)"),
    ],
)
def test_record_index_refuses_a_malformed_record_whole(tmp_path, text, why):
    index = _record(tmp_path, text)
    assert index.entries == {}  # nothing of a malformed RECORD is used, not even the rows before the bad one
    assert index.error == f"installed RECORD is unusable: {why}"


def test_record_index_without_record(tmp_path):
    md = tmp_path / "p-1.0.dist-info"
    md.mkdir()
    index = RecordIndex(str(tmp_path), str(md))
    assert index.entries == {}
    assert index.error == f"installed RECORD is unusable: [Errno 2] No such file or directory: '{md / 'RECORD'}'"


def test_record_index_size_limit(tmp_path):
    """64 MiB at most: one byte more is refused before anything is read (a sparse file, so nothing is written)."""
    md = tmp_path / "p-1.0.dist-info"
    md.mkdir()
    with open(md / "RECORD", "wb") as handle:
        handle.truncate(64 * 1024 * 1024 + 1)
    index = RecordIndex(str(tmp_path), str(md))
    assert index.error == (
        f"installed RECORD is unusable: {md / 'RECORD'} is not a regular file of at most {64 * 1024 * 1024} bytes"
    )


# --- PackageWalker -----------------------------------------------------------------------------------------------


def _walker(site, signed: dict[str, bytes], **kwargs):
    for rel, data in signed.items():
        write(site / rel, data)
    digests = {rel: sha(data) for rel, data in signed.items()}
    owned = {"/".join(rel.split("/")[:i]) for rel in signed for i in range(1, rel.count("/") + 1)}
    record = RecordIndex(str(site), str(site / "p-1.0.dist-info"))
    return PackageWalker(str(site), digests, owned, record, **kwargs)


SIGNED = {"p/__init__.py": b"", "p/mod.py": b"X = 1\n", "p/sub/deep.py": b"Y = 2\n", "p/sub/data.txt": b"d"}


def test_walk_of_a_clean_package_finds_nothing_and_keeps_the_stats(tmp_path):
    walker = _walker(tmp_path, SIGNED)
    walker.walk("p")
    assert walker.reasons == []
    assert walker.pycache_accepted == []
    assert sorted(walker.stats) == sorted(SIGNED)
    assert walker.stats["p/mod.py"].st_ino == os.lstat(tmp_path / "p/mod.py").st_ino
    assert walker.site == str(tmp_path)
    assert walker.files is None
    assert walker.refuse_bytecode is False


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ("p/evil.py", "not in the signed file list"),
        ("p/sub/evil.so", "not in the signed file list"),
        ("p/sub/README", "not in the signed file list"),
        ("p/lone.pyc", "a .pyc outside __pycache__ (Python would import it without source)"),
        ("p/sub/lone.pyc", "a .pyc outside __pycache__ (Python would import it without source)"),
    ],
)
def test_walk_reports_each_unsigned_file(tmp_path, extra, why):
    walker = _walker(tmp_path, SIGNED)
    write(tmp_path / extra)
    walker.walk("p")
    assert walker.reasons == [unsigned(extra, why)]


def test_walk_reports_an_unsigned_directory_without_descending(tmp_path):
    walker = _walker(tmp_path, SIGNED)
    write(tmp_path / "p/nested/inner/evil.py")
    walker.walk("p")
    assert walker.reasons == [unsigned("p/nested", "directory with no signed file (importable as a namespace package)")]


def test_walk_reports_symlinks_and_special_files(tmp_path):
    walker = _walker(tmp_path, SIGNED)
    write(tmp_path / "outside/x.py")
    (tmp_path / "p/link.py").symlink_to(tmp_path / "outside/x.py")
    (tmp_path / "p/sub/dirlink").symlink_to(tmp_path / "outside")
    os.mkfifo(tmp_path / "p/sub/fifo")
    walker.walk("p")
    assert sorted(walker.reasons, key=lambda r: r.subject or "") == [
        unsafe("p/link.py", "is a symlink or a special file"),
        unsafe("p/sub/dirlink", "is a symlink or a special file"),
        unsafe("p/sub/fifo", "is a symlink or a special file"),
    ]


def test_walk_of_a_missing_top_reports_nothing(tmp_path):
    walker = _walker(tmp_path, {"q.py": b""})
    walker.walk("p")
    assert walker.reasons == []


def test_walk_of_a_symlinked_top_does_not_follow_it(tmp_path):
    walker = _walker(tmp_path, {"q.py": b""})
    write(tmp_path / "elsewhere/evil.py")
    (tmp_path / "p").symlink_to(tmp_path / "elsewhere")
    walker.walk("p")
    assert walker.reasons == [unsafe("p", "is not a real directory (symlink?)")]


def test_walk_of_a_directory_that_cannot_be_listed_goes_on_with_the_others(tmp_path, monkeypatch):
    walker = _walker(tmp_path, {**SIGNED, "p/other/x.py": b""})
    write(tmp_path / "p/sub/evil.py")
    write(tmp_path / "p/other/evil.py")
    write(tmp_path / "p/evil.py")
    real = os.scandir
    failed: list[str] = []

    def scandir(path):
        rel = os.path.relpath(path, tmp_path)
        if rel != "p" and not failed:  # the first directory below the top, whichever is listed first
            failed.append(rel)
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    walker.walk("p")
    (other,) = {"p/sub", "p/other"} - set(failed)
    assert walker.reasons == [  # the files of p before the directories below it
        unsigned("p/evil.py", "not in the signed file list"),
        unsafe(failed[0], f"cannot be listed: {os.strerror(errno.EACCES)}"),
        unsigned(f"{other}/evil.py", "not in the signed file list"),
    ]


def test_walk_goes_on_after_a_pycache_directory(tmp_path):
    """Two caches: whichever is walked first, the walk goes on to the other."""
    walker = _walker(tmp_path, SIGNED, refuse_bytecode=True)
    write(tmp_path / f"p/__pycache__/mod.{TAG}.pyc")
    write(tmp_path / f"p/sub/__pycache__/deep.{TAG}.pyc")
    walker.walk("p")
    why = f"bytecode cache file, and the host refuses them all; {PYCACHE_ADVICE}"
    assert sorted(walker.reasons, key=lambda r: r.subject or "") == [
        unsigned(f"p/__pycache__/mod.{TAG}.pyc", why),
        unsigned(f"p/sub/__pycache__/deep.{TAG}.pyc", why),
    ]


def _compile(site, rel: str, cfile: str | None = None) -> str:
    target = py_compile.compile(str(site / rel), cfile=None if cfile is None else str(site / cfile), doraise=True)
    return os.path.relpath(target, site)


def test_pycache_compiled_from_the_signed_source_is_accepted_with_its_basis(tmp_path):
    walker = _walker(tmp_path, SIGNED)
    cached = [_compile(tmp_path, "p/mod.py"), _compile(tmp_path, "p/sub/deep.py")]
    walker.walk("p")
    assert walker.reasons == []
    assert sorted(walker.pycache_accepted) == [f"{rel}: the code compiled from the signed source" for rel in cached]
    assert sorted(walker.stats) == sorted(SIGNED)  # cache files are not signed files


def test_pycache_of_a_modified_source_is_modified(tmp_path):
    walker = _walker(tmp_path, SIGNED)
    cached = _compile(tmp_path, "p/mod.py")
    (tmp_path / "p/mod.py").write_bytes(b"X = 2\n")
    walker.walk("p")
    message = f"{cached}: its signed source changed after signing, so it cannot be compared"
    assert walker.reasons == [Reason(code=R.INSTALLED_FILE_MODIFIED, message=message, subject=cached)]


def test_pycache_refused_by_the_host(tmp_path):
    walker = _walker(tmp_path, SIGNED, refuse_bytecode=True)
    cached = _compile(tmp_path, "p/mod.py")
    walker.walk("p")
    why = f"bytecode cache file, and the host refuses them all; {PYCACHE_ADVICE}"
    assert walker.reasons == [unsigned(cached, why)]
    assert walker.pycache_accepted == []


def test_pycache_that_is_not_the_compiled_source(tmp_path):
    walker = _walker(tmp_path, SIGNED)
    cached = f"p/__pycache__/helper.{TAG}.pyc"
    write(tmp_path / cached, b"\0" * 16)
    walker.walk("p")
    why = "bytecode cache file that is not the compiled signed source (p/helper.py is not a signed source); "
    assert walker.reasons == [unsigned(cached, why + PYCACHE_ADVICE)]


def test_pycache_of_the_same_code_with_other_line_numbers_is_refused(tmp_path):
    """Equal byte code, other line table: Python 3.10's code equality alone would accept it (tracebacks would lie)."""
    signed = {"p/__init__.py": b"", "p/lay.py": b"x = 1\ny = 2\n\ndef f():\n    return 1\n"}
    walker = _walker(tmp_path, signed)
    cached = _compile(tmp_path, "p/lay.py")
    planted = b"x = 1; y = 2\n\n\ndef f():\n    return 1\n"  # same statements, y on line 1 instead of 2
    code = compile(planted, str(tmp_path / "p/lay.py"), "exec", dont_inherit=True)
    header = (tmp_path / cached).read_bytes()[:16]
    (tmp_path / cached).write_bytes(header + marshal.dumps(code))
    walker.walk("p")
    why = "bytecode cache file that is not the compiled signed source (its code is not what compiling the signed "
    assert walker.reasons == [unsigned(cached, why + "p/lay.py gives); " + PYCACHE_ADVICE)]


def test_pycache_entries_that_are_directories_symlinks_or_special(tmp_path):
    walker = _walker(tmp_path, SIGNED)
    cache = tmp_path / "p/__pycache__"
    (cache / "nested").mkdir(parents=True)
    write(cache / "nested/evil.pyc")
    (cache / f"mod.{TAG}.pyc").symlink_to(tmp_path / "p/mod.py")
    os.mkfifo(cache / "fifo")
    walker.walk("p")
    assert sorted(walker.reasons, key=lambda r: r.subject or "") == [
        unsafe("p/__pycache__/fifo", "is a symlink or a special file"),
        unsafe(f"p/__pycache__/mod.{TAG}.pyc", "is a symlink or a special file"),
        unsigned("p/__pycache__/nested", "directory inside __pycache__ that no installer writes"),
    ]


def test_a_signed_pycache_directory_is_walked_as_a_signed_directory(tmp_path):
    """A wheel may ship ``__pycache__`` files itself; they are then signed files (and their directory is owned)."""
    signed = {**SIGNED, f"p/__pycache__/mod.{TAG}.pyc": b"signed bytes"}
    walker = _walker(tmp_path, signed, refuse_bytecode=True)
    write(tmp_path / "p/__pycache__/other.txt")
    walker.walk("p")
    assert walker.reasons == [unsigned("p/__pycache__/other.txt", "not in the signed file list")]
    assert f"p/__pycache__/mod.{TAG}.pyc" in walker.stats


def test_a_signed_file_in_an_unowned_pycache_keeps_its_stat(tmp_path):
    walker = _walker(tmp_path, SIGNED, refuse_bytecode=True)
    rel = f"p/__pycache__/mod.{TAG}.pyc"
    write(tmp_path / rel, b"signed")
    walker.signed = {**walker.signed, rel: sha(b"signed")}  # signed, but its directory is not in owned_dirs
    walker.walk("p")
    assert walker.reasons == []
    assert walker.stats[rel].st_size == 6


def test_a_directory_merely_ending_in_pycache_is_not_a_cache(tmp_path):
    walker = _walker(tmp_path, SIGNED)
    write(tmp_path / f"p/not__pycache__/mod.{TAG}.pyc")
    walker.walk("p")
    assert walker.reasons == [
        unsigned("p/not__pycache__", "directory with no signed file (importable as a namespace package)")
    ]


def test_the_file_record_remembers_a_compared_cache_file(tmp_path, monkeypatch):
    files = FileRecord(tmp_path / "installed.record", KEY, racy_ns=0)
    walker = _walker(tmp_path / "site", SIGNED, files=files)
    _compile(tmp_path / "site", "p/mod.py")
    walker.walk("p")
    assert walker.reasons == []
    assert len(walker.pycache_accepted) == 1
    monkeypatch.setattr(pyccheck, "read_file", lambda *a: pytest.fail("compared again although the record knows it"))
    second = _walker(tmp_path / "site", SIGNED, files=files)
    second.walk("p")
    assert second.reasons == []
    assert second.pycache_accepted == walker.pycache_accepted


# --- start-up hooks ----------------------------------------------------------------------------------------------


def _site_with_records(tmp_path, records: dict[str, str]):
    for dist_info, text in records.items():
        write(tmp_path / dist_info / "RECORD", text.encode())
    return str(tmp_path)


def test_site_record_hashes_reads_only_the_wanted_rows_first_listing_wins(tmp_path):
    site = _site_with_records(
        tmp_path,
        {
            "a-1.dist-info": "a.pth,sha256=FIRST,1\nx.pth,sha256=NOTWANTED,1\nb.pth,,\n",
            "b-1.dist-info": "a.pth,sha256=SECOND,1\nb.pth,sha256=B,1\nc.pth,sha256=C\n",
        },
    )
    found = site_record_hashes(site, ["a-1.dist-info", "b-1.dist-info"], {"a.pth", "b.pth", "c.pth"})
    assert found == {"a.pth": "sha256=FIRST", "b.pth": ""}  # c.pth's row has two fields
    found = site_record_hashes(site, ["b-1.dist-info", "a-1.dist-info"], ["a.pth", "b.pth"])
    assert found == {"a.pth": "sha256=SECOND", "b.pth": "sha256=B"}


def test_site_record_hashes_skips_a_missing_record_and_reads_the_next(tmp_path):
    site = _site_with_records(tmp_path, {"b-1.dist-info": "a.pth,sha256=B,1\n"})
    assert site_record_hashes(site, ["gone-1.dist-info", "b-1.dist-info"], ["a.pth"]) == {"a.pth": "sha256=B"}


def test_site_record_hashes_wants_the_whole_name(tmp_path):
    site = _site_with_records(tmp_path, {"a-1.dist-info": "a.pth.bak,sha256=X,1\nsitecustomize.py,sha256=Y,1\n"})
    assert site_record_hashes(site, ["a-1.dist-info"], ["a.pth", "sitecustomize.py"]) == {
        "sitecustomize.py": "sha256=Y"
    }


def test_site_record_hashes_skips_a_record_csv_cannot_read_and_reads_the_next(tmp_path):
    """A NUL byte in a wanted row (Python 3.10's csv refuses it) makes that RECORD vouch for nothing, not raise."""
    records = {"a-1.dist-info": "a.pth\x00,sha256=NUL,1\n", "b-1.dist-info": "a.pth,sha256=B,1\n"}
    site = _site_with_records(tmp_path, records)
    assert site_record_hashes(site, ["a-1.dist-info", "b-1.dist-info"], ["a.pth"]) == {"a.pth": "sha256=B"}
    assert site_record_hashes(site, ["a-1.dist-info"], ["a.pth"]) == {}


def test_a_record_that_does_not_parse_leaves_a_hook_unsigned(tmp_path, monkeypatch):
    def refuse(lines):
        raise ValueError("line contains NUL")

    monkeypatch.setattr(sitehooks, "record_rows", refuse)
    data = b"/opt/somewhere\n"
    write(tmp_path / "a.pth", data)
    site = _site_with_records(tmp_path, {"a-1.dist-info": f"a.pth,{record_field(data, 'sha256')},15\n"})
    reasons: list[Reason] = []
    evidence: list[str] = []
    check_startup_hooks(site, ["a.pth"], ["a-1.dist-info"], reasons, evidence)
    assert (reasons, evidence) == ([_hook_reason("a.pth", site)], [])


def _hook_reason(name: str, site: str) -> Reason:
    message = f"{name}: start-up hook in {site} that no installed RECORD lists with a matching hash"
    return Reason(code=R.INSTALLED_FILE_UNSIGNED, message=message, subject=name)


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_a_hook_listed_with_a_matching_hash_is_evidence(tmp_path, algorithm):
    data = b"/opt/somewhere\n"
    write(tmp_path / "a.pth", data)
    site = _site_with_records(tmp_path, {"a-1.dist-info": f"a.pth,{record_field(data, algorithm)},15\n"})
    reasons: list[Reason] = []
    evidence: list[str] = []
    check_startup_hooks(site, ["a.pth"], ["a-1.dist-info"], reasons, evidence)
    assert (reasons, evidence) == ([], ["a.pth"])


def test_a_listing_with_an_unknown_algorithm_does_not_hide_a_later_one_that_vouches(tmp_path):
    data = b"/opt/somewhere\n"
    write(tmp_path / "a.pth", data)
    records = {
        "a-1.dist-info": "a.pth,md5=AAAA,15\n",
        "b-1.dist-info": f"a.pth,{record_field(data, 'sha256')},15\n",
    }
    site = _site_with_records(tmp_path, records)
    reasons: list[Reason] = []
    evidence: list[str] = []
    check_startup_hooks(site, ["a.pth"], ["a-1.dist-info", "b-1.dist-info"], reasons, evidence)
    assert (reasons, evidence) == ([], ["a.pth"])


@pytest.mark.parametrize(
    "field",
    [
        "md5=" + base64.urlsafe_b64encode(hashlib.md5(b"x").digest()).rstrip(b"=").decode(),
        record_field(b"x", "sha1"),
        record_field(b"x", "sha224"),
        record_field(b"x", "sha3_256"),
        "",
        "sha256",
        "sha256=",
        record_field(b"other"),
        record_field(b"x") + "=",  # padded: RECORD hashes are unpadded
        "SHA256=" + record_field(b"x").partition("=")[2],
    ],
)
def test_a_hook_without_a_strong_matching_hash_is_unsigned(tmp_path, field):
    write(tmp_path / "a.pth", b"x")
    site = _site_with_records(tmp_path, {"a-1.dist-info": f"a.pth,{field},1\n"})
    reasons: list[Reason] = []
    evidence: list[str] = []
    check_startup_hooks(site, ["a.pth"], ["a-1.dist-info"], reasons, evidence)
    assert (reasons, evidence) == ([_hook_reason("a.pth", site)], [])


def test_a_sha384_hash_ending_in_x_matches(tmp_path):
    """SHA-384 has no base64 padding; only ``=`` is stripped from the computed hash, never a final letter."""
    data = b"/opt/34\n"
    assert record_field(data, "sha384").endswith("X")
    write(tmp_path / "a.pth", data)
    site = _site_with_records(tmp_path, {"a-1.dist-info": f"a.pth,{record_field(data, 'sha384')},8\n"})
    evidence: list[str] = []
    check_startup_hooks(site, ["a.pth"], ["a-1.dist-info"], [], evidence)
    assert evidence == ["a.pth"]


def test_a_record_with_undecodable_bytes_still_vouches_for_its_other_rows(tmp_path):
    """Another distribution's RECORD is only searched: a bad byte in an unrelated row must not hide a listed hook."""
    data = b"/opt/x\n"
    write(tmp_path / "a.pth", data)
    write(tmp_path / "a-1.dist-info/RECORD", b"caf\xe9.py,,\na.pth," + record_field(data).encode() + b",7\n")
    reasons: list[Reason] = []
    evidence: list[str] = []
    check_startup_hooks(str(tmp_path), ["a.pth"], ["a-1.dist-info"], reasons, evidence)
    assert (reasons, evidence) == ([], ["a.pth"])
    assert site_record_hashes(str(tmp_path), ["a-1.dist-info"], ["caf\ufffd.py"]) == {"caf\ufffd.py": ""}


def test_hooks_are_judged_each_in_name_order(tmp_path):
    good = b"/opt/good\n"
    write(tmp_path / "good.pth", good)
    write(tmp_path / "bad.pth", b"import evil\n")
    write(tmp_path / "sitecustomize.py", b"print()\n")
    (tmp_path / "real.pth").write_bytes(good)
    (tmp_path / "link.pth").symlink_to(tmp_path / "real.pth")
    record = f"good.pth,{record_field(good)},10\nlink.pth,{record_field(good)},10\n"
    site = _site_with_records(tmp_path, {"a-1.dist-info": record})
    reasons: list[Reason] = []
    evidence: list[str] = []
    hooks = ["sitecustomize.py", "link.pth", "good.pth", "bad.pth", "gone.pth"]
    check_startup_hooks(site, hooks, ["a-1.dist-info"], reasons, evidence)
    assert evidence == ["good.pth"]
    assert reasons == [_hook_reason(name, site) for name in ("bad.pth", "gone.pth", "link.pth", "sitecustomize.py")]


def test_no_hooks_reads_no_record(tmp_path, monkeypatch):
    monkeypatch.setattr(sitehooks, "read_file", lambda *a: pytest.fail("a RECORD was read"))
    monkeypatch.setattr(sitecheck, "read_file", lambda *a: pytest.fail("a RECORD was read"))
    reasons: list[Reason] = []
    check_startup_hooks(str(tmp_path), [], ["a-1.dist-info"], reasons, [])
    assert reasons == []


# --- SiteIndex ---------------------------------------------------------------------------------------------------


def test_site_index_sorts_entries_by_import_name_hooks_and_dist_infos(tmp_path):
    for name in ("acme.py", "acme.pyc", "zz.pth", "usercustomize.py", "x.txt", "fake.dist-info", "README"):
        write(tmp_path / name)
    for name in ("acme", "sitecustomize", "dir.pth", "acme-1.0.dist-info", "__pycache__"):
        (tmp_path / name).mkdir()
    (tmp_path / "link.pth").symlink_to(tmp_path / "zz.pth")
    (tmp_path / "linkdir").symlink_to(tmp_path / "acme")  # not a directory entry of its own: no import name
    (tmp_path / "linkdir.pth").symlink_to(tmp_path / "acme")  # a hook file as far as the listing goes
    index = SiteIndex(str(tmp_path))
    assert index.site == str(tmp_path)
    assert index.error is None
    assert {name: sorted(entries) for name, entries in index.by_import.items()} == {
        "acme": [("acme", True), ("acme.py", False), ("acme.pyc", False)],
        "sitecustomize": [("sitecustomize", True)],
        "usercustomize": [("usercustomize.py", False)],
        "dir.pth": [("dir.pth", True)],
        "acme-1.0.dist-info": [("acme-1.0.dist-info", True)],
        "__pycache__": [("__pycache__", True)],
    }
    assert sorted(index.hooks) == [
        ("link.pth", False),
        ("linkdir.pth", False),
        ("sitecustomize", True),
        ("usercustomize.py", False),
        ("zz.pth", False),
    ]
    assert index.dist_infos == ["acme-1.0.dist-info"]


def test_site_index_of_a_missing_directory(tmp_path):
    index = SiteIndex(str(tmp_path / "gone"))
    assert index.error == f"{tmp_path / 'gone'} cannot be listed: {os.strerror(errno.ENOENT)}"
    assert (index.by_import, index.hooks, index.dist_infos) == ({}, [], [])


def test_scan_site_calls_back_for_every_entry(tmp_path):
    for name in ("a", "b", "c"):
        write(tmp_path / name)
    seen: list[str] = []
    assert scan_site(str(tmp_path), lambda entry: seen.append(entry.name)) is None
    assert sorted(seen) == ["a", "b", "c"]
    write(tmp_path / "file")
    assert scan_site(str(tmp_path / "file"), seen.append) == (
        f"{tmp_path / 'file'} cannot be listed: {os.strerror(errno.ENOTDIR)}"
    )
