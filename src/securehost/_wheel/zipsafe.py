r"""Hardened zip (wheel) reading: one streaming pass that verifies and hashes every member.

:func:`read_archive` never trusts :mod:`zipfile`. It parses the end-of-central-directory record, the
central directory and every local header by hand, cross-checks them, and inflates each member once
while hashing it, with every size limit enforced *during* decompression. It returns an
:class:`ArchiveScan`: the verified members with their SHA-256 and size, and every
:class:`~securehost.Reason` found (it never raises for bad bytes).

Decisions (each a rejection with a reason, never a repair):

* **Layout.** The archive is exactly ``local entries | central directory | EOCD [| comment]``: the
  first local header at offset 0 (no prepended data, no polyglot), entries back to back in offset
  order, the central directory right after the last entry and right before the EOCD, nothing after
  the comment. A gap is ``ZIP_EXTRA_DATA``, an overlap ``ZIP_OVERLAPPING_ENTRIES``; overlapping
  entries are never inflated, so the overlap zip bomb stops at once.
* **EOCD.** The last ``PK\x05\x06`` in the final 64 KiB must be the record whose comment ends
  exactly at the end of the file; a second candidate that would also fit is ambiguous
  (``ZIP_UNREADABLE``).
* **Zip64 is rejected** (``ZIP_UNSUPPORTED``): every archive within :class:`ZipLimits` fits the
  classic format, and zip64 records and extra fields are a known source of reader disagreement. So
  are multi-disk archives.
* **Entries.** Local and central headers must agree byte for byte on the name and exactly on flags,
  method, CRC and sizes. With flag bit 3 the local CRC and sizes may be zero, and the data
  descriptor after the data (with or without its signature) must then carry the central values. Only
  stored and deflated data is read; encryption (flag bits 0, 6, 13 or a strong-encryption extra
  field) is ``ZIP_ENCRYPTED``; unknown flag bits, zip64 extra fields and Info-ZIP Unicode Path extra
  fields (an alternative name that some readers prefer) are ``ZIP_UNSUPPORTED``. A Unix symlink is
  ``ZIP_SYMLINK``; other special files, and file-type bits that contradict the name, are
  ``ZIP_UNSUPPORTED``/``ZIP_HEADER_MISMATCH``. Directory entries are checked but not listed, and may
  not carry data (``ZIP_EXTRA_DATA``). Bytes after the end of a deflate stream are
  ``ZIP_EXTRA_DATA``.
* **Names**: see :mod:`securehost._wheel.zipnames`; an unsafe or undecodable name is ``ZIP_UNSAFE_PATH``,
  a collision ``ZIP_DUPLICATE_NAME``.
* **Limits** (:class:`ZipLimits`) are checked on the declared sizes before anything is inflated, and
  inflation stops one byte after the declared size, so no member ever inflates past a limit.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Final

import attrs

from securehost._models import value_model
from securehost._wheel import zipstruct as zs
from securehost._wheel.zipcentral import ZipLimits
from securehost._wheel.zipscan import MemberInfo, Scanner
from securehost.exceptions import WheelFormatError

if TYPE_CHECKING:
    from collections.abc import Callable

    from securehost._verdict import Reason

__all__ = ["ArchiveScan", "MemberInfo", "ZipLimits", "is_dist_info_file", "read_archive"]

_MiB: Final = 1 << 20
_DEFAULT_LIMITS: Final = ZipLimits()


def is_dist_info_file(name: str) -> bool:
    """Return whether *name* is a file directly inside a top-level ``*.dist-info`` directory.

    Args:
        name: a member name.

    Returns:
        ``True`` for names like ``pkg-1.0.dist-info/METADATA``.
    """
    head, sep, tail = name.partition("/")
    return bool(sep) and head.endswith(".dist-info") and "/" not in tail


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class ArchiveScan:
    """The result of :func:`read_archive`: accepted exactly when :attr:`reasons` is empty.

    Attributes:
        members: every verified file member, in central directory order. Directories are not
            listed; members that failed a check are left out (and have a reason).
        reasons: every problem found, in the order found.
        size: size of the archive in bytes.
    """

    members: tuple[MemberInfo, ...]
    reasons: tuple[Reason, ...]
    size: int
    _source: Path | bytes = attrs.field(repr=False, eq=False, alias="source")
    _captured: dict[str, bytes] = attrs.field(repr=False, eq=False, alias="captured", factory=dict)
    _by_name: dict[str, MemberInfo] = attrs.field(init=False, repr=False, eq=False)

    @_by_name.default
    def _index(self) -> dict[str, MemberInfo]:
        return {m.name: m for m in self.members}

    @property
    def ok(self) -> bool:
        """``True`` when no reason was found."""
        return not self.reasons

    @property
    def names(self) -> tuple[str, ...]:
        """The verified members' names, in central directory order."""
        return tuple(m.name for m in self.members)

    def get(self, name: str) -> MemberInfo | None:
        """Return the verified member called *name*, or ``None``."""
        return self._by_name.get(name)

    def read(self, name: str, *, max_size: int = _MiB) -> bytes:
        """Return the content of a verified member, re-checked against its recorded SHA-256.

        Small ``*.dist-info/`` files were kept during the scan; any other member is read again from
        the source, and the bytes are returned only if they still hash to the recorded digest (a
        file that changed on disk since the scan is an error, not a new answer).

        Args:
            name: the member name.
            max_size: refuse members larger than this many bytes.

        Returns:
            The member's uncompressed content.

        Raises:
            KeyError: *name* is not a verified member of this scan.
            WheelFormatError: the member is larger than *max_size*, or its bytes no longer match
                the scan.
        """
        member = self._by_name[name]
        if member.size > max_size:
            raise WheelFormatError(f"{name} is {member.size} bytes, more than the {max_size} allowed")
        data = self._captured.get(name)
        if data is None:
            return _reread(self._source, member)
        if hashlib.sha256(data).hexdigest() != member.sha256:  # pragma: no cover - defensive
            raise WheelFormatError(f"{name} changed since the archive was scanned")
        return data

    def digest(self, name: str, algorithm: str) -> str:
        """Return the hex digest of a verified member under another hash *algorithm*.

        The member is read again and its SHA-256 re-checked, so the digest is of the scanned
        content.

        Args:
            name: the member name.
            algorithm: a :mod:`hashlib` algorithm name, e.g. ``"sha512"``.

        Returns:
            The lowercase hex digest.

        Raises:
            KeyError: *name* is not a verified member of this scan.
            ValueError: *algorithm* is unknown to :mod:`hashlib`.
            WheelFormatError: the member's bytes no longer match the scan.
        """
        member = self._by_name[name]
        return _reread(self._source, member, algorithm=algorithm).decode("ascii")


