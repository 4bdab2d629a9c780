"""What was verified on this machine, by file identity: the record that lets a warm start-up re-hash only what changed.

Re-hashing every installed file of every plugin on every start-up is the floor of a cold check. Like git's index, the
:class:`FileRecord` keeps, per installed file, the ``lstat`` identity it had when it was verified — device, inode,
size, ``st_mtime_ns``, ``st_ctime_ns`` — and what verifying it gave: the SHA-256 of a file, or, for a
``__pycache__`` file, that its code is exactly what compiling the signed source gives. A later check whose ``lstat``
gives the same identity reuses that result instead of reading the file.

What this trusts: that a file's content does not change while its ``(device, inode, size, mtime, ctime)`` stay the
same. The file's owner can set ``mtime`` back (``touch -d``, :func:`os.utime`), but every write, ``utime``, rename into
place or ``chmod`` sets ``ctime`` to the current time, and ``ctime`` cannot be set from user space: forging it takes
root (changing the system clock, ``debugfs``, writing the block device) or a file system that does not keep it (some
network and FUSE file systems). A file replaced by another (a rename over it) has another inode. Entries whose
``mtime`` or ``ctime`` is less than two seconds old when they are stored are not stored ("racily clean": a second
change within a coarse timestamp tick would be invisible). Hosts that cannot accept that trust turn the record off
(``Host(paranoid=True)``): every file is then read and hashed, and every cache file compiled and compared, each time.

The record also keeps, per installed distribution, the outcome of a clean check together with the identity of every
path that check looked at (:meth:`FileRecord.recheck`): each signed file, each directory it listed (an entry added,
removed or renamed in a directory changes the directory's ``mtime`` and ``ctime``), the site directory, the installed
``RECORD`` and the start-up hooks it vouched for. When none of them changed, the distribution's check is the same as
before, so a warm start-up ``lstat``-s about a dozen paths per plugin instead of listing, reading and parsing them.
The same trust applies (``ctime``), and the paranoid mode turns it off with the rest of the record. The host keeps
each plugin's parsed statement the same way, under its envelope file (:mod:`securehost._host.recall`), and
discovery's scans of the search path, under each directory and ``entry_points.txt`` (:meth:`FileRecord.remember`,
:mod:`securehost._installed.scancache`).

The record lives in the host's private state directory, authenticated with an HMAC key derived from the host's cache
key (as the signature memo). A record that cannot be read, or whose MAC does not check out, is treated as empty —
every file is verified again — and a forged one is audited (``installed.record_tampered``); a record that cannot be
written is skipped. It is keyed by absolute path and bounded (:data:`MAX_ENTRIES`, least recently stored forgotten
first), so its memory is bounded per installed file. Each entry is held encoded, one ``bytes`` object, and decoded
only when it is used: a warm load that re-checks a distribution as a whole never decodes its files' entries, and the
record in memory stays within about one and a half times its file (three times when it was decoded at load).
"""

from __future__ import annotations

import importlib.util
import marshal
import os
import struct
import time
from typing import TYPE_CHECKING, Any, Final, final

from securehost._fileio import SealedFile, SealedState

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from securehost._audit import AuditLog

__all__ = ["MAX_ENTRIES", "RACY_NS", "FileRecord", "identity"]

_MAGIC: Final = b"SHFR\x00\x03\r\n"
_MAX_FILE: Final = 256 * 1024 * 1024
RACY_NS: Final = 2_000_000_000
#: Files remembered (about 270 bytes each in memory for a 60-character path); the least recently stored go first.
MAX_ENTRIES: Final = 1_000_000
#: A cache file's result holds only for the interpreter that compiled the comparison.
_BYTECODE: Final = "pyc:" + importlib.util.MAGIC_NUMBER.hex() + ":"

Identity = tuple[int, int, int, int, int]
#: The key prefix of a distribution's check (no absolute path of an installed file starts with NUL).
_CHECK: Final = "\0check:"
#: The key prefix of a remembered scan (:meth:`FileRecord.remember`): a directory listing, an ``entry_points.txt``.
_SCAN: Final = "\0scan:"
#: A watched path's identity, packed: device, inode and size unsigned, the times signed (before 1970 is negative).
_PACKED: Final = struct.Struct("<QQQqq")


