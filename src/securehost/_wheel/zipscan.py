"""The verifying pass over local headers and data; :mod:`securehost._wheel.zipsafe` has the decisions."""

from __future__ import annotations

import hashlib
import os
import zlib
from typing import TYPE_CHECKING, Final, final

from securehost._verdict import ReasonCode
from securehost._wheel import zipstruct as zs
from securehost._wheel.zipcentral import MemberInfo, Report, check_entries, read_central_directory

if TYPE_CHECKING:
    from collections.abc import Callable

    from securehost._verdict import Reason
    from securehost._wheel.zipcentral import Entry, ZipLimits

__all__ = ["MemberInfo", "Scanner"]

#: with automatic threading, archives with less compressed data than this are hashed in one thread
_THREADING_THRESHOLD: Final = 2 << 20
_MAX_THREADS: Final = 4


@final
class Scanner:
    """One verifying pass over an archive.

    Attributes:
        reasons: every reason found.
        members: the verified file members, in central directory order.
        captured: the content of the captured members, by name.
    """

    def __init__(
        self,
        src: zs.Source,
        *,
        limits: ZipLimits,
        capture: Callable[[str], bool],
        threads: int | None = None,
    ) -> None:
        self._src = src
        self._limits = limits
        self._capture = capture
        self._threads = threads
        self._report = Report()
        self._inflate = True
        self._jobs: list[tuple[Entry, int, bool]] = []
        self.members: list[MemberInfo] = []
        self.captured: dict[str, bytes] = {}

    @property
    def reasons(self) -> list[Reason]:
        """Every reason found, in the order found."""
        return self._report.reasons

    def run(self) -> None:
        """Run the pass; fills :attr:`reasons`, :attr:`members` and :attr:`captured`."""
        if self._src.size > self._limits.max_archive_size:
            self._report.add(
                ReasonCode.ZIP_TOO_LARGE,
                f"the archive is {self._src.size} bytes, more than the {self._limits.max_archive_size} allowed",
            )
            return
        parsed = read_central_directory(self._src, self._limits, self._report)
        if parsed is None:
            return
        entries, cd_offset = parsed
        self._inflate = check_entries(entries, self._limits, self._report)
        self._walk(entries, cd_offset)
        self._hash_all()
        self.members = [e.member for e in entries if e.member is not None and not e.failed]

    def _walk(self, entries: list[Entry], cd_offset: int) -> None:
        """Visit the entries in offset order; they must tile the bytes before the directory."""
        report = self._report
        pos: int | None = 0  # where the previous entry ended; None when it is unknown
        for entry in sorted(entries, key=lambda e: (e.offset, e.index)):
            if entry.offset + zs.LOCAL.size > cd_offset:
                report.fail(entry, ReasonCode.ZIP_OVERLAPPING_ENTRIES, "points past the entries")
                continue
            if pos is not None and entry.offset < pos:
                report.fail(entry, ReasonCode.ZIP_OVERLAPPING_ENTRIES, "overlaps the entry before")
                continue
            if pos is not None and entry.offset > pos:
                where = "before the first local header" if pos == 0 else "before this entry"
                report.add(
                    ReasonCode.ZIP_EXTRA_DATA,
                    f"{entry.offset - pos} unaccounted bytes {where}",
                    entry.subject,
                )
            pos = self._local_entry(entry, cd_offset)
        if pos is not None and pos < cd_offset:
            report.add(
                ReasonCode.ZIP_EXTRA_DATA,
                f"{cd_offset - pos} unaccounted bytes before the central directory",
            )

    def _local_entry(self, entry: Entry, cd_offset: int) -> int | None:
        """Check a local header and stream its data; return the entry's end (None: unknown)."""
        report = self._report
        head = bytes(self._src.read(entry.offset, zs.LOCAL.size))
        sig, needed, flags, method, _, _, crc, csize, usize, name_len, extra_len = zs.LOCAL.unpack(head)
        if sig != zs.LOCAL_SIG:
            report.fail(entry, ReasonCode.ZIP_UNREADABLE, f"has no local header at {entry.offset}")
            return None
        data_at: int = entry.offset + zs.LOCAL.size + name_len + extra_len
        data_end = data_at + entry.compressed_size
        if data_end > cd_offset:
            report.fail(entry, ReasonCode.ZIP_OVERLAPPING_ENTRIES, "runs into the central directory")
            return None
        variable = bytes(self._src.read(entry.offset + zs.LOCAL.size, name_len + extra_len))
        report.check_extra(entry, variable[name_len:], "local header")
        if needed & 0xFF > zs.MAX_VERSION_NEEDED:
            report.fail(entry, ReasonCode.ZIP_UNSUPPORTED, "needs a newer zip version locally")
        wrong = []
        if variable[:name_len] != entry.raw_name:
            wrong.append("name")
        if flags != entry.flags:
            wrong.append("flags")
        if method != entry.method:
            wrong.append("compression method")
        # with a data descriptor the local values may be zero: the descriptor carries them
        deferred = bool(entry.flags & zs.FLAG_DESCRIPTOR)
        for label, local, central in (
            ("CRC", crc, entry.crc),
            ("compressed size", csize, entry.compressed_size),
            ("size", usize, entry.size),
        ):
            if local != central and not (deferred and local == 0):
                wrong.append(label)
        if wrong:
            report.fail(
                entry,
                ReasonCode.ZIP_HEADER_MISMATCH,
                f"has a local header that disagrees with the central one on {', '.join(wrong)}",
            )
        if self._inflate and not entry.failed:
            assert entry.name is not None  # entries with undecodable names have failed
            keep = not entry.is_dir and entry.size <= self._limits.capture_size and self._capture(entry.name)
            self._jobs.append((entry, data_at, keep))
        if deferred:
            return data_end + self._descriptor(entry, data_end, cd_offset)
        return data_end

    def _descriptor(self, entry: Entry, at: int, limit: int) -> int:
        """Check the data descriptor at *at* and return its length."""
        raw = bytes(self._src.read(at, min(16, limit - at)))
        expected = (entry.crc, entry.compressed_size, entry.size)
        signed = raw[:4] == zs.DESCRIPTOR_MAGIC
        if signed and len(raw) == 16 and zs.DESCRIPTOR.unpack_from(raw, 4) == expected:
            return 16
        if len(raw) >= 12 and zs.DESCRIPTOR.unpack_from(raw) == expected:
            return 12
        self._report.fail(entry, ReasonCode.ZIP_HEADER_MISMATCH, "has a data descriptor that is missing or wrong")
        return 16 if signed else 12

    def _hash_all(self) -> None:
        """Hash every queued member, in a few threads when it pays, and record the outcomes."""
        jobs = self._jobs
        threads = self._threads
        if threads is None:
            packed = sum(job[0].compressed_size for job in jobs)
            threads = min(_MAX_THREADS, os.cpu_count() or 1) if packed >= _THREADING_THRESHOLD else 1
        if threads > 1 and len(jobs) > 1 and self._src.concurrent:
            # one batch per thread, balanced by size (largest first into the lightest batch)
            batches: list[list[int]] = [[] for _ in range(min(threads, len(jobs)))]
            loads = [0] * len(batches)
            for i in sorted(range(len(jobs)), key=lambda i: -jobs[i][0].compressed_size):
                lightest = loads.index(min(loads))
                batches[lightest].append(i)
                loads[lightest] += jobs[i][0].compressed_size + zs.LOCAL.size
            outcomes: list[_Outcome | None] = [None] * len(jobs)

            def work(batch: list[int]) -> None:
                for i in batch:
                    outcomes[i] = self._hash(*jobs[i])

            from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415 - large wheels only (about 5 ms of import)

            with ThreadPoolExecutor(max_workers=len(batches)) as pool:
                for future in [pool.submit(work, batch) for batch in batches]:
                    future.result()
        else:
            outcomes = [self._hash(*job) for job in jobs]
        for (entry, _, _), outcome in zip(jobs, outcomes, strict=True):
            assert outcome is not None  # every batch ran to completion
            self._apply(entry, outcome)

    def _apply(self, entry: Entry, outcome: _Outcome) -> None:
        for code, message in outcome.failures:
            self._report.fail(entry, code, message)
        if entry.failed or entry.is_dir or entry.name is None:
            return
        entry.member = MemberInfo(
            name=entry.name,
            sha256=outcome.sha256,
            size=entry.size,
            compressed_size=entry.compressed_size,
            method=entry.method,
            crc32=entry.crc,
            offset=entry.offset,
        )
        if outcome.content is not None:
            self.captured[entry.name] = outcome.content

    def _hash(self, entry: Entry, data_at: int, keep: bool) -> _Outcome:
        """Inflate, hash and CRC one member, never inflating past its declared size + 1.

        Runs in worker threads: it only reads the source and returns what it found.
        """
        failures: list[tuple[ReasonCode, str]] = []
        sha = hashlib.sha256()
        crc = 0
        parts: list[bytes] = []
        chunks = self._src.chunks(data_at, entry.compressed_size)
        if entry.method == 0:
            for piece in chunks:
                sha.update(piece)
                crc = zlib.crc32(piece, crc)
                if keep:
                    parts.append(bytes(piece))
            produced = entry.compressed_size
        else:
            inflater = zs.Inflater(entry.size)
            try:
                for out in inflater.pieces(chunks, entry.compressed_size):
                    sha.update(out)
                    crc = zlib.crc32(out, crc)
                    if keep:
                        parts.append(out)
            except zlib.error:
                return _Outcome([(ReasonCode.ZIP_UNREADABLE, "has corrupt deflate data")])
            produced = inflater.produced
            if produced > entry.size:
                return _Outcome([(ReasonCode.ZIP_HEADER_MISMATCH, f"inflates past {entry.size} bytes")])
            if not inflater.eof:
                return _Outcome([(ReasonCode.ZIP_UNREADABLE, "has a truncated deflate stream")])
            if inflater.leftover:
                failures.append((ReasonCode.ZIP_EXTRA_DATA, f"hides {inflater.leftover} bytes after its data"))
        if produced != entry.size:
            failures.append((ReasonCode.ZIP_HEADER_MISMATCH, f"inflates to {produced}, not {entry.size}"))
        if crc != entry.crc:
            failures.append((ReasonCode.ZIP_CRC_MISMATCH, "does not match its CRC-32"))
        return _Outcome(failures, sha.hexdigest(), b"".join(parts) if keep else None)


@final
class _Outcome:
    """What hashing one member found."""

    __slots__ = ("content", "failures", "sha256")

    def __init__(
        self,
        failures: list[tuple[ReasonCode, str]],
        sha256: str = "",
        content: bytes | None = None,
    ) -> None:
        self.failures = failures
        self.sha256 = sha256
        self.content = content