def read_archive(
    source: os.PathLike[str] | str | bytes,
    *,
    limits: ZipLimits = _DEFAULT_LIMITS,
    capture: Callable[[str], bool] = is_dist_info_file,
    threads: int | None = None,
) -> ArchiveScan:
    """Verify a zip archive and hash its members in one streaming pass.

    Args:
        source: a path to the archive, or its bytes (untrusted content either way). A
            ``bytearray`` or ``memoryview`` is copied to ``bytes`` first, so that later reads see
            the scanned bytes.
        limits: the size and count limits.
        capture: members for which this returns ``True`` and that are at most
            ``limits.capture_size`` bytes are kept in memory, so that :meth:`ArchiveScan.read`
            does not read them again. By default, the files directly in a top-level
            ``*.dist-info`` directory.
        threads: how many threads hash members at once. ``None`` decides: up to 4 (and no more
            than the CPUs) for archives with at least 2 MiB of compressed data, else 1. Threads
            only read the source; the outcome does not depend on their number.

    Returns:
        The scan: the verified members and every reason found. It never raises for malformed
        content.

    Raises:
        TypeError: *source* is neither a path nor bytes.
        ValueError: *threads* is less than 1.
        WheelFormatError: the file cannot be opened or read (an I/O error, not a content problem).
    """
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    kept: Path | bytes
    src: zs.Source
    if isinstance(source, (bytes, bytearray, memoryview)):
        kept = bytes(source)
        src = zs.BytesSource(kept)
    elif isinstance(source, (str, os.PathLike)):
        kept = Path(source)
        src = zs.open_source(kept)
    else:
        raise TypeError(f"source must be a path or bytes, not {type(source).__name__}")
    try:
        scanner = Scanner(src, limits=limits, capture=capture, threads=threads)
        scanner.run()
    finally:
        src.close()
    return ArchiveScan(
        members=tuple(scanner.members),
        reasons=tuple(scanner.reasons),
        size=src.size,
        source=kept,
        captured=scanner.captured,
    )


def _reread(source: Path | bytes, member: MemberInfo, *, algorithm: str | None = None) -> bytes:
    """Read *member* again, check its SHA-256; return its bytes (or the *algorithm* hex digest)."""
    other = hashlib.new(algorithm) if algorithm else None
    changed = WheelFormatError(f"{member.name} changed since the archive was scanned")
    src: zs.Source = zs.BytesSource(source) if isinstance(source, bytes) else zs.FileSource(source)  # one member
    try:
        head = bytes(src.read(member.offset, zs.LOCAL.size))
        if len(head) != zs.LOCAL.size:
            raise changed
        fields = zs.LOCAL.unpack(head)
        name = member.name.encode()
        if (
            fields[0] != zs.LOCAL_SIG
            or fields[3] != member.method
            or bytes(src.read(member.offset + zs.LOCAL.size, fields[9])) != name
        ):
            raise changed
        start = member.offset + zs.LOCAL.size + fields[9] + fields[10]
        chunks = src.chunks(start, member.compressed_size)
        sha = hashlib.sha256()
        parts: list[bytes] = []
        inflater = zs.Inflater(member.size)
        try:
            pieces = chunks if member.method == 0 else inflater.pieces(chunks, member.compressed_size)
            for piece in pieces:
                sha.update(piece)
                if other is not None:
                    other.update(piece)
                else:
                    parts.append(bytes(piece))
        except zlib.error as exc:
            raise changed from exc
    finally:
        src.close()
    if sha.hexdigest() != member.sha256:
        raise changed
    return other.hexdigest().encode() if other is not None else b"".join(parts)
