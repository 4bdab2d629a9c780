"""Tests for securehost._wheel.zipsafe: hand-made malicious archives, one inconsistency at a time."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tracemalloc
import zipfile
import zlib
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from securehost import ReasonCode
from securehost._wheel import zipstruct as zs
from securehost._wheel.zipsafe import ArchiveScan, ZipLimits, read_archive
from securehost._wheel.zipscan import Scanner
from securehost.exceptions import WheelFormatError
from tests import strategies_wheel as sw
from tests import wheelmaker as wm
from tests.wheelmaker import Entry, build

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

GOOD = {
    "pkg/__init__.py": b"",
    "pkg/mod.py": b"def f():\n    return 1\n" * 40,
    "pkg/blob.bin": bytes(range(256)) * 8,
    "pkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n",
}


def good_entries() -> list[Entry]:
    return [Entry(name, data, method=8 if i % 2 else 0) for i, (name, data) in enumerate(GOOD.items())]


def codes(scan: ArchiveScan) -> set[ReasonCode]:
    return {r.code for r in scan.reasons}


# --- accepted archives
# -----------------------------------------------------------------------------------------


def test_accepts_well_formed_archive_and_hashes_every_member() -> None:
    data = build(good_entries())
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None  # the forger writes valid zips
    scan = read_archive(data)
    assert scan.ok, scan.reasons
    assert scan.names == tuple(GOOD)
    for member in scan.members:
        content = GOOD[member.name]
        assert member.sha256 == hashlib.sha256(content).hexdigest()
        assert member.size == len(content)
        assert member.crc32 == zlib.crc32(content)


def test_accepts_archive_written_by_zipfile_with_directories_and_comment() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("pkg/", b"")
        archive.writestr("pkg/a.py", b"x = 1\n" * 1000)
        archive.writestr("pkg/ünïcode.txt", "é".encode())
        archive.comment = b"built by a test"
    scan = read_archive(buffer.getvalue())
    assert scan.ok, scan.reasons
    assert scan.names == ("pkg/a.py", "pkg/ünïcode.txt")  # directories are checked, not listed


@pytest.mark.parametrize("kind", ["signed", "unsigned"])
def test_accepts_data_descriptors(kind: str) -> None:
    entries = [
        Entry("a.txt", b"hello " * 100, descriptor=kind),
        Entry("b.txt", b"x", method=0, descriptor=kind),
    ]
    scan = read_archive(build(entries))
    assert scan.ok, scan.reasons
    assert scan.get("a.txt") is not None
    assert scan.read("a.txt") == b"hello " * 100


def test_accepts_descriptor_with_honest_local_values() -> None:
    entry = Entry("a.txt", b"data", descriptor="signed")
    _, crc, csize, size = entry.central_values()
    entry.local_crc, entry.local_compressed_size, entry.local_size = crc, csize, size
    assert read_archive(build([entry])).ok


def test_path_and_bytes_sources_agree(tmp_path: Path) -> None:
    data = build(good_entries())
    path = tmp_path / "a.zip"
    path.write_bytes(data)
    assert read_archive(path) == read_archive(data)
    assert read_archive(str(path)).members == read_archive(data).members


# --- rejected archives: one forged inconsistency each
# -----------------------------------------------------------


def _zip64_extra() -> bytes:
    return struct.pack("<HHQ", 0x0001, 8, 4)


def _with_entry(**overrides: object) -> Callable[[], bytes]:
    def make() -> bytes:
        entries = good_entries()
        for key, value in overrides.items():
            setattr(entries[1], key, value)
        return build(entries)

    return make


def _prepended_adjusted() -> bytes:
    return build(good_entries(), prefix=b"#!/bin/sh\necho polyglot\n", adjust_offsets=True)


def _two_end_records() -> bytes:
    honest = build(good_entries())
    fake_end = honest[-22:]  # a copy of the real end record, with an empty comment
    return honest[:-2] + struct.pack("<H", 22) + fake_end


def _hidden_local_entry() -> bytes:
    entries = good_entries()
    hidden = wm.local_record(Entry("pkg/evil.py", b"import os\n"))
    return build(entries, gaps={2: hidden})


def _shared_local_header() -> bytes:
    entries = good_entries()
    build(entries)  # learn the offsets
    twin = Entry("pkg/mod.py", GOOD["pkg/mod.py"], method=8, offset=entries[1].written_offset)
    return build([*entries, twin])


def _overlap_into_data() -> bytes:
    # Fifield's overlapping-entry construction: a second central entry whose local header lies
    # inside the
    # first entry's stored data.
    inner = wm.local_record(Entry("b.txt", b"B" * 50, method=0))
    outer = Entry("a.txt", b"A" * 10 + inner, method=0)
    entries = [outer]
    build(entries)
    ghost = Entry("b.txt", b"B" * 50, method=0, offset=outer.written_offset + 30 + 5 + 10)
    return build([outer, ghost])


def _no_local_header() -> bytes:
    entries = good_entries()
    entries[0].offset = 0
    return build(entries, gaps={0: b"X" * 64})


def _declared_count(delta: int) -> Callable[[], bytes]:
    return lambda: build(good_entries(), count=len(GOOD) + delta)


def _directory_with_data() -> bytes:
    return build([Entry("pkg/", b"surprise", external_attr=wm.DIRECTORY)])


def _trailing_deflate_bytes() -> bytes:
    return build([Entry("a.txt", b"abc", payload=wm.deflate(b"abc") + b"hidden")])


def _stored_sizes_differ() -> bytes:
    return build([Entry("a.txt", b"abc", method=0, compressed_size=3, size=4, local_size=4)])


def _size_lie_short() -> bytes:
    return build([Entry("a.txt", b"abc" * 100, size=500, local_size=500)])


def _crc_mismatch() -> bytes:
    return build([Entry("a.txt", b"abc", crc=1234, local_crc=1234)])


def _corrupt_deflate() -> bytes:
    return build([Entry("a.txt", b"abc", payload=b"\xff\xff\xff\xff")])


def _truncated_deflate() -> bytes:
    return build([Entry("a.txt", b"abc" * 100, payload=wm.deflate(bytes(range(256)) * 4)[:50])])


def _descriptor_disagrees() -> bytes:
    return build([Entry("a.txt", b"abc", descriptor="signed", descriptor_values=(1, 2, 3))])


def _zip64_locator() -> bytes:
    honest = build(good_entries())
    locator = struct.pack("<IIQI", 0x07064B50, 0, 0, 1)
    cd_end = len(honest) - 22
    cd_offset = struct.unpack_from("<I", honest, cd_end + 16)[0]
    return (
        honest[:cd_end]
        + locator
        + honest[cd_end:-22]
        + struct.pack("<I4H2IH", wm.EOCD_SIG, 0, 0, len(GOOD), len(GOOD), cd_end - cd_offset, cd_offset, 0)
    )


def _patch(data: bytes, field: str, value: int) -> bytes:
    """Overwrite the version-needed field of the first local or central header."""
    out = bytearray(data)
    at = out.index(b"PK\x01\x02") + 6 if field == "central_needed" else 4
    struct.pack_into("<H", out, at, value)
    return bytes(out)


def _name(name: str | bytes, **kw: object) -> Callable[[], bytes]:
    return lambda: build([Entry(name, b"x", **kw)])  # type: ignore[arg-type]


def _names(*names: str) -> Callable[[], bytes]:
    return lambda: build([Entry(n, n.encode()) for n in names])


SMALL = ZipLimits(max_member_size=1000, max_total_size=2500, max_members=3, ratio_grace=100)

CASES: list[tuple[str, Callable[[], bytes], ZipLimits | None, ReasonCode]] = [
    # structure
    ("empty file", lambda: b"", None, ReasonCode.ZIP_UNREADABLE),
    ("no end record", lambda: build(good_entries())[:-22], None, ReasonCode.ZIP_UNREADABLE),
    (
        "prepended data",
        lambda: build(good_entries(), prefix=b"MZ" + b"\0" * 62),
        None,
        ReasonCode.ZIP_EXTRA_DATA,
    ),
    ("prepended data, offsets adjusted", _prepended_adjusted, None, ReasonCode.ZIP_EXTRA_DATA),
    (
        "trailing data",
        lambda: build(good_entries(), suffix=b"trailing"),
        None,
        ReasonCode.ZIP_EXTRA_DATA,
    ),
    (
        "comment length too short",
        lambda: build(good_entries(), comment=b"abc", comment_length=1),
        None,
        ReasonCode.ZIP_EXTRA_DATA,
    ),
    (
        "comment length too long",
        lambda: build(good_entries(), comment=b"abc", comment_length=9),
        None,
        ReasonCode.ZIP_UNREADABLE,
    ),
    ("two end records fit", _two_end_records, None, ReasonCode.ZIP_UNREADABLE),
    (
        "zip64 end record",
        lambda: build(good_entries(), count=0xFFFF),
        None,
        ReasonCode.ZIP_UNSUPPORTED,
    ),
    ("zip64 locator", _zip64_locator, None, ReasonCode.ZIP_UNSUPPORTED),
    ("zip64 extra field", _with_entry(extra=_zip64_extra()), None, ReasonCode.ZIP_UNSUPPORTED),
    ("multi-disk", lambda: build(good_entries(), disk=1), None, ReasonCode.ZIP_UNSUPPORTED),
    ("entry on another disk", _with_entry(disk=2), None, ReasonCode.ZIP_UNSUPPORTED),
    ("count too high", _declared_count(+1), None, ReasonCode.ZIP_UNREADABLE),
    ("count too low", _declared_count(-1), None, ReasonCode.ZIP_EXTRA_DATA),
    (
        "junk after central entries",
        lambda: build(good_entries(), cd_tail=b"PK\x01\x02junk"),
        None,
        ReasonCode.ZIP_EXTRA_DATA,
    ),
    (
        "central directory offset wrong",
        lambda: build(good_entries(), cd_offset=7),
        None,
        ReasonCode.ZIP_EXTRA_DATA,
    ),
    (
        "central directory size too big",
        lambda: build(good_entries(), cd_size=10_000),
        None,
        ReasonCode.ZIP_UNREADABLE,
    ),
    (
        "gap between entries",
        lambda: build(good_entries(), gaps={1: b"\0" * 16}),
        None,
        ReasonCode.ZIP_EXTRA_DATA,
    ),
    ("hidden local entry", _hidden_local_entry, None, ReasonCode.ZIP_EXTRA_DATA),
    (
        "data before central directory",
        lambda: build(good_entries(), before_cd=b"PK\x05\x06"),
        None,
        ReasonCode.ZIP_EXTRA_DATA,
    ),
    (
        "two entries share a local header",
        _shared_local_header,
        None,
        ReasonCode.ZIP_OVERLAPPING_ENTRIES,
    ),
    ("entry inside another's data", _overlap_into_data, None, ReasonCode.ZIP_OVERLAPPING_ENTRIES),
    (
        "local header offset in central directory",
        _with_entry(offset=10**6),
        None,
        ReasonCode.ZIP_OVERLAPPING_ENTRIES,
    ),
    ("no local header at offset", _no_local_header, None, ReasonCode.ZIP_UNREADABLE),
    # local header vs central directory
    (
        "local name differs",
        _with_entry(local_name=b"pkg/evil.py"),
        None,
        ReasonCode.ZIP_HEADER_MISMATCH,
    ),
    ("local method differs", _with_entry(local_method=0), None, ReasonCode.ZIP_HEADER_MISMATCH),
    ("local flags differ", _with_entry(local_flags=0x0800), None, ReasonCode.ZIP_HEADER_MISMATCH),
    ("local size differs", _with_entry(local_size=1), None, ReasonCode.ZIP_HEADER_MISMATCH),
    (
        "local compressed size differs",
        _with_entry(local_compressed_size=1),
        None,
        ReasonCode.ZIP_HEADER_MISMATCH,
    ),
    ("local crc differs", _with_entry(local_crc=1), None, ReasonCode.ZIP_HEADER_MISMATCH),
    ("descriptor disagrees", _descriptor_disagrees, None, ReasonCode.ZIP_HEADER_MISMATCH),
    ("stored sizes differ", _stored_sizes_differ, None, ReasonCode.ZIP_HEADER_MISMATCH),
    ("inflates short of declared size", _size_lie_short, None, ReasonCode.ZIP_HEADER_MISMATCH),
    (
        "directory attribute on a file name",
        _name("pkg/dir", external_attr=wm.DIRECTORY),
        None,
        ReasonCode.ZIP_HEADER_MISMATCH,
    ),
    # entry features
    ("bzip2", _with_entry(method=12, payload=b"BZh9"), None, ReasonCode.ZIP_UNSUPPORTED),
    ("lzma", _with_entry(method=14, payload=b"\x09\x14"), None, ReasonCode.ZIP_UNSUPPORTED),
    (
        "version needed 6.4",
        lambda: _patch(build(good_entries()), "central_needed", 64),
        None,
        ReasonCode.ZIP_UNSUPPORTED,
    ),
    (
        "local version needed 6.4",
        lambda: _patch(build(good_entries()), "local_needed", 64),
        None,
        ReasonCode.ZIP_UNSUPPORTED,
    ),
    (
        "unknown flag bit",
        _with_entry(flags=0x0010, local_flags=0x0010),
        None,
        ReasonCode.ZIP_UNSUPPORTED,
    ),
    (
        "unicode path extra",
        _with_entry(extra=struct.pack("<HHB", 0x7075, 1, 1)),
        None,
        ReasonCode.ZIP_UNSUPPORTED,
    ),
    ("fifo", _name("pkg/fifo", external_attr=0o010644 << 16), None, ReasonCode.ZIP_UNSUPPORTED),
    ("encrypted flag", _with_entry(flags=1, local_flags=1), None, ReasonCode.ZIP_ENCRYPTED),
    (
        "strong encryption flag",
        _with_entry(flags=0x40, local_flags=0x40),
        None,
        ReasonCode.ZIP_ENCRYPTED,
    ),
    (
        "AES extra",
        _with_entry(extra=struct.pack("<HH7s", 0x9901, 7, b"\x02\x00AE\x03\x08\x00")),
        None,
        ReasonCode.ZIP_ENCRYPTED,
    ),
    ("malformed extra field", _with_entry(extra=b"\x01\x02\xff"), None, ReasonCode.ZIP_UNREADABLE),
    ("symlink", _name("pkg/link.py", external_attr=wm.SYMLINK), None, ReasonCode.ZIP_SYMLINK),
    ("directory with data", _directory_with_data, None, ReasonCode.ZIP_EXTRA_DATA),
    # data
    ("crc mismatch", _crc_mismatch, None, ReasonCode.ZIP_CRC_MISMATCH),
    ("corrupt deflate", _corrupt_deflate, None, ReasonCode.ZIP_UNREADABLE),
    ("truncated deflate", _truncated_deflate, None, ReasonCode.ZIP_UNREADABLE),
    ("bytes after deflate stream", _trailing_deflate_bytes, None, ReasonCode.ZIP_EXTRA_DATA),
    # names
    ("parent segment", _name("../x"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("inner parent segment", _name("a/../../x"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("dot segment", _name("a/./x"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("absolute", _name("/abs"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("empty segment", _name("a//b"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("backslash", _name("a\\b"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("drive letter", _name("C:x"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("alternate data stream", _name("a.py:evil"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("NUL", _name("a\0.py"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("newline", _name("a\n.py"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("bidi override", _name("a\u202eyp.txt"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("trailing dot", _name("pkg./a.py"), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("empty name", _name(""), None, ReasonCode.ZIP_UNSAFE_PATH),
    (
        "non-ASCII without UTF-8 flag (CP437)",
        _name("caf\x82.py".encode("latin-1"), flags=0),
        None,
        ReasonCode.ZIP_UNSAFE_PATH,
    ),
    ("invalid UTF-8", _name(b"caf\xc3.py", flags=0x0800), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("name too long", _name("a" * 1025), None, ReasonCode.ZIP_UNSAFE_PATH),
    ("duplicate", _names("pkg/a.py", "pkg/a.py"), None, ReasonCode.ZIP_DUPLICATE_NAME),
    ("case duplicate", _names("pkg/A.py", "pkg/a.py"), None, ReasonCode.ZIP_DUPLICATE_NAME),
    (
        "case-folding duplicate",
        _names("pkg/straße.py", "pkg/STRASSE.py"),
        None,
        ReasonCode.ZIP_DUPLICATE_NAME,
    ),
    (
        "NFC duplicate",
        _names("pkg/\u00e9.py", "pkg/e\u0301.py"),
        None,
        ReasonCode.ZIP_DUPLICATE_NAME,
    ),
    ("file and directory", _names("pkg/a", "pkg/A/b.py"), None, ReasonCode.ZIP_DUPLICATE_NAME),
    # limits
    (
        "archive too large",
        lambda: build(good_entries()),
        ZipLimits(max_archive_size=100),
        ReasonCode.ZIP_TOO_LARGE,
    ),
    (
        "central directory too large",
        lambda: build(good_entries()),
        ZipLimits(max_central_directory=50),
        ReasonCode.ZIP_TOO_LARGE,
    ),
    ("too many members", _names("a", "b", "c", "d"), SMALL, ReasonCode.ZIP_TOO_MANY_MEMBERS),
    (
        "member too large",
        lambda: build([Entry("a", bytes(1001))]),
        SMALL,
        ReasonCode.ZIP_MEMBER_TOO_LARGE,
    ),
    (
        "total too large",
        lambda: build([Entry(n, bytes(900), method=0) for n in "abc"]),
        SMALL,
        ReasonCode.ZIP_TOO_LARGE,
    ),
    (
        "member ratio",
        lambda: build([Entry("a", bytes(10**6))]),
        None,
        ReasonCode.ZIP_COMPRESSION_RATIO,
    ),
    (
        "overall ratio",
        lambda: build([Entry(str(i), bytes(60_000)) for i in range(3)]),
        None,
        ReasonCode.ZIP_COMPRESSION_RATIO,
    ),
]


def test_every_zip_reason_code_is_provoked() -> None:
    zip_codes = {code for code in ReasonCode if code.name.startswith("ZIP_")}
    assert {case[3] for case in CASES} == zip_codes


@pytest.mark.parametrize(("label", "make", "limits", "code"), CASES, ids=[c[0] for c in CASES])
def test_rejects_malformed_archive(
    label: str, make: Callable[[], bytes], limits: ZipLimits | None, code: ReasonCode
) -> None:
    scan = read_archive(make(), limits=limits or ZipLimits())
    assert code in codes(scan), (label, scan.reasons)
    assert not scan.ok


@pytest.mark.parametrize("name", ["pkg/a.py", "pkg/Ünïcödé.py", "a b/c d.txt", "x" * 1024, ".hidden/.x"])
def test_accepts_safe_names(name: str) -> None:
    scan = read_archive(build([Entry(name, b"ok")]))
    assert scan.ok, scan.reasons
    assert scan.names == (name,)


def test_rejected_member_is_left_out_and_others_stay() -> None:
    scan = read_archive(
        build(
            [
                Entry("ok.py", b"1"),
                Entry("../evil.py", b"2"),
                Entry("link", b"t", external_attr=wm.SYMLINK),
            ]
        )
    )
    assert scan.names == ("ok.py",)
    assert codes(scan) == {ReasonCode.ZIP_UNSAFE_PATH, ReasonCode.ZIP_SYMLINK}


def test_collects_every_reason_instead_of_stopping_at_the_first() -> None:
    entries = [
        Entry("../a", b"x"),
        Entry("b", b"y", flags=1, local_flags=1),
        Entry("c", b"z", local_name=b"d"),
        Entry("e", b"w", crc=5, local_crc=5),
    ]
    scan = read_archive(build(entries, suffix=b"junk"))
    assert codes(scan) >= {
        ReasonCode.ZIP_EXTRA_DATA,
        ReasonCode.ZIP_UNSAFE_PATH,
        ReasonCode.ZIP_ENCRYPTED,
        ReasonCode.ZIP_HEADER_MISMATCH,
        ReasonCode.ZIP_CRC_MISMATCH,
    }
    assert scan.members == ()


def test_reasons_name_their_subject() -> None:
    scan = read_archive(build([Entry("ok.py", b"1"), Entry("a\\b", b"2")]))
    (reason,) = scan.reasons
    assert reason.subject == "a\\b"
    assert "a\\\\b" in reason.message


# --- zip bombs
# ----------------------------------------------------------------------------------------------


def _zeros_stream(total: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(1 << 20)
    parts = [compressor.compress(block) for _ in range(total >> 20)]
    return b"".join(parts) + compressor.flush()


@pytest.fixture(scope="module")
def bomb_stream() -> bytes:
    return _zeros_stream(128 << 20)


def test_declared_size_lie_stops_inflating_after_one_byte_past_the_declaration(
    bomb_stream: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    produced: list[int] = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self, *args: int) -> None:
            self._inner = real(*args)

        def __getattr__(self, name: str) -> object:
            return getattr(self._inner, name)

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out = self._inner.decompress(data, max_length)
            produced.append(len(out))
            return out

    monkeypatch.setattr(zlib, "decompressobj", Counting)
    data = build([Entry("bomb.bin", b"", payload=bomb_stream, crc=0, size=1000, local_size=1000)])
    tracemalloc.start()
    try:
        scan = read_archive(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert ReasonCode.ZIP_HEADER_MISMATCH in codes(scan)
    assert sum(produced) == 1001
    assert peak < 8 << 20  # a few chunks, not the 128 MiB


def test_honest_bomb_is_rejected_before_inflating(bomb_stream: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object) -> object:
        raise AssertionError("inflated a bomb")

    monkeypatch.setattr(zlib, "decompressobj", forbidden)
    data = build([Entry("bomb.bin", b"", payload=bomb_stream, crc=0, size=128 << 20)])
    scan = read_archive(data)
    assert codes(scan) == {ReasonCode.ZIP_COMPRESSION_RATIO}


def test_member_limit_is_enforced_while_inflating() -> None:
    # the declaration is within the limit, the data is not: inflation stops at the declaration
    data = build([Entry("a.bin", bytes(range(256)) * 40, size=900, local_size=900)])
    scan = read_archive(data, limits=ZipLimits(max_member_size=1000))
    assert codes(scan) == {ReasonCode.ZIP_HEADER_MISMATCH}
    assert "inflates past 900 bytes" in scan.reasons[0].message


def test_overlapping_entries_are_not_inflated_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = zlib.decompressobj
    monkeypatch.setattr(zlib, "decompressobj", lambda *a: calls.append(1) or real(*a))
    entry = Entry("a", b"abc" * 1000)
    build([entry])
    twins = [Entry(f"t{i}", b"abc" * 1000, offset=entry.written_offset) for i in range(50)]
    scan = read_archive(build([entry, *twins]))
    assert ReasonCode.ZIP_OVERLAPPING_ENTRIES in codes(scan)
    assert len(calls) == 1


# --- reading members back
# ------------------------------------------------------------------------------------


def test_read_returns_captured_dist_info_files_and_rereads_others(tmp_path: Path) -> None:
    path = tmp_path / "a.whl"
    path.write_bytes(build(good_entries()))
    scan = read_archive(path)
    assert scan.read("pkg-1.0.dist-info/METADATA") == GOOD["pkg-1.0.dist-info/METADATA"]
    assert scan.read("pkg/mod.py") == GOOD["pkg/mod.py"]
    assert scan.read("pkg/blob.bin") == GOOD["pkg/blob.bin"]
    assert scan.digest("pkg/mod.py", "sha512") == hashlib.sha512(GOOD["pkg/mod.py"]).hexdigest()


def test_read_detects_a_file_changed_after_the_scan(tmp_path: Path) -> None:
    path = tmp_path / "a.whl"
    path.write_bytes(build(good_entries()))
    scan = read_archive(path)
    entries = good_entries()
    entries[1].data = entries[1].data.replace(b"return 1", b"return 2")
    path.write_bytes(build(entries))
    with pytest.raises(WheelFormatError, match="changed since"):
        scan.read("pkg/mod.py")
    with pytest.raises(WheelFormatError, match="changed since"):
        scan.digest("pkg/mod.py", "sha384")
    path.write_bytes(b"")
    with pytest.raises(WheelFormatError, match="changed since"):
        scan.read("pkg/blob.bin")


def test_read_refuses_unknown_oversized_and_unverified_members() -> None:
    scan = read_archive(build([Entry("big.bin", bytes(5000)), Entry("../x", b"")]))
    with pytest.raises(WheelFormatError, match="more than the 100 allowed"):
        scan.read("big.bin", max_size=100)
    with pytest.raises(KeyError):
        scan.read("../x")
    with pytest.raises(KeyError):
        scan.read("nope")


def test_capture_predicate_and_size_are_honoured() -> None:
    data = build(good_entries())
    scan = read_archive(data, capture=lambda name: name.endswith(".py"), limits=ZipLimits(capture_size=10))
    assert set(scan._captured) == {"pkg/__init__.py"}  # mod.py is larger than capture_size
    assert scan.read("pkg/mod.py") == GOOD["pkg/mod.py"]


@pytest.mark.parametrize("as_path", [False, True])
def test_thread_count_does_not_change_the_outcome(tmp_path: Path, as_path: bool) -> None:
    entries = [Entry(f"pkg/m{i}.py", bytes([i]) * (1000 + 37 * i), method=i % 2 * 8) for i in range(40)]
    entries[7].crc, entries[7].local_crc = 1, 1
    entries[20].payload = wm.deflate(b"abc") + b"junk"
    entries += [
        Entry("x-1.dist-info/METADATA", b"Name: x\n"),
        Entry("big.bin", os.urandom(3 << 20)),
    ]
    data = build(entries)
    source: Path | bytes = data
    if as_path:
        source = tmp_path / "a.zip"
        source.write_bytes(data)
    one = read_archive(source, threads=1)
    many = read_archive(source, threads=3)
    auto = read_archive(source)
    assert one == many == auto
    assert one.members
    assert one.reasons
    assert many.read("x-1.dist-info/METADATA") == b"Name: x\n"
    with pytest.raises(ValueError, match="threads"):
        read_archive(data, threads=0)


@pytest.mark.parametrize("large", [False, True], ids=["read-at-once", "positional-reads"])
def test_file_shrinking_during_the_scan_is_an_error_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, large: bool
) -> None:
    path = tmp_path / "a.zip"
    extra = [Entry("big.bin", os.urandom(zs.WHOLE_READ))] if large else []
    path.write_bytes(build([*good_entries(), *extra]))
    real_fstat = os.fstat
    # the scan believes the file is larger than it is, as if it shrank after the size was taken
    size = path.stat().st_size + 10**4
    monkeypatch.setattr(os, "fstat", lambda fd: os.stat_result((*real_fstat(fd)[:6], size, 0, 0, 0)))
    with pytest.raises(WheelFormatError, match="ended early"):
        read_archive(path)


def test_small_archives_are_read_at_once_and_large_ones_in_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[tuple[int, int]] = []
    pieces: list[tuple[int, int]] = []
    real_read, real_chunks = zs.FileSource.read, zs.FileSource.chunks

    def read(self: zs.FileSource, offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return real_read(self, offset, length)

    def chunks(self: zs.FileSource, offset: int, length: int) -> Iterator[memoryview]:
        pieces.append((offset, length))
        return real_chunks(self, offset, length)

    monkeypatch.setattr(zs.FileSource, "read", read)
    monkeypatch.setattr(zs.FileSource, "chunks", chunks)
    small = tmp_path / "small.zip"
    small.write_bytes(build(good_entries()))
    scan = read_archive(small)
    assert scan.ok
    assert reads == [(0, small.stat().st_size)]
    assert not pieces
    reads.clear()
    assert scan.read("pkg/mod.py") == GOOD["pkg/mod.py"]  # not captured: read again, that member alone
    assert (0, small.stat().st_size) not in reads
    assert len(pieces) == 1
    reads.clear()
    pieces.clear()
    large = tmp_path / "large.zip"
    large.write_bytes(build([*good_entries(), Entry("big.bin", os.urandom(zs.WHOLE_READ), method=0)]))
    scan = read_archive(large)
    assert scan.ok
    assert len(reads) > 1
    assert len(pieces) == len(scan.members)
    assert read_archive(large.read_bytes()) == read_archive(large)


def test_source_errors() -> None:
    with pytest.raises(TypeError):
        read_archive(123)  # type: ignore[arg-type]
    with pytest.raises(WheelFormatError, match="cannot open"):
        read_archive("/nonexistent/x.whl")


def test_bytearray_source_is_copied() -> None:
    data = bytearray(build(good_entries()))
    scan = read_archive(data)
    data[:] = bytes(len(data))
    assert scan.read("pkg/mod.py") == GOOD["pkg/mod.py"]


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("max_members", 0, ValueError, "max_members must be positive, got 0"),
        ("max_ratio", 1.5, TypeError, "max_ratio must be an int, got float"),
        ("max_archive_size", True, TypeError, "max_archive_size must be an int, got bool"),
    ],
)
def test_limits_validate(field: str, value: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as info:
        ZipLimits(**{field: value})  # type: ignore[arg-type]
    assert str(info.value) == message
    assert getattr(ZipLimits(**{field: 1}), field) == 1  # the smallest limit is valid


@pytest.mark.slow
def test_real_wheel_built_by_python_build_passes(tmp_path: Path) -> None:
    wheel = wm.build_real_wheel(tmp_path)
    scan = read_archive(wheel)
    assert scan.ok, scan.reasons
    with zipfile.ZipFile(wheel) as archive:
        expected = {
            i.filename: hashlib.sha256(archive.read(i)).hexdigest() for i in archive.infolist() if not i.is_dir()
        }
    assert {m.name: m.sha256 for m in scan.members} == expected


# --- properties
# ----------------------------------------------------------------------------------------------


@settings(deadline=5000)
@given(st.one_of(st.binary(max_size=2048), st.binary(max_size=200).map(lambda b: b"PK\x03\x04" + b)))
def test_arbitrary_bytes_give_a_scan_never_an_exception(data: bytes) -> None:
    scan = read_archive(data)
    assert isinstance(scan, ArchiveScan)
    assert scan.ok == (not scan.reasons)


@settings(deadline=5000)
@given(sw.mutated_archives())
def test_accepted_mutations_read_the_same_in_zipfile(data: bytes) -> None:
    scan = read_archive(data)
    if not scan.ok:
        return
    # whatever we accept, zipfile must read identically: same files, same bytes
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = [i for i in archive.infolist() if not i.is_dir()]
        assert [i.filename for i in files] == list(scan.names)
        for info, member in zip(files, scan.members, strict=True):
            assert hashlib.sha256(archive.read(info)).hexdigest() == member.sha256


@given(sw.forged_archives(), st.sampled_from([1, 3]))
def test_forged_valid_archives_round_trip(archive: tuple[bytes, dict[str, bytes]], threads: int) -> None:
    data, members = archive
    scan = read_archive(data, threads=threads)
    assert scan.ok, scan.reasons
    assert {m.name: m.sha256 for m in scan.members} == {
        name: hashlib.sha256(content).hexdigest() for name, content in members.items()
    }
    assert all(scan.read(m.name, max_size=1 << 20) == members[m.name] for m in scan.members)


@given(sw.zipfile_archives())
def test_zipfile_written_archives_round_trip(archive: tuple[bytes, dict[str, bytes]]) -> None:
    data, members = archive
    scan = read_archive(data)
    assert scan.ok, scan.reasons
    assert {m.name: (m.sha256, m.size) for m in scan.members} == {
        name: (hashlib.sha256(content).hexdigest(), len(content)) for name, content in members.items()
    }


# --- the exact reasons, and what was (not) read: one forged field at a time ------------------------


def reasons_of(scan: ArchiveScan) -> list[tuple[ReasonCode, str]]:
    return [(r.code, r.message) for r in scan.reasons]


def test_accepts_extra_fields_and_comments_in_every_place() -> None:
    # central and local extra fields of different lengths, member comments and an archive comment all
    # move the offsets this reader computes; a well-formed archive using them all must read intact
    unknown = struct.pack("<HH6s", 0xCAFE, 6, b"banana")
    entries = [
        Entry("pkg/a.py", b"a = 1\n" * 50, extra=unknown, local_extra=struct.pack("<HH", 0xBEEF, 0)),
        Entry("pkg/b.bin", bytes(range(256)), method=0, extra=unknown + unknown, comment=b"member comment"),
        Entry("pkg/c.txt", b"c" * 500, comment=b"x" * 300, local_extra=unknown),
    ]
    data = build(entries, comment=b"archive comment " * 20)
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    scan = read_archive(data, capture=lambda _name: True)
    assert scan.ok, scan.reasons
    assert scan.names == ("pkg/a.py", "pkg/b.bin", "pkg/c.txt")
    for entry, member in zip(entries, scan.members, strict=True):
        assert member.sha256 == hashlib.sha256(entry.data).hexdigest()
        assert scan.read(member.name) == entry.data


def _patch_end(data: bytes, **fields: int) -> bytes:
    """Overwrite fields of the end record (the last 22 bytes of an archive without a comment)."""
    at = {"disk": 4, "cd_disk": 6, "on_disk": 8, "count": 10}
    out = bytearray(data)
    for name, value in fields.items():
        struct.pack_into("<H", out, len(out) - 22 + at[name], value)
    return bytes(out)


@pytest.mark.parametrize(
    "fields", [{"on_disk": len(GOOD) - 1}, {"on_disk": len(GOOD) + 1}, {"cd_disk": 1}, {"disk": 1}]
)
def test_end_record_must_describe_one_disk(fields: dict[str, int]) -> None:
    scan = read_archive(_patch_end(build(good_entries()), **fields))
    assert reasons_of(scan) == [(ReasonCode.ZIP_UNSUPPORTED, "multi-disk archives are not supported")]
    assert scan.members == ()


def _fake_end(comment_length: int) -> bytes:
    return struct.pack("<I4H2IH", wm.EOCD_SIG, 0, 0, 0, 0, 0, 0, comment_length)


def _with_fake_ends(lengths: list[int | None], *, before: bytes = b"") -> bytes:
    """A stored member holding one fake end record per length; ``None`` makes that one fit the file's end."""
    fakes = [_fake_end(0) for _ in lengths]

    def make() -> bytes:
        entries = [Entry("big.bin", before, method=0)] if before else []
        entries.append(Entry("fakes.bin", b"--".join(fakes), method=0))
        return build(entries)

    data = make()
    for i, length in enumerate(lengths):
        at = [m for m in range(len(data)) if data.startswith(b"PK\x05\x06", m)][i]
        fakes[i] = _fake_end(len(data) - at - 22 if length is None else length)
    return make()


