"""The end record and the central directory: parsing, per-entry checks, names and totals.

:mod:`securehost._wheel.zipsafe` documents the decisions; :mod:`securehost._wheel.zipscan` checks the local
headers and the data against what this module parsed.
"""

from __future__ import annotations

import stat
from typing import Final, final

import attrs

from securehost._models import value_model
from securehost._verdict import Reason, ReasonCode
from securehost._wheel import zipstruct as zs
from securehost._wheel.zipnames import collision_key, decode_name, name_problem

__all__ = ["Entry", "MemberInfo", "Report", "ZipLimits", "check_entries", "read_central_directory"]

_MiB: Final = 1 << 20
_BAD_EXTRA: Final = {
    zs.EXTRA_ZIP64: (ReasonCode.ZIP_UNSUPPORTED, "has a zip64 extra field"),
    zs.EXTRA_UNICODE_PATH: (ReasonCode.ZIP_UNSUPPORTED, "has an Info-ZIP Unicode Path extra field"),
    zs.EXTRA_STRONG_ENCRYPTION: (ReasonCode.ZIP_ENCRYPTED, "has a strong-encryption extra field"),
    zs.EXTRA_AES: (ReasonCode.ZIP_ENCRYPTED, "has an AES encryption extra field"),
}
_DOS_DIRECTORY: Final = 0x10


