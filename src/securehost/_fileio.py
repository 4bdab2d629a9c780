"""Reading small untrusted files safely and cheaply; replacing a file atomically.

``read_file`` opens with ``O_NOFOLLOW | O_NONBLOCK`` (a final symlink fails, a FIFO cannot block), checks with
``fstat`` that it is a regular file within the size limit, and reads it with one ``os.read`` of the known size.
(``BufferedReader.read(limit)`` allocates ``limit`` bytes up front: with a 256 MiB limit that alone cost 150 us per
call.) ``write_atomic`` writes a temporary file next to the target and renames it over the target, so readers see
the old content or the new, never a part. ``SealedFile`` is a state file of the host's authenticated with a MAC
(the signature memo, the installed-file record, the trust-store memo): a header (format and context), the MAC, the
payload. ``SealedState`` is what they all do with theirs: read it on first use, start empty (and say so) when it is
broken, write it back when it changed.
"""

from __future__ import annotations

import abc
import contextlib
import os
import stat
import threading
from typing import TYPE_CHECKING, Any, Final, Protocol, final

from securehost._digests import MAC_SIZE, compare_digest, mac

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "OPEN_FLAGS",
    "SealBrokenError",
    "SealedFile",
    "SealedState",
    "describe_os_error",
    "read_file",
    "read_file_stat",
    "write_atomic",
]

OPEN_FLAGS: Final = (
    os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
)


def read_file(path: str, limit: int) -> bytes:
    """Read a whole regular file without following a final symlink or blocking on a FIFO.

    Raises:
        OSError: it cannot be opened, is not a regular file, or is (or grows) larger than *limit*.
    """
    return read_file_stat(path, limit)[0]


def read_file_stat(path: str, limit: int) -> tuple[bytes, os.stat_result]:
    """:func:`read_file`, and the ``fstat`` of the file it read.

    Raises:
        OSError: it cannot be opened, is not a regular file, or is (or grows) larger than *limit*.
    """
    fd = os.open(path, OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > limit:
            raise OSError(f"{path} is not a regular file of at most {limit} bytes")
        chunks = [os.read(fd, st.st_size + 1)]
        total = len(chunks[0])
        while chunks[-1]:
            if total > limit:
                raise OSError(f"{path} grew beyond {limit} bytes")
            chunks.append(os.read(fd, 1 << 16))
            total += len(chunks[-1])
        return b"".join(chunks), st
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes, *, prefix: str = ".tmp-", durable: bool = False) -> None:
    """Replace *path* with *data* atomically (a temporary file in the same directory, then a rename).

    Args:
        path: the target file.
        data: its new content.
        prefix: the temporary file's name prefix.
        durable: ``fsync`` the data before the rename (state that must survive a crash).

    Raises:
        OSError: the file cannot be written; no temporary file is left behind.
    """
    import tempfile  # noqa: PLC0415 - a warm start-up that changes nothing writes nothing

    directory = os.path.dirname(os.fspath(path)) or os.curdir
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def describe_os_error(exc: OSError) -> str:
    """The error without the path (the caller names the file): ``[Errno 28] No space left on device``."""
    if exc.errno is not None and exc.strerror:
        return f"[Errno {exc.errno}] {exc.strerror}"
    return str(exc) or type(exc).__name__


class SealBrokenError(Exception):
    """A sealed file of this format and context whose MAC is wrong: not written with the key (forged or damaged)."""