def test_an_earlier_end_record_that_does_not_fit_is_ignored() -> None:
    scan = read_archive(_with_fake_ends([3, 0]))
    assert scan.ok, scan.reasons


@pytest.mark.parametrize(
    ("lengths", "before"),
    [
        ([None], b""),
        ([None, 3, 0], b""),  # the fitting one is further back than two that do not fit
        ([None], os.urandom(70_000)),  # the search starts 65,557 bytes before the end
    ],
    ids=["one", "behind-two-others", "far-from-the-start"],
)
def test_an_earlier_end_record_that_fits_the_end_of_the_file_is_ambiguous(
    lengths: list[int | None], before: bytes
) -> None:
    data = _with_fake_ends(lengths, before=before)
    if before:
        assert len(data) > 65_557
    scan = read_archive(data)
    assert reasons_of(scan) == [(ReasonCode.ZIP_UNREADABLE, "two end records fit the end of the file")]


def test_archive_over_the_totals_is_not_inflated_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object) -> object:
        raise AssertionError("read a member's data")

    monkeypatch.setattr(Scanner, "_hash", forbidden)
    over_total = build([Entry(n, bytes(900), method=m) for n, m in (("a", 0), ("b", 8), ("c", 0))])
    scan = read_archive(over_total, limits=SMALL)
    assert reasons_of(scan) == [(ReasonCode.ZIP_TOO_LARGE, "members inflate to 2700 bytes, more than the 2500 allowed")]
    assert scan.members == ()
    over_ratio = build([Entry(str(i), bytes(60_000)) for i in range(3)])  # each member is under the grace
    scan = read_archive(over_ratio)
    packed = sum(len(wm.deflate(bytes(60_000))) for _ in range(3))
    assert reasons_of(scan) == [
        (ReasonCode.ZIP_COMPRESSION_RATIO, f"the archive inflates {packed} bytes to 180000, beyond 200:1")
    ]
    assert scan.members == ()