def _positive(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{attribute.name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class ZipLimits:
    """Hard limits for reading an archive: generous for plugins, tight for attackers.

    Attributes:
        max_archive_size: largest archive file, in bytes.
        max_members: most central directory entries (files and directories).
        max_member_size: largest uncompressed member, in bytes.
        max_total_size: largest sum of uncompressed member sizes, in bytes.
        max_ratio: largest uncompressed/compressed ratio, per member and over the archive.
        ratio_grace: members (and archives) of at most this many uncompressed bytes are exempt
            from the ratio check: deflate cannot exceed about 1032:1, so they cannot be bombs,
            while small, very repetitive files are common.
        max_name_length: longest member name, in bytes.
        max_central_directory: largest central directory in bytes (it is held in memory whole).
        capture_size: largest member kept in memory during the scan for
            :meth:`securehost._wheel.zipsafe.ArchiveScan.read`.
    """

    max_archive_size: int = attrs.field(default=512 * _MiB, validator=_positive)
    max_members: int = attrs.field(default=20_000, validator=_positive)
    max_member_size: int = attrs.field(default=256 * _MiB, validator=_positive)
    max_total_size: int = attrs.field(default=1024 * _MiB, validator=_positive)
    max_ratio: int = attrs.field(default=200, validator=_positive)
    ratio_grace: int = attrs.field(default=64 * 1024, validator=_positive)
    max_name_length: int = attrs.field(default=1024, validator=_positive)
    max_central_directory: int = attrs.field(default=32 * _MiB, validator=_positive)
    capture_size: int = attrs.field(default=1 * _MiB, validator=_positive)


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class MemberInfo:
    """A verified file member of an archive.

    Attributes:
        name: the member name (a safe relative POSIX path).
        sha256: lowercase hex SHA-256 of the uncompressed content.
        size: uncompressed size in bytes.
        compressed_size: compressed size in bytes.
        method: compression method (0 stored, 8 deflate).
        crc32: CRC-32 of the uncompressed content.
        offset: offset of the member's local header in the archive.
    """

    name: str
    sha256: str
    size: int
    compressed_size: int
    method: int
    crc32: int
    offset: int


@final
class Entry:
    """A central directory entry, and what the pass learnt about it."""

    __slots__ = (
        "compressed_size",
        "crc",
        "external_attr",
        "failed",
        "flags",
        "index",
        "is_dir",
        "member",
        "method",
        "name",
        "needed",
        "offset",
        "raw_name",
        "size",
        "subject",
    )

    def __init__(self, index: int, fields: tuple[int, ...], raw_name: bytes) -> None:
        self.index = index
        self.needed, self.flags, self.method = fields[2] & 0xFF, fields[3], fields[4]
        self.crc, self.compressed_size, self.size = fields[7], fields[8], fields[9]
        self.external_attr, self.offset = fields[15], fields[16]
        self.raw_name = raw_name
        self.name = decode_name(raw_name, utf8=bool(self.flags & zs.FLAG_UTF8))
        self.subject = self.name or raw_name.decode("utf-8", "backslashreplace")
        self.is_dir = raw_name.endswith(b"/")
        self.failed = False
        self.member: MemberInfo | None = None


@final
class Report:
    """The reasons collected so far."""

    __slots__ = ("reasons",)

    def __init__(self) -> None:
        self.reasons: list[Reason] = []

    def add(self, code: ReasonCode, message: str, subject: str | None = None) -> None:
        """Record a reason about the archive (or, with *subject*, about a member)."""
        self.reasons.append(Reason(code=code, message=message, subject=subject))

    def fail(self, entry: Entry, code: ReasonCode, message: str) -> None:
        """Record a reason against *entry*, which is then left out of the members."""
        entry.failed = True
        self.add(code, f"{entry.subject!a} {message}", entry.subject)

    def check_extra(self, entry: Entry, extra: bytes | memoryview, where: str) -> None:
        """Check the records of an extra field of *entry* (found in its *where*)."""
        ids = zs.extra_field_ids(extra)
        if ids is None:
            self.fail(entry, ReasonCode.ZIP_UNREADABLE, f"has a malformed extra field in its {where}")
            return
        for header_id in ids:
            bad = _BAD_EXTRA.get(header_id)
            if bad is not None:
                self.fail(entry, bad[0], f"{bad[1]} in its {where}")


def read_central_directory(src: zs.Source, limits: ZipLimits, report: Report) -> tuple[list[Entry], int] | None:
    """Locate and parse the central directory.

    Args:
        src: the archive (untrusted).
        limits: the limits to enforce.
        report: collects the reasons.

    Returns:
        The entries in central directory order and the central directory's offset, or ``None``
        when the archive's structure cannot be trusted at all (a reason says why).
    """
    located = _locate(src, limits, report)
    if located is None:
        return None
    cd_offset, cd_size, count = located
    cd = bytes(src.read(cd_offset, cd_size))
    entries: list[Entry] = []
    pos = 0
    for index in range(count):
        fields = zs.CENTRAL.unpack_from(cd, pos) if pos + zs.CENTRAL.size <= cd_size else (0,)
        if fields[0] != zs.CENTRAL_SIG:
            report.add(ReasonCode.ZIP_UNREADABLE, f"central directory entry {index} is malformed")
            return None
        name_at = pos + zs.CENTRAL.size
        extra_at = name_at + fields[10]
        pos = extra_at + fields[11] + fields[12]
        if pos > cd_size:
            report.add(ReasonCode.ZIP_UNREADABLE, f"central directory entry {index} is truncated")
            return None
        entry = Entry(index, fields, cd[name_at:extra_at])
        if fields[13]:
            report.fail(entry, ReasonCode.ZIP_UNSUPPORTED, "starts on another disk")
        report.check_extra(entry, cd[extra_at : extra_at + fields[11]], "central header")
        entries.append(entry)
    if pos != cd_size:
        report.add(ReasonCode.ZIP_EXTRA_DATA, f"{cd_size - pos} bytes after the last central entry")
    return entries, cd_offset


def _locate(src: zs.Source, limits: ZipLimits, report: Report) -> tuple[int, int, int] | None:
    size = src.size
    if size < zs.EOCD.size:
        report.add(ReasonCode.ZIP_UNREADABLE, f"{size} bytes is too short for a zip archive")
        return None
    tail_start = max(0, size - zs.MAX_EOCD_SEARCH)
    tail = bytes(src.read(tail_start, size - tail_start))
    pos = tail.rfind(zs.EOCD_MAGIC, 0, len(tail) - zs.EOCD.size + 4)
    if pos < 0:
        report.add(ReasonCode.ZIP_UNREADABLE, "no end-of-central-directory record")
        return None
    _, disk, cd_disk, on_disk, count, cd_size, cd_offset, comment = zs.EOCD.unpack_from(tail, pos)
    eocd_at = tail_start + pos
    end = eocd_at + zs.EOCD.size + comment
    if end < size:
        report.add(ReasonCode.ZIP_EXTRA_DATA, f"{size - end} bytes after the end of the archive")
    elif end > size:
        report.add(ReasonCode.ZIP_UNREADABLE, "the archive comment runs past the end of the file")
    earlier = tail.rfind(zs.EOCD_MAGIC, 0, pos)
    while earlier >= 0:
        if earlier + zs.EOCD.size <= len(tail):
            (length,) = zs.EOCD_COMMENT.unpack_from(tail, earlier + zs.EOCD.size - 2)
            if tail_start + earlier + zs.EOCD.size + length == size:
                report.add(ReasonCode.ZIP_UNREADABLE, "two end records fit the end of the file")
                break
        earlier = tail.rfind(zs.EOCD_MAGIC, 0, earlier)
    if (
        0xFFFF in (on_disk, count)
        or 0xFFFFFFFF in (cd_size, cd_offset)
        or tail[max(0, pos - 20) : max(0, pos - 16)] == zs.ZIP64_LOCATOR_MAGIC
    ):
        report.add(ReasonCode.ZIP_UNSUPPORTED, "zip64 archives are not supported")
        return None
    if disk or cd_disk or on_disk != count:
        report.add(ReasonCode.ZIP_UNSUPPORTED, "multi-disk archives are not supported")
        return None
    if count > limits.max_members:
        report.add(
            ReasonCode.ZIP_TOO_MANY_MEMBERS,
            f"{count} entries, more than the {limits.max_members} allowed",
        )
        return None
    if cd_size > limits.max_central_directory:
        report.add(ReasonCode.ZIP_TOO_LARGE, f"the central directory is {cd_size} bytes")
        return None
    if cd_offset + cd_size > eocd_at:
        report.add(ReasonCode.ZIP_UNREADABLE, "the central directory overlaps its end record")
        return None
    if cd_offset + cd_size < eocd_at:
        report.add(
            ReasonCode.ZIP_EXTRA_DATA,
            f"{eocd_at - cd_offset - cd_size} bytes between the declared end of the central "
            "directory and its end record (prepended data, or data hidden before the end record)",
        )
        return None
    if count * zs.CENTRAL.size > cd_size:
        report.add(ReasonCode.ZIP_UNREADABLE, f"{cd_size} bytes cannot hold {count} entries")
        return None
    return cd_offset, cd_size, count


def check_entries(entries: list[Entry], limits: ZipLimits, report: Report) -> bool:
    """Check every entry's central header, the names against each other, and the totals.

    Args:
        entries: the parsed entries.
        limits: the limits to enforce.
        report: collects the reasons.

    Returns:
        Whether the archive may be inflated at all (``False`` once the totals exceed a limit).
    """
    for entry in entries:
        _check_entry(entry, limits, report)
    _check_collisions(entries, report)
    total = sum(e.size for e in entries)
    packed = sum(e.compressed_size for e in entries)
    inflate = True
    if total > limits.max_total_size:
        inflate = False
        report.add(
            ReasonCode.ZIP_TOO_LARGE,
            f"members inflate to {total} bytes, more than the {limits.max_total_size} allowed",
        )
    if total > limits.ratio_grace and total > packed * limits.max_ratio:
        inflate = False
        report.add(
            ReasonCode.ZIP_COMPRESSION_RATIO,
            f"the archive inflates {packed} bytes to {total}, beyond {limits.max_ratio}:1",
        )
    return inflate


def _check_entry(entry: Entry, limits: ZipLimits, report: Report) -> None:
    fail = report.fail
    if entry.name is None:
        fail(entry, ReasonCode.ZIP_UNSAFE_PATH, "is not UTF-8, or not ASCII without the UTF-8 flag")
    elif len(entry.raw_name) > limits.max_name_length:
        fail(entry, ReasonCode.ZIP_UNSAFE_PATH, f"is longer than {limits.max_name_length} bytes")
    else:
        problem = name_problem(entry.name, is_dir=entry.is_dir)
        if problem is not None:
            fail(entry, ReasonCode.ZIP_UNSAFE_PATH, f"is not a safe relative path: {problem}")
    if entry.flags & zs.FLAGS_ENCRYPTION:
        fail(entry, ReasonCode.ZIP_ENCRYPTED, "is encrypted")
    if entry.flags & ~zs.FLAGS_KNOWN:
        fail(entry, ReasonCode.ZIP_UNSUPPORTED, f"has unknown flag bits {entry.flags:#06x}")
    if entry.needed > zs.MAX_VERSION_NEEDED:
        fail(entry, ReasonCode.ZIP_UNSUPPORTED, f"needs zip version {entry.needed / 10:.1f}")
    if entry.method not in (0, 8):
        fail(entry, ReasonCode.ZIP_UNSUPPORTED, f"uses compression method {entry.method}")
    _check_file_type(entry, report)
    if entry.method == 0 and entry.compressed_size != entry.size:
        fail(entry, ReasonCode.ZIP_HEADER_MISMATCH, "is stored but its two sizes differ")
    if entry.is_dir and entry.size:
        fail(entry, ReasonCode.ZIP_EXTRA_DATA, "is a directory entry that carries data")
    if entry.size > limits.max_member_size:
        fail(
            entry,
            ReasonCode.ZIP_MEMBER_TOO_LARGE,
            f"is {entry.size} bytes, more than the {limits.max_member_size} allowed",
        )
    if entry.size > limits.ratio_grace and entry.size > entry.compressed_size * limits.max_ratio:
        fail(
            entry,
            ReasonCode.ZIP_COMPRESSION_RATIO,
            f"inflates {entry.compressed_size} bytes to {entry.size}, beyond {limits.max_ratio}:1",
        )


def _check_file_type(entry: Entry, report: Report) -> None:
    mode = entry.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        report.fail(entry, ReasonCode.ZIP_SYMLINK, "is a symbolic link")
    elif kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        report.fail(entry, ReasonCode.ZIP_UNSUPPORTED, f"is a special file (mode {mode:#o})")
    else:
        says_dir = kind == stat.S_IFDIR or bool(entry.external_attr & _DOS_DIRECTORY)
        if (says_dir and not entry.is_dir) or (kind == stat.S_IFREG and entry.is_dir):
            report.fail(entry, ReasonCode.ZIP_HEADER_MISMATCH, "has a type that contradicts its name")


def _check_collisions(entries: list[Entry], report: Report) -> None:
    seen: dict[str, Entry] = {}
    parents: set[str] = set()
    files: list[tuple[str, Entry]] = []
    for entry in entries:
        if entry.name is None:
            continue
        key = collision_key(entry.name[:-1] if entry.is_dir else entry.name)
        first = seen.setdefault(key, entry)
        if first is not entry:
            report.fail(entry, ReasonCode.ZIP_DUPLICATE_NAME, f"collides with {first.subject!a}")
            continue
        cut = key.rfind("/")
        while cut > 0:
            parents.add(key[:cut])
            cut = key.rfind("/", 0, cut)
        if not entry.is_dir:
            files.append((key, entry))
    for key, entry in files:
        if key in parents:
            report.fail(entry, ReasonCode.ZIP_DUPLICATE_NAME, "is both a file and a directory")
