"""Zip records parsed by hand, and positional byte sources to read them from.

Only the classic (non-zip64) format is understood. Every field is read with :mod:`struct` from the
bytes at a known offset; nothing here scans for signatures except the end-of-central-directory
search. See :mod:`securehost._wheel.zipsafe` for the checks built on these records.
"""

from __future__ import annotations

import abc
import os
import struct
import zlib
from typing import TYPE_CHECKING, Final, final

from securehost.exceptions import WheelFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = [
    "CENTRAL",
    "DESCRIPTOR",
    "EOCD",
    "LOCAL",
    "BytesSource",
    "FileSource",
    "Inflater",
    "Source",
    "extra_field_ids",
    "open_source",
]

LOCAL_SIG: Final = 0x04034B50
CENTRAL_SIG: Final = 0x02014B50
EOCD_SIG: Final = 0x06054B50
ZIP64_LOCATOR_SIG: Final = 0x07064B50
DESCRIPTOR_SIG: Final = 0x08074B50
EOCD_MAGIC: Final = b"PK\x05\x06"
DESCRIPTOR_MAGIC: Final = b"PK\x07\x08"
ZIP64_LOCATOR_MAGIC: Final = b"PK\x06\x07"

#: signature, disk, CD disk, entries on disk, entries, CD size, CD offset, comment length
EOCD: Final = struct.Struct("<I4H2IH")
#: signature, made by, needed, flags, method, time, date, crc, csize, usize, name len, extra len,
# comment len,
#: disk, internal attributes, external attributes, local header offset
CENTRAL: Final = struct.Struct("<I6H3I5H2I")
#: signature, needed, flags, method, time, date, crc, csize, usize, name len, extra len
LOCAL: Final = struct.Struct("<I5H3I2H")
#: crc, csize, usize (after an optional signature)
DESCRIPTOR: Final = struct.Struct("<3I")
#: the comment length, last field of the EOCD
EOCD_COMMENT: Final = struct.Struct("<H")
#: the highest "version needed to extract" (6.3) of the specification this reader follows
MAX_VERSION_NEEDED: Final = 63
MAX_EOCD_SEARCH: Final = EOCD.size + 0xFFFF

FLAG_ENCRYPTED: Final = 0x0001
FLAG_DESCRIPTOR: Final = 0x0008
FLAG_STRONG_ENCRYPTION: Final = 0x0040
FLAG_UTF8: Final = 0x0800
FLAG_MASKED_HEADERS: Final = 0x2000
#: bits that encrypt data or headers
FLAGS_ENCRYPTION: Final = FLAG_ENCRYPTED | FLAG_STRONG_ENCRYPTION | FLAG_MASKED_HEADERS
#: bits a reader may ignore or that this reader handles: deflate options (1, 2), descriptor, UTF-8
FLAGS_KNOWN: Final = FLAGS_ENCRYPTION | 0x0002 | 0x0004 | FLAG_DESCRIPTOR | FLAG_UTF8

EXTRA_ZIP64: Final = 0x0001
EXTRA_STRONG_ENCRYPTION: Final = 0x0017
EXTRA_UNICODE_PATH: Final = 0x7075
EXTRA_AES: Final = 0x9901

#: largest piece read from a file, and largest piece of inflated output
CHUNK: Final = 1 << 20
_HAS_PREADV: Final = hasattr(os, "preadv")
#: compressed bytes per inflate call: bounds the copy zlib makes of its unconsumed input
FEED: Final = 256 * 1024
#: archives up to this size are read with one call and scanned from memory: a small wheel's dozens of
#: positional reads cost more than the read itself, and the scan then sees one snapshot of the file
WHOLE_READ: Final = 1 << 20


def extra_field_ids(extra: bytes | memoryview) -> list[int] | None:
    """Return the header ids of an extra field, or ``None`` when its records do not tile it exactly.

    Args:
        extra: the extra field bytes (untrusted).

    Returns:
        The ids in order, or ``None`` when the field is malformed.
    """
    ids: list[int] = []
    pos, end = 0, len(extra)
    while pos < end:
        if pos + 4 > end:
            return None
        header_id, length = struct.unpack_from("<HH", extra, pos)
        pos += 4 + length
        if pos > end:
            return None
        ids.append(header_id)
    return ids


class Source(abc.ABC):
    """A positional, read-only byte source of known size (abstract: :class:`BytesSource`, :class:`FileSource`).

    Attributes:
        size: the number of bytes.
        concurrent: whether several threads may call :meth:`chunks` at once.
    """

    size: int
    concurrent: bool = True

    @abc.abstractmethod
    def read(self, offset: int, length: int) -> bytes | memoryview:
        """Return up to *length* bytes at *offset* (fewer only at the end of the source).

        Raises:
            WheelFormatError: the underlying file could not be read.
        """

    @abc.abstractmethod
    def chunks(self, offset: int, length: int) -> Iterator[bytes | memoryview]:
        """Yield the *length* bytes at *offset* in pieces, each valid until the next is requested.

        Raises:
            WheelFormatError: the underlying file could not be read or ended early.
        """

    def close(self) -> None:  # noqa: B027 - optional hook: in-memory sources hold nothing to release
        """Release the underlying resources (nothing, unless a subclass holds some)."""