def test_totals_at_the_limits_are_inflated() -> None:
    at_total = build([Entry(n, bytes(1000), method=0) for n in "ab"] + [Entry("c", bytes(500), method=0)])
    assert read_archive(at_total, limits=SMALL).ok
    at_member = build([Entry("a", bytes(1000), method=0)])
    assert read_archive(at_member, limits=SMALL).ok
    over_member = read_archive(build([Entry("a", bytes(1001), method=0)]), limits=SMALL)
    assert reasons_of(over_member) == [
        (ReasonCode.ZIP_MEMBER_TOO_LARGE, "'a' is 1001 bytes, more than the 1000 allowed")
    ]


def test_stored_entry_whose_sizes_differ() -> None:
    scan = read_archive(_stored_sizes_differ())
    assert reasons_of(scan) == [
        (ReasonCode.ZIP_HEADER_MISMATCH, "'a.txt' is stored but its two sizes differ"),
    ]  # and, failed on its central header, it is not read: no second reason from reading it
    assert scan.members == ()


@pytest.mark.parametrize(
    ("name", "external_attr", "ok"),
    [
        ("pkg/", wm.DIRECTORY, True),
        ("pkg/", 0, True),  # no type at all: the name decides
        ("pkg/", 0x10, True),  # MS-DOS directory bit only
        ("pkg/a", 0, True),
        ("pkg/a", wm.REGULAR, True),
        ("pkg/a", 0x10, False),  # MS-DOS directory bit on a file name
        ("pkg/a", 0o040755 << 16, False),  # Unix directory mode on a file name
        ("pkg/", wm.REGULAR, False),  # regular-file mode on a directory name
    ],
)
def test_a_type_that_contradicts_the_name(name: str, external_attr: int, ok: bool) -> None:
    scan = read_archive(build([Entry(name, b"", method=0, external_attr=external_attr)]))
    expected = [] if ok else [(ReasonCode.ZIP_HEADER_MISMATCH, f"{name!r} has a type that contradicts its name")]
    assert reasons_of(scan) == expected