def identity(st: os.stat_result) -> Identity:
    """Return the identity of a file that the record compares: device, inode, size, mtime and ctime (ns)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


@final
class FileRecord(SealedState):
    """The HMAC-protected record of installed files verified on this machine, by ``lstat`` identity.

    Args:
        path: the record file (in the host's private state directory).
        key: the MAC key (32 bytes or more, private to the host).
        audit: where an ``installed.record_tampered`` event goes.
        max_entries: files remembered; the least recently stored are forgotten first.
        racy_ns: files whose ``mtime`` or ``ctime`` is younger than this are not remembered (default
            :data:`RACY_NS`, two seconds).
    """

    __slots__ = ("_entries", "_max", "_racy")

    def __init__(
        self,
        path: Path,
        key: bytes,
        audit: AuditLog | None = None,
        *,
        max_entries: int = MAX_ENTRIES,
        racy_ns: int | None = None,
    ) -> None:
        sealed = SealedFile(path, key, _MAGIC, context=b"", limit=_MAX_FILE)
        super().__init__(sealed, audit, tampered_event="installed.record_tampered", prefix=".record-")
        self._max = max_entries
        self._racy = RACY_NS if racy_ns is None else racy_ns
        # Each value is one bytes object, decoded only when its entry is used (a warm load that re-checks a
        # distribution as a whole never decodes its files' entries), so that the record in memory is about 1.4 times
        # the file rather than about three times it in tuples, strings and integers:
        # path -> packed identity + result (UTF-8);
        # _CHECK + key -> marshal of (fingerprint, NUL-joined paths, packed identities, outcome)
        self._entries: dict[str, bytes] = {}

    def _decode(self, payload: bytes) -> None:
        entries = marshal.loads(payload)  # noqa: S302 - authenticated with the host's key
        if not isinstance(entries, dict):
            raise TypeError("not a mapping")
        self._entries = entries

    def _encode(self) -> bytes:
        return marshal.dumps(self._entries)

    def _clear(self) -> None:
        self._entries = {}

    def _get(self, path: str, st: os.stat_result) -> str | None:
        with self._lock:
            self._ensure_loaded()
            hit = self._entries.get(path)
        if type(hit) is not bytes:
            return None
        try:
            if hit[: _PACKED.size] != _PACKED.pack(*identity(st)):
                return None
            return hit[_PACKED.size :].decode()
        except (struct.error, UnicodeDecodeError):  # never stored for such an identity; not written by this version
            return None

    def _store(self, key: str, entry: bytes) -> None:
        """Keep *entry* under *key*, the newest last; forget the least recently stored beyond the bound."""
        with self._lock:
            self._ensure_loaded()
            if self._entries.get(key) == entry:
                return
            self._entries.pop(key, None)
            self._entries[key] = entry
            self._dirty = True
            while len(self._entries) > self._max:
                del self._entries[next(iter(self._entries))]

    def _racily_clean(self, st: os.stat_result) -> bool:
        """Whether *st* is too young to remember: a change within the same timestamp tick could not be told apart."""
        return time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) < self._racy

    def _put(self, path: str, st: os.stat_result, value: str) -> None:
        if self._racily_clean(st):
            return
        try:
            entry = _PACKED.pack(*identity(st)) + value.encode()
        except struct.error:  # a file system with identities beyond 64 bits: check it in full every time
            return
        self._store(path, entry)

    def digest(self, path: str, st: os.stat_result) -> str | None:
        """Return the SHA-256 (hex) that *path* had when it was hashed with the identity of *st*, or ``None``."""
        value = self._get(path, st)
        return None if value is None or value.startswith("pyc:") else value

    def remember_digest(self, path: str, st: os.stat_result, sha256: str) -> None:
        """Record that *path*, with the identity of *st* (taken before it was read), hashed to *sha256*."""
        self._put(path, st, sha256)

    def bytecode_matches(self, path: str, st: os.stat_result, source_sha256: str) -> bool:
        """Return whether the cache file *path* with the identity of *st* was found to be the compiled source."""
        return self._get(path, st) == _BYTECODE + source_sha256

    def remember_bytecode(self, path: str, st: os.stat_result, source_sha256: str) -> None:
        """Record that the cache file *path* (identity *st*) is what compiling the source *source_sha256* gives."""
        self._put(path, st, _BYTECODE + source_sha256)

    def recall(self, kind: str, path: str, st: os.stat_result) -> Any | None:
        """Return what :meth:`remember` stored as *kind* for *path* with the identity of *st*, or ``None``.

        Args:
            kind: what the value is (``"listing"``, ``"entry_points"``): one path can hold one value of each kind.
            path: the path the value was made from.
            st: its ``lstat`` (``stat`` for a path entry) now.
        """
        with self._lock:
            self._ensure_loaded()
            raw = self._entries.get(_SCAN + kind + ":" + path)
        if type(raw) is not bytes:
            return None
        try:
            if raw[: _PACKED.size] != _PACKED.pack(*identity(st)):
                return None
            return marshal.loads(raw[_PACKED.size :])  # noqa: S302 - authenticated with the host's key
        except (struct.error, ValueError, EOFError, TypeError):  # never stored so; not written by this version
            return None

    def remember(self, kind: str, path: str, st: os.stat_result, value: Any) -> None:
        """Record *value* (marshal-able), made from *path* while it had the identity of *st* (taken before).

        Not recorded when *st* is racily clean (younger than the racy interval), as for the files.
        """
        if self._racily_clean(st):
            return
        try:
            entry = _PACKED.pack(*identity(st)) + marshal.dumps(value)
        except (struct.error, ValueError):  # identities beyond 64 bits, or a value marshal cannot keep
            return
        self._store(_SCAN + kind + ":" + path, entry)

    def recheck(self, key: str, fingerprint: str) -> Any | None:
        """Return the outcome :meth:`remember_check` stored for *key* and *fingerprint*, or ``None``.

        ``None`` unless every path the check watched still has the identity it had (one ``lstat`` each).
        """
        with self._lock:
            self._ensure_loaded()
            raw = self._entries.get(_CHECK + key)
        if type(raw) is not bytes:
            return None
        try:
            hit = marshal.loads(raw)  # noqa: S302 - authenticated with the host's key
        except (ValueError, EOFError, TypeError):  # not written by this version
            return None
        if type(hit) is not tuple or len(hit) != 4 or hit[0] != fingerprint:
            return None
        paths, identities = hit[1].split("\0"), hit[2]
        if len(identities) != len(paths) * _PACKED.size:
            return None
        for index, path in enumerate(paths):
            try:
                st = os.lstat(path)
            except OSError:
                return None
            if _PACKED.unpack_from(identities, index * _PACKED.size) != identity(st):
                return None
        return hit[3]

    def remember_check(
        self, key: str, fingerprint: str, watched: Iterable[tuple[str, os.stat_result]], outcome: Any
    ) -> bool:
        """Record the *outcome* (marshal-able) of a clean check of *key* under *fingerprint*.

        Args:
            key: what was checked (a distribution's metadata directory).
            fingerprint: what else the outcome depends on (the signed files, the policy).
            watched: every path the check looked at, with its ``lstat`` taken before it was read or listed.
            outcome: what the check gave.

        Returns:
            Whether it was recorded: not when a watched path is racily clean (younger than the racy interval).
        """
        paths: list[str] = []
        identities = bytearray()
        for path, st in watched:
            if self._racily_clean(st) or "\0" in path:
                return False
            try:
                identities += _PACKED.pack(*identity(st))
            except struct.error:  # a file system with identities beyond 64 bits: check it in full every time
                return False
            paths.append(path)
        # compact: one string and one bytes object per distribution, not a tuple of tuples of five ints per path
        self._store(_CHECK + key, marshal.dumps((fingerprint, "\0".join(paths), bytes(identities), outcome)))
        return True