@final
class BytesSource(Source):
    """A source over bytes held in memory; pieces are zero-copy views."""

    def __init__(self, data: bytes) -> None:
        self._view = memoryview(data)
        self.size = len(data)

    def read(self, offset: int, length: int) -> memoryview:
        return self._view[offset : offset + length]

    def chunks(self, offset: int, length: int) -> Iterator[memoryview]:
        end = min(offset + length, self.size)
        # hashlib and zlib release the GIL and need no copy: hand over big slices.
        step = CHUNK * 8
        for start in range(offset, end, step):
            yield self._view[start : min(start + step, end)]

    def close(self) -> None:
        self._view.release()


@final
class FileSource(Source):
    """A source over an open file, read with positional reads.

    Where the platform has ``os.pread``, pieces are read without moving a shared file offset, so
    several threads may read at once (:attr:`concurrent`); elsewhere reads are serialised.
    """

    def __init__(self, path: os.PathLike[str] | str) -> None:
        try:
            self._file = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise WheelFormatError(f"cannot open {os.fspath(path)!r}: {exc.strerror}") from exc
        self._fd = self._file.fileno()
        try:
            self.size = os.fstat(self._fd).st_size
        except OSError as exc:  # pragma: no cover - fstat on an open file does not fail
            self._file.close()
            raise WheelFormatError(f"cannot stat {os.fspath(path)!r}: {exc.strerror}") from exc
        self.concurrent = hasattr(os, "pread")

    def _pread(self, buffer: memoryview, offset: int) -> int:
        if _HAS_PREADV:
            return os.preadv(self._fd, [buffer], offset)
        if self.concurrent:  # pragma: no cover - platforms with pread but not preadv
            data = os.pread(self._fd, len(buffer), offset)
        else:  # pragma: no cover - Windows
            self._file.seek(offset)
            data = self._file.read(len(buffer)) or b""
        buffer[: len(data)] = data
        return len(data)

    def read(self, offset: int, length: int) -> bytes:
        buffer = bytearray(max(0, min(length, self.size - offset)))
        view = memoryview(buffer)
        done = 0
        try:
            while done < len(buffer):
                n = self._pread(view[done:], offset + done)
                if n <= 0:
                    break
                done += n
        except OSError as exc:
            raise WheelFormatError(f"cannot read the archive: {exc.strerror}") from exc
        finally:
            view.release()
        if done < len(buffer):
            raise WheelFormatError("the archive ended early (did it change while read?)")
        return bytes(buffer)

    def chunks(self, offset: int, length: int) -> Iterator[memoryview]:
        view = memoryview(bytearray(min(length, CHUNK)))
        try:
            while length > 0:
                n = self._pread(view[: min(length, CHUNK)], offset)
                if n <= 0:
                    raise WheelFormatError("the archive ended early (did it change while read?)")
                offset += n
                length -= n
                yield view[:n]
        except OSError as exc:
            raise WheelFormatError(f"cannot read the archive: {exc.strerror}") from exc

    def close(self) -> None:
        self._file.close()


@final
class Inflater:
    """A raw-deflate decoder that never produces more than ``limit + 1`` bytes, a chunk at a time.

    Attributes:
        limit: the most bytes the stream may inflate to; one more byte shows a lie, then it stops.
        produced: bytes produced so far.
        leftover: compressed bytes after the end of the deflate stream (set when the stream ends).
    """

    __slots__ = ("_inflater", "leftover", "limit", "produced")

    def __init__(self, limit: int) -> None:
        self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        self.limit = limit
        self.produced = 0
        self.leftover = 0

    @property
    def eof(self) -> bool:
        """Whether the end of the deflate stream was reached."""
        return self._inflater.eof

    def pieces(self, chunks: Iterable[bytes | memoryview], total: int) -> Iterator[bytes]:
        """Yield the uncompressed pieces of the *total* compressed bytes in *chunks*.

        Stops at the end of the stream, or as soon as more than :attr:`limit` bytes were produced.

        Raises:
            zlib.error: the deflate data is corrupt.
        """
        inflater = self._inflater
        limit = self.limit
        fed = 0
        for chunk in chunks:
            for start in range(0, len(chunk), FEED):
                data: bytes | memoryview = chunk[start : start + FEED]
                fed += len(data)
                while True:
                    room = min(CHUNK, limit + 1 - self.produced)
                    out = inflater.decompress(data, room)
                    if out:
                        self.produced += len(out)
                        yield out
                    if self.produced > limit or inflater.eof:
                        tail = len(inflater.unused_data) + len(inflater.unconsumed_tail)
                        self.leftover = total - fed + tail
                        return
                    data = inflater.unconsumed_tail
                    if not data and len(out) < room:
                        break


def open_source(path: os.PathLike[str] | str) -> Source:
    """A source over the file at *path*: its bytes, read at once, up to :data:`WHOLE_READ` bytes; else positional reads.

    Raises:
        WheelFormatError: the file cannot be opened or read, or it ended early.
    """
    source = FileSource(path)
    if source.size > WHOLE_READ:
        return source
    try:
        data = source.read(0, source.size)
    finally:
        source.close()
    return BytesSource(data)