# The exact reasons of every forged archive above, reviewed one by one: a check that is dropped, a message that
# changes or a second reason that appears is a visible difference here (a mutated check can hide behind another
# reason of the same code).
_HIDDEN = (
    "bytes between the declared end of the central directory and its end record "
    "(prepended data, or data hidden before the end record)"
)
EXPECTED_REASONS: dict[str, list[tuple[ReasonCode, str]]] = {
    "empty file": [(ReasonCode.ZIP_UNREADABLE, "0 bytes is too short for a zip archive")],
    "no end record": [(ReasonCode.ZIP_UNREADABLE, "no end-of-central-directory record")],
    "prepended data": [
        (
            ReasonCode.ZIP_EXTRA_DATA,
            f"64 {_HIDDEN}",
        )
    ],
    "prepended data, offsets adjusted": [
        (ReasonCode.ZIP_EXTRA_DATA, "24 unaccounted bytes before the first local header")
    ],
    "trailing data": [(ReasonCode.ZIP_EXTRA_DATA, "8 bytes after the end of the archive")],
    "comment length too short": [(ReasonCode.ZIP_EXTRA_DATA, "2 bytes after the end of the archive")],
    "comment length too long": [(ReasonCode.ZIP_UNREADABLE, "the archive comment runs past the end of the file")],
    "two end records fit": [
        (ReasonCode.ZIP_UNREADABLE, "two end records fit the end of the file"),
        (
            ReasonCode.ZIP_EXTRA_DATA,
            f"22 {_HIDDEN}",
        ),
    ],
    "zip64 end record": [(ReasonCode.ZIP_UNSUPPORTED, "zip64 archives are not supported")],
    "zip64 locator": [(ReasonCode.ZIP_UNSUPPORTED, "zip64 archives are not supported")],
    "zip64 extra field": [
        (ReasonCode.ZIP_UNSUPPORTED, "'pkg/mod.py' has a zip64 extra field in its central header"),
        (ReasonCode.ZIP_UNSUPPORTED, "'pkg/mod.py' has a zip64 extra field in its local header"),
    ],
    "multi-disk": [(ReasonCode.ZIP_UNSUPPORTED, "multi-disk archives are not supported")],
    "entry on another disk": [(ReasonCode.ZIP_UNSUPPORTED, "'pkg/mod.py' starts on another disk")],
    "count too high": [(ReasonCode.ZIP_UNREADABLE, "central directory entry 4 is malformed")],
    "count too low": [
        (ReasonCode.ZIP_EXTRA_DATA, "72 bytes after the last central entry"),
        (ReasonCode.ZIP_EXTRA_DATA, "96 unaccounted bytes before the central directory"),
    ],
    "junk after central entries": [(ReasonCode.ZIP_EXTRA_DATA, "8 bytes after the last central entry")],
    "central directory offset wrong": [
        (
            ReasonCode.ZIP_EXTRA_DATA,
            f"2296 {_HIDDEN}",
        )
    ],
    "central directory size too big": [(ReasonCode.ZIP_UNREADABLE, "the central directory overlaps its end record")],
    "gap between entries": [(ReasonCode.ZIP_EXTRA_DATA, "16 unaccounted bytes before this entry")],
    "hidden local entry": [(ReasonCode.ZIP_EXTRA_DATA, "53 unaccounted bytes before this entry")],
    "data before central directory": [(ReasonCode.ZIP_EXTRA_DATA, "4 unaccounted bytes before the central directory")],
    "two entries share a local header": [
        (ReasonCode.ZIP_DUPLICATE_NAME, "'pkg/mod.py' collides with 'pkg/mod.py'"),
        (ReasonCode.ZIP_OVERLAPPING_ENTRIES, "'pkg/mod.py' overlaps the entry before"),
        (ReasonCode.ZIP_EXTRA_DATA, "72 unaccounted bytes before the central directory"),
    ],
    "entry inside another's data": [
        (ReasonCode.ZIP_OVERLAPPING_ENTRIES, "'b.txt' overlaps the entry before"),
        (ReasonCode.ZIP_EXTRA_DATA, "85 unaccounted bytes before the central directory"),
    ],
    "local header offset in central directory": [
        (ReasonCode.ZIP_EXTRA_DATA, "72 unaccounted bytes before this entry"),
        (ReasonCode.ZIP_OVERLAPPING_ENTRIES, "'pkg/mod.py' points past the entries"),
    ],
    "no local header at offset": [(ReasonCode.ZIP_UNREADABLE, "'pkg/__init__.py' has no local header at 0")],
    "local name differs": [
        (ReasonCode.ZIP_HEADER_MISMATCH, "'pkg/mod.py' has a local header that disagrees with the central one on name")
    ],
    "local method differs": [
        (
            ReasonCode.ZIP_HEADER_MISMATCH,
            "'pkg/mod.py' has a local header that disagrees with the central one on compression method",
        )
    ],
    "local flags differ": [
        (ReasonCode.ZIP_HEADER_MISMATCH, "'pkg/mod.py' has a local header that disagrees with the central one on flags")
    ],
    "local size differs": [
        (ReasonCode.ZIP_HEADER_MISMATCH, "'pkg/mod.py' has a local header that disagrees with the central one on size")
    ],
    "local compressed size differs": [
        (
            ReasonCode.ZIP_HEADER_MISMATCH,
            "'pkg/mod.py' has a local header that disagrees with the central one on compressed size",
        )
    ],
    "local crc differs": [
        (ReasonCode.ZIP_HEADER_MISMATCH, "'pkg/mod.py' has a local header that disagrees with the central one on CRC")
    ],
    "descriptor disagrees": [
        (ReasonCode.ZIP_HEADER_MISMATCH, "'a.txt' has a data descriptor that is missing or wrong")
    ],
    "stored sizes differ": [(ReasonCode.ZIP_HEADER_MISMATCH, "'a.txt' is stored but its two sizes differ")],
    "inflates short of declared size": [(ReasonCode.ZIP_HEADER_MISMATCH, "'a.txt' inflates to 300, not 500")],
    "directory attribute on a file name": [
        (ReasonCode.ZIP_HEADER_MISMATCH, "'pkg/dir' has a type that contradicts its name")
    ],
    "bzip2": [(ReasonCode.ZIP_UNSUPPORTED, "'pkg/mod.py' uses compression method 12")],
    "lzma": [(ReasonCode.ZIP_UNSUPPORTED, "'pkg/mod.py' uses compression method 14")],
    "version needed 6.4": [(ReasonCode.ZIP_UNSUPPORTED, "'pkg/__init__.py' needs zip version 6.4")],
    "local version needed 6.4": [(ReasonCode.ZIP_UNSUPPORTED, "'pkg/__init__.py' needs a newer zip version locally")],
    "unknown flag bit": [(ReasonCode.ZIP_UNSUPPORTED, "'pkg/mod.py' has unknown flag bits 0x0010")],
    "unicode path extra": [
        (ReasonCode.ZIP_UNSUPPORTED, "'pkg/mod.py' has an Info-ZIP Unicode Path extra field in its central header"),
        (ReasonCode.ZIP_UNSUPPORTED, "'pkg/mod.py' has an Info-ZIP Unicode Path extra field in its local header"),
    ],
    "fifo": [(ReasonCode.ZIP_UNSUPPORTED, "'pkg/fifo' is a special file (mode 0o10644)")],
    "encrypted flag": [(ReasonCode.ZIP_ENCRYPTED, "'pkg/mod.py' is encrypted")],
    "strong encryption flag": [(ReasonCode.ZIP_ENCRYPTED, "'pkg/mod.py' is encrypted")],
    "AES extra": [
        (ReasonCode.ZIP_ENCRYPTED, "'pkg/mod.py' has an AES encryption extra field in its central header"),
        (ReasonCode.ZIP_ENCRYPTED, "'pkg/mod.py' has an AES encryption extra field in its local header"),
    ],
    "malformed extra field": [
        (ReasonCode.ZIP_UNREADABLE, "'pkg/mod.py' has a malformed extra field in its central header"),
        (ReasonCode.ZIP_UNREADABLE, "'pkg/mod.py' has a malformed extra field in its local header"),
    ],
    "symlink": [(ReasonCode.ZIP_SYMLINK, "'pkg/link.py' is a symbolic link")],
    "directory with data": [(ReasonCode.ZIP_EXTRA_DATA, "'pkg/' is a directory entry that carries data")],
    "crc mismatch": [(ReasonCode.ZIP_CRC_MISMATCH, "'a.txt' does not match its CRC-32")],
    "corrupt deflate": [(ReasonCode.ZIP_UNREADABLE, "'a.txt' has corrupt deflate data")],
    "truncated deflate": [(ReasonCode.ZIP_UNREADABLE, "'a.txt' has a truncated deflate stream")],
    "bytes after deflate stream": [(ReasonCode.ZIP_EXTRA_DATA, "'a.txt' hides 6 bytes after its data")],
    "parent segment": [(ReasonCode.ZIP_UNSAFE_PATH, "'../x' is not a safe relative path: '..' path segment")],
    "inner parent segment": [
        (ReasonCode.ZIP_UNSAFE_PATH, "'a/../../x' is not a safe relative path: '..' path segment")
    ],
    "dot segment": [(ReasonCode.ZIP_UNSAFE_PATH, "'a/./x' is not a safe relative path: '.' path segment")],
    "absolute": [(ReasonCode.ZIP_UNSAFE_PATH, "'/abs' is not a safe relative path: absolute path")],
    "empty segment": [(ReasonCode.ZIP_UNSAFE_PATH, "'a//b' is not a safe relative path: empty path segment")],
    "backslash": [(ReasonCode.ZIP_UNSAFE_PATH, "'a\\\\b' is not a safe relative path: forbidden character '\\\\'")],
    "drive letter": [(ReasonCode.ZIP_UNSAFE_PATH, "'C:x' is not a safe relative path: forbidden character ':'")],
    "alternate data stream": [
        (ReasonCode.ZIP_UNSAFE_PATH, "'a.py:evil' is not a safe relative path: forbidden character ':'")
    ],
    "NUL": [(ReasonCode.ZIP_UNSAFE_PATH, "'a\\x00.py' is not a safe relative path: forbidden character '\\x00'")],
    "newline": [(ReasonCode.ZIP_UNSAFE_PATH, "'a\\n.py' is not a safe relative path: forbidden character '\\n'")],
    "bidi override": [
        (ReasonCode.ZIP_UNSAFE_PATH, "'a\\u202eyp.txt' is not a safe relative path: forbidden character '\\u202e'")
    ],
    "trailing dot": [
        (
            ReasonCode.ZIP_UNSAFE_PATH,
            "'pkg./a.py' is not a safe relative path: path segment 'pkg.' ends with a dot or a space",
        )
    ],
    "empty name": [(ReasonCode.ZIP_UNSAFE_PATH, "'' is not a safe relative path: empty name")],
    "non-ASCII without UTF-8 flag (CP437)": [
        (ReasonCode.ZIP_UNSAFE_PATH, "'caf\\\\x82.py' is not UTF-8, or not ASCII without the UTF-8 flag")
    ],
    "invalid UTF-8": [
        (ReasonCode.ZIP_UNSAFE_PATH, "'caf\\\\xc3.py' is not UTF-8, or not ASCII without the UTF-8 flag")
    ],
    "name too long": [(ReasonCode.ZIP_UNSAFE_PATH, f"{'a' * 1025!r} is longer than 1024 bytes")],
    "duplicate": [(ReasonCode.ZIP_DUPLICATE_NAME, "'pkg/a.py' collides with 'pkg/a.py'")],
    "case duplicate": [(ReasonCode.ZIP_DUPLICATE_NAME, "'pkg/a.py' collides with 'pkg/A.py'")],
    "case-folding duplicate": [(ReasonCode.ZIP_DUPLICATE_NAME, "'pkg/STRASSE.py' collides with 'pkg/stra\\xdfe.py'")],
    "NFC duplicate": [(ReasonCode.ZIP_DUPLICATE_NAME, "'pkg/e\\u0301.py' collides with 'pkg/\\xe9.py'")],
    "file and directory": [(ReasonCode.ZIP_DUPLICATE_NAME, "'pkg/a' is both a file and a directory")],
    "archive too large": [(ReasonCode.ZIP_TOO_LARGE, "the archive is 2572 bytes, more than the 100 allowed")],
    "central directory too large": [(ReasonCode.ZIP_TOO_LARGE, "the central directory is 247 bytes")],
    "too many members": [(ReasonCode.ZIP_TOO_MANY_MEMBERS, "4 entries, more than the 3 allowed")],
    "member too large": [(ReasonCode.ZIP_MEMBER_TOO_LARGE, "'a' is 1001 bytes, more than the 1000 allowed")],
    "total too large": [(ReasonCode.ZIP_TOO_LARGE, "members inflate to 2700 bytes, more than the 2500 allowed")],
    "member ratio": [
        (ReasonCode.ZIP_COMPRESSION_RATIO, "'a' inflates 985 bytes to 1000000, beyond 200:1"),
        (ReasonCode.ZIP_COMPRESSION_RATIO, "the archive inflates 985 bytes to 1000000, beyond 200:1"),
    ],
    "overall ratio": [(ReasonCode.ZIP_COMPRESSION_RATIO, "the archive inflates 225 bytes to 180000, beyond 200:1")],
}