@final
class SealedFile:
    """A host state file authenticated with a keyed BLAKE2b MAC (:func:`securehost._digests.mac`).

    The file is a header, the MAC, the payload. The header is *magic* (the format) and *context* (what the payload
    was made under: a securehost version, say), with the context's length; the MAC covers the header and the
    payload. A file whose header is not this one's is of another format or another securehost, and is read as no
    file: dropping a state file only makes the host check more, and anyone who could write one could delete it. A
    file with this header and a wrong MAC is broken: :meth:`read` raises, and the caller says so.

    Args:
        path: where the file lives.
        key: the MAC key (derived from the host's state key; at most 64 bytes).
        magic: the file's first bytes (format and version).
        context: what the payload depends on besides its format (at most 65,535 bytes).
        limit: the largest file read.

    Raises:
        OverflowError: *context* is longer than 65,535 bytes.
    """

    def __init__(
        self, path: str | os.PathLike[str], key: bytes, magic: bytes, *, context: bytes = b"", limit: int
    ) -> None:
        self.path = os.fspath(path)
        self._key = key
        self._header = magic + len(context).to_bytes(2, "big") + context
        self._limit = limit

    def read(self) -> bytes | None:
        """Return the payload, or ``None`` when there is no readable file of this format and context.

        That is: missing, a symlink, too large, or with another header.

        Raises:
            SealBrokenError: the file has this header but its MAC is wrong.
        """
        try:
            blob = read_file(self.path, self._limit)
        except OSError:
            return None
        head = len(self._header)
        if not blob.startswith(self._header):
            return None
        payload = blob[head + MAC_SIZE :]
        if not compare_digest(blob[head : head + MAC_SIZE], mac(self._key, self._header, payload)):
            raise SealBrokenError(self.path)
        return payload

    def load(self, on_broken: Callable[[], object]) -> bytes | None:
        """Return the payload as :meth:`read` does, but call *on_broken* and return ``None`` for a broken seal.

        What every state file does with a forged or damaged seal: start empty, rewrite it at the next save, say so.
        """
        try:
            return self.read()
        except SealBrokenError:
            on_broken()
            return None

    def write(self, payload: bytes, *, prefix: str) -> None:
        """Replace the file atomically with *payload*, sealed.

        Raises:
            OSError: the file cannot be written (the old one, if any, is left as it was).
        """
        write_atomic(self.path, self._header + mac(self._key, self._header, payload) + payload, prefix=prefix)


class _Audit(Protocol):
    def emit(self, event: str, *, plugin: str | None = None, **data: Any) -> object: ...


class SealedState(abc.ABC):
    """A :class:`SealedFile` held in memory: read on first use, written back when it changed.

    What every such state file does: a missing or unreadable file starts the state empty, and so does one of another
    format or securehost version (another header); so does a broken seal, which is audited (*tampered_event*) and
    rewritten at the next save; so does an authenticated payload that does not decode, which is rewritten too. A
    subclass decodes and encodes its payload, and touches its entries only while it holds ``_lock``, after
    :meth:`_ensure_loaded`.

    Args:
        sealed: the file.
        audit: where the *tampered_event* goes.
        tampered_event: the audit event of a broken seal (with the file's ``path``).
        prefix: the name prefix of the temporary file a save writes.
    """

    __slots__ = ("_audit", "_dirty", "_event", "_loaded", "_lock", "_prefix", "_sealed")

    def __init__(self, sealed: SealedFile, audit: _Audit | None, *, tampered_event: str, prefix: str) -> None:
        self._sealed = sealed
        self._audit = audit
        self._event = tampered_event
        self._prefix = prefix
        self._loaded = False
        self._dirty = False
        self._lock = threading.Lock()

    @abc.abstractmethod
    def _decode(self, payload: bytes) -> None:
        """Take the entries from an authenticated *payload*.

        Raises:
            ValueError: (or ``TypeError``, ``EOFError``, ``IndexError``, ``KeyError``) it does not decode.
        """

    @abc.abstractmethod
    def _encode(self) -> bytes:
        """Return the payload that holds the entries."""

    @abc.abstractmethod
    def _clear(self) -> None:
        """Drop every entry."""

    def _tampered(self) -> None:
        self._dirty = True  # rewrite it at the next save
        if self._audit is not None:
            self._audit.emit(self._event, path=self._sealed.path)

    def _ensure_loaded(self) -> None:
        """Read the file if this is the first use (the caller holds ``_lock``)."""
        if self._loaded:
            return
        self._loaded = True
        payload = self._sealed.load(self._tampered)
        if payload is None:
            return  # none yet (or unreadable, a symlink, another header, or a broken seal): start empty
        try:
            self._decode(payload)
        except (ValueError, TypeError, EOFError, IndexError, KeyError):  # authenticated: another format
            self._clear()
            self._dirty = True

    @property
    def path(self) -> str:
        """The file's path."""
        return self._sealed.path

    def save(self) -> str | None:
        """Write the file atomically if the state changed.

        A failure does not raise: the state stays in memory, marked changed (the next save tries again), and the
        next start-up does more work. The caller says so.

        Returns:
            ``None`` when the file was written or nothing changed; else why it could not be written (the error).
        """
        with self._lock:
            if not self._dirty:
                return None
            try:
                self._sealed.write(self._encode(), prefix=self._prefix)
            except OSError as exc:
                return describe_os_error(exc)
            self._dirty = False
            return None