def test_expected_reasons_cover_every_case() -> None:
    assert list(EXPECTED_REASONS) == [case[0] for case in CASES]


@pytest.mark.parametrize(("label", "make", "limits", "code"), CASES, ids=[c[0] for c in CASES])
def test_exact_reasons_of_each_malformed_archive(
    label: str, make: Callable[[], bytes], limits: ZipLimits | None, code: ReasonCode
) -> None:
    scan = read_archive(make(), limits=limits or ZipLimits())
    assert reasons_of(scan) == EXPECTED_REASONS[label]


def test_ratio_grace_and_ratio_are_limits_at_n_and_n_plus_1() -> None:
    grace = ZipLimits().ratio_grace
    assert read_archive(build([Entry("a", bytes(grace))])).ok  # 800:1, but small enough to be exempt
    over = read_archive(build([Entry("a", bytes(grace + 1))]))
    assert [code for code, _ in reasons_of(over)] == [ReasonCode.ZIP_COMPRESSION_RATIO] * 2
    # a member that inflates to exactly max_ratio times its compressed size is accepted; one less is not
    size = next(n for n in range(10_000, 20_000) if n % len(wm.deflate(bytes(n))) == 0)
    ratio = size // len(wm.deflate(bytes(size)))
    data = build([Entry("a", bytes(size))])
    assert read_archive(data, limits=ZipLimits(max_ratio=ratio, ratio_grace=1)).ok
    below = read_archive(data, limits=ZipLimits(max_ratio=ratio - 1, ratio_grace=1))
    assert [code for code, _ in reasons_of(below)] == [ReasonCode.ZIP_COMPRESSION_RATIO] * 2


def test_version_needed_limit_is_exact() -> None:
    assert read_archive(_patch(build(good_entries()), "central_needed", 63)).ok
    assert read_archive(_patch(build(good_entries()), "local_needed", 63)).ok


def _dir(name: str) -> Entry:
    return Entry(name, b"", method=0, external_attr=wm.DIRECTORY)


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (
            [Entry(b"caf\x82.py", b"1", flags=0), Entry("a.py", b"2"), Entry("A.py", b"3")],
            [
                (ReasonCode.ZIP_UNSAFE_PATH, "'caf\\\\x82.py' is not UTF-8, or not ASCII without the UTF-8 flag"),
                (ReasonCode.ZIP_DUPLICATE_NAME, "'A.py' collides with 'a.py'"),
            ],
        ),
        (
            [Entry(n, n.encode()) for n in ("a", "A", "b", "B")],
            [
                (ReasonCode.ZIP_DUPLICATE_NAME, "'A' collides with 'a'"),
                (ReasonCode.ZIP_DUPLICATE_NAME, "'B' collides with 'b'"),
            ],
        ),
        ([_dir("pkg/"), _dir("PKG/")], [(ReasonCode.ZIP_DUPLICATE_NAME, "'PKG/' collides with 'pkg/'")]),
        ([_dir("pkg/"), Entry("pkg", b"x")], [(ReasonCode.ZIP_DUPLICATE_NAME, "'pkg' collides with 'pkg/'")]),
        ([_dir("pkg/"), _dir("pkg/sub/"), Entry("pkg/sub/a.py", b"x")], []),
        (
            [Entry("a/b", b"x"), Entry("a/b/c/d.py", b"y")],
            [(ReasonCode.ZIP_DUPLICATE_NAME, "'a/b' is both a file and a directory")],
        ),
        (
            [Entry("a", b"x"), Entry("a/x", b"y")],
            [(ReasonCode.ZIP_DUPLICATE_NAME, "'a' is both a file and a directory")],
        ),
        (
            [Entry("", b"x"), Entry("/x", b"y")],
            [
                (ReasonCode.ZIP_UNSAFE_PATH, "'' is not a safe relative path: empty name"),
                (ReasonCode.ZIP_UNSAFE_PATH, "'/x' is not a safe relative path: absolute path"),
            ],
        ),
    ],
    ids=[
        "after-an-undecodable-name",
        "two-pairs",
        "two-directories",
        "directory-and-file",
        "nested-directories",
        "deep-file-and-directory",
        "one-letter-parent",
        "empty-and-absolute",
    ],
)
def test_name_collisions(entries: list[Entry], expected: list[tuple[ReasonCode, str]]) -> None:
    assert reasons_of(read_archive(build(entries))) == expected


def _empty_with_locator() -> bytes:
    # a zip64 locator at offset 0, then an end record of an empty archive: the end record starts at 20
    return struct.pack("<IIQI", 0x07064B50, 0, 0, 1) + struct.pack("<I4H2IH", wm.EOCD_SIG, 0, 0, 0, 0, 0, 20, 0)


def _fake_end_first() -> bytes:
    honest = build(good_entries(), adjust_offsets=True, prefix=bytes(22))
    return _fake_end(len(honest) - 22) + honest[22:]


def _central_name_length(value: int) -> bytes:
    out = bytearray(build(good_entries()))
    struct.pack_into("<H", out, out.index(b"PK\x01\x02") + 28, value)
    return bytes(out)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: build(good_entries(), count=10), [(ReasonCode.ZIP_UNREADABLE, "247 bytes cannot hold 10 entries")]),
        (
            lambda: _central_name_length(1000),
            [(ReasonCode.ZIP_UNREADABLE, "central directory entry 0 is truncated")],
        ),
        (
            lambda: build(good_entries(), cd_size=0xFFFFFFFF),
            [(ReasonCode.ZIP_UNSUPPORTED, "zip64 archives are not supported")],
        ),
        (
            lambda: build(good_entries(), cd_offset=0xFFFFFFFF),
            [(ReasonCode.ZIP_UNSUPPORTED, "zip64 archives are not supported")],
        ),
        (_empty_with_locator, [(ReasonCode.ZIP_UNSUPPORTED, "zip64 archives are not supported")]),
        (
            _fake_end_first,  # a fake end record at offset 0 whose comment is the whole archive
            [
                (ReasonCode.ZIP_UNREADABLE, "two end records fit the end of the file"),
                (ReasonCode.ZIP_EXTRA_DATA, "22 unaccounted bytes before the first local header"),
            ],
        ),
        (
            lambda: build([Entry("caf\u00e9.py", b"x", flags=0)]),  # valid UTF-8, but the flag is not set
            [(ReasonCode.ZIP_UNSAFE_PATH, "'caf\\xe9.py' is not UTF-8, or not ASCII without the UTF-8 flag")],
        ),
    ],
    ids=[
        "count-too-high-for-size",
        "truncated-entry",
        "zip64-size",
        "zip64-offset",
        "locator-at-0",
        "fake-end-at-0",
        "utf8-without-flag",
    ],
)
def test_end_record_and_central_directory_edges(
    make: Callable[[], bytes], expected: list[tuple[ReasonCode, str]]
) -> None:
    assert reasons_of(read_archive(make())) == expected


def test_end_record_search_edges() -> None:
    # a magic number 21 bytes before the end cannot start an end record (22 bytes): the real one is used
    assert read_archive(build(good_entries(), comment=b"PK\x05\x06" + bytes(17))).ok
    assert read_archive(build(good_entries(), comment=b"xxPK\x05\x06")).ok
    # the fitting earlier record is the later of two, or between two that do not fit
    for lengths in ([0, None], [0, None, 3]):
        assert reasons_of(read_archive(_with_fake_ends(lengths))) == [
            (ReasonCode.ZIP_UNREADABLE, "two end records fit the end of the file")
        ]
    # the fitting one at offset 0, behind one that does not fit
    entries = [*good_entries(), Entry("fake.bin", _fake_end(0), method=0)]
    honest = build(entries, adjust_offsets=True, prefix=bytes(22))
    assert reasons_of(read_archive(_fake_end(len(honest) - 22) + honest[22:]))[0] == (
        ReasonCode.ZIP_UNREADABLE,
        "two end records fit the end of the file",
    )
    # a central directory exactly at its limit is read
    data = build(good_entries())
    cd_size = struct.unpack_from("<I", data, len(data) - 10)[0]
    assert read_archive(data, limits=ZipLimits(max_central_directory=cd_size)).ok
    assert read_archive(data, limits=ZipLimits(max_central_directory=cd_size - 1)).reasons[0].code is (
        ReasonCode.ZIP_TOO_LARGE
    )


def test_archive_size_limit_is_exact() -> None:
    data = build(good_entries())
    assert read_archive(data, limits=ZipLimits(max_archive_size=len(data))).ok
    assert reasons_of(read_archive(data, limits=ZipLimits(max_archive_size=len(data) - 1))) == [
        (ReasonCode.ZIP_TOO_LARGE, f"the archive is {len(data)} bytes, more than the {len(data) - 1} allowed")
    ]


def _cd_offset(data: bytes) -> int:
    return int(struct.unpack_from("<I", data, len(data) - 6)[0])


def _header_before_directory(back: int) -> bytes:
    """An entry whose local header (30 bytes, name not included) starts *back* bytes before the central directory."""
    ghost = Entry("pkg/x", b"", method=0)
    header = wm.local_record(ghost)[:30]
    entries = [*good_entries(), ghost]
    ghost.offset = 0
    cd_offset = _cd_offset(build(entries, before_cd=header))
    ghost.offset = cd_offset - back
    return build(entries, before_cd=header)


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        # a local header that ends exactly at the directory has no room for its name
        (lambda: _header_before_directory(30), "runs into the central directory"),
        (lambda: _header_before_directory(29), "points past the entries"),
        (_with_entry(compressed_size=10_000, local_compressed_size=10_000), "runs into the central directory"),
    ],
    ids=["header-ends-at-the-directory", "header-crosses-the-directory", "data-crosses-the-directory"],
)
def test_entries_that_reach_the_central_directory(make: Callable[[], bytes], expected: str) -> None:
    overlapping = [r for r in read_archive(make()).reasons if r.code is ReasonCode.ZIP_OVERLAPPING_ENTRIES]
    assert [r.message.split("' ", 1)[1] for r in overlapping] == [expected]


def test_every_entry_pointing_past_the_entries_is_reported() -> None:
    entries = good_entries()
    entries[2].offset = entries[3].offset = 10**6
    scan = read_archive(build(entries))
    past = [r for r in scan.reasons if r.code is ReasonCode.ZIP_OVERLAPPING_ENTRIES]
    assert [r.subject for r in past] == ["pkg/blob.bin", "pkg-1.0.dist-info/METADATA"]


def test_unaccounted_bytes_name_the_entry_after_them() -> None:
    scan = read_archive(build(good_entries(), gaps={1: bytes(16)}))
    assert [(r.code, r.message, r.subject) for r in scan.reasons] == [
        (ReasonCode.ZIP_EXTRA_DATA, "16 unaccounted bytes before this entry", "pkg/mod.py")
    ]


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"local_crc": 0}, "CRC"),  # zero is only allowed with a data descriptor
        ({"local_size": 0}, "size"),
        ({"local_name": b"pkg/evil.py", "local_flags": 0x0800}, "name, flags"),
    ],
)
def test_local_header_mismatches_are_listed(overrides: dict[str, object], fields: str) -> None:
    scan = read_archive(_with_entry(**overrides)())
    assert reasons_of(scan) == [
        (
            ReasonCode.ZIP_HEADER_MISMATCH,
            f"'pkg/mod.py' has a local header that disagrees with the central one on {fields}",
        )
    ]


@pytest.mark.parametrize("kind", ["signed", "unsigned"])
def test_a_wrong_descriptor_still_advances_by_its_length(kind: str) -> None:
    # the next entry starts right after the wrong descriptor: no overlap, no unaccounted bytes
    entries = [Entry("a.txt", b"abc", descriptor=kind, descriptor_values=(1, 2, 3)), Entry("b.txt", b"def")]
    assert reasons_of(read_archive(build(entries))) == [
        (ReasonCode.ZIP_HEADER_MISMATCH, "'a.txt' has a data descriptor that is missing or wrong")
    ]


def test_members_of_several_chunks_are_hashed_and_captured_whole(tmp_path: Path) -> None:
    big = os.urandom(3 << 20)  # three 1 MiB reads from a file, and three inflated pieces
    entries = [Entry("stored.bin", big, method=0), Entry("deflated.bin", big[::-1])]
    path = tmp_path / "big.zip"
    path.write_bytes(build(entries))
    scan = read_archive(path, capture=lambda _name: True, limits=ZipLimits(capture_size=len(big)))
    assert scan.ok, scan.reasons
    assert scan._captured == {"stored.bin": big, "deflated.bin": big[::-1]}
    small = read_archive(path, capture=lambda _name: True, limits=ZipLimits(capture_size=len(big) - 1))
    assert small._captured == {}
