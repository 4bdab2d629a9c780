"""The host-owned bytecode cache: compiled code of verified sources, integrity-protected with a MAC.

Python's own ``__pycache__`` files are never read (anyone who can write site-packages can plant one). Instead,
code compiled from verified source bytes is kept in a directory the host owns (default
``$XDG_CACHE_HOME/securehost/bytecode``, mode 0700). An entry is keyed by the verified source SHA-256,
:data:`importlib.util.MAGIC_NUMBER`, the optimisation level and the file name compiled in (its file name is the
SHA-256 of that key material); its content is ``MAGIC || MAC(key, key material || payload) || payload``, where
the MAC is keyed BLAKE2b-256 (:func:`securehost._digests.mac`) and the payload is
``marshal.dumps((code, static imports))``. The key is 32 random bytes in a 0600 file in the state directory,
created on first use. So whoever can write the cache directory but cannot read the key cannot inject code: an entry
that fails the MAC is ignored, deleted, reported (audit event ``bytecode.tampered``) and recompiled. An entry of
another format (an older securehost's: another ``MAGIC``) is a miss, replaced when the source is compiled again,
without an audit event: writing one is no more than deleting the entry. Writes go to a
temporary file that is renamed into place, so a reader never sees half an entry.

The cache is bounded by use, as ccache and pip's caches are: an entry's modification time says when it was last
used (a hit on an entry last marked more than a day ago marks it again: one ``utime`` per entry per day, not per
import), and :meth:`BytecodeCache.prune_if_due`, which a host calls after each load, deletes at most once a day the
entries unused for :data:`MAX_AGE` (the code of plugins since upgraded or removed), with one ``bytecode.pruned``
audit event saying how many. Only files named like an entry are deleted: nothing else in the directory, and never
through a symbolic link. A pruned entry that is needed after all is a miss: the source is read, checked and
compiled again.
"""

from __future__ import annotations

import contextlib
import importlib.util
import marshal
import os
import stat
import sys
import time
import types
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

from securehost import _digests
from securehost._digests import MAC_SIZE, compare_digest, mac
from securehost._fileio import describe_os_error, read_file_stat, write_atomic
from securehost._installed.dependencies import StaticImport, static_imports
from securehost.exceptions import ConfigurationError

if TYPE_CHECKING:
    from securehost._audit import AuditLog

__all__ = ["MAX_AGE", "PRUNE_INTERVAL", "BytecodeCache", "default_state_dir"]

_MAGIC: Final = b"SHBC\x00\x02\r\n"
_KEY_LEN: Final = 32
_MAX_ENTRY: Final = 256 * 1024 * 1024
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_DAY: Final = 24 * 3600.0
#: Entries not used for this long (seconds: 30 days) are deleted by :meth:`BytecodeCache.prune_if_due`.
MAX_AGE: Final = 30 * _DAY
#: How often a host prunes (seconds: one day); the time of the last prune is the mtime of :data:`_MARKER`.
PRUNE_INTERVAL: Final = _DAY
#: A hit marks its entry as used again only when the mark is older than this (one ``utime`` a day, at most).
_MARK_AFTER: Final = _DAY
_MARKER: Final = ".last-prune"


def _is_entry_name(name: str) -> bool:
    """Whether *name* is an entry's (64 lowercase hex digits: the SHA-256 of its key material)."""
    return len(name) == 64 and not name.strip("0123456789abcdef")


def default_state_dir() -> Path:
    """Return ``$XDG_CACHE_HOME/securehost`` (or ``~/.cache/securehost``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "securehost"


def private_dir(path: Path) -> Path:
    """Create (mode 0700) or check a directory that only the current user may write.

    Raises:
        ConfigurationError: it cannot be created, is a symlink or not a directory, belongs to someone else, or is
            writable by group or others.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        raise ConfigurationError(f"cannot create the private directory {path}: {exc}") from exc
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigurationError(f"{path} is not a real directory (symlink?)")
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise ConfigurationError(f"{path} belongs to uid {st.st_uid}, not to this user")
    if st.st_mode & 0o022:
        raise ConfigurationError(f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})")
    return path


def load_key(key_file: Path) -> bytes:
    """Load the cache key, creating it (0600, from :mod:`secrets`) if it does not exist.

    Raises:
        ConfigurationError: the key file is a symlink, not a regular file, readable by others, owned by someone
            else, not exactly 32 bytes, or cannot be created.
    """
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ConfigurationError(f"cannot create the key file {key_file}: {exc}") from exc
    else:
        import secrets  # noqa: PLC0415 - only when the key is created, not on every start-up

        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(_KEY_LEN))
    try:
        fd = os.open(key_file, os.O_RDONLY | _NOFOLLOW)
    except OSError as exc:
        raise ConfigurationError(f"cannot open the key file {key_file} (symlink?): {exc}") from exc
    with os.fdopen(fd, "rb") as handle:
        st = os.fstat(handle.fileno())
        key = handle.read(_KEY_LEN + 1)
    if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077:
        raise ConfigurationError(f"{key_file} must be a regular file with mode 0600 (is {stat.S_IMODE(st.st_mode):o})")
    if hasattr(os, "geteuid") and st.st_uid != os.geteuid():
        raise ConfigurationError(f"{key_file} belongs to uid {st.st_uid}, not to this user")
    if len(key) != _KEY_LEN:
        raise ConfigurationError(f"{key_file} must hold exactly {_KEY_LEN} bytes")
    return key


@final
class BytecodeCache:
    """Compiles verified sources, and keeps the code in MAC-protected cache entries.

    Args:
        cache_dir: the cache directory (created 0700 if missing).
        key_file: the MAC key file (created 0600 if missing).
        audit: where ``bytecode.tampered`` events go, if anywhere.

    Raises:
        ConfigurationError: the directory or the key file is unsafe (see :func:`private_dir`, :func:`load_key`).
    """

    __slots__ = ("_audit", "_dir", "_key", "_optimize", "_tag", "_unwritten")

    def __init__(self, cache_dir: Path, key_file: Path, audit: AuditLog | None = None) -> None:
        self._dir = private_dir(Path(cache_dir))
        self._key = load_key(Path(key_file))
        self._audit = audit
        self._unwritten: tuple[int, str] | None = None  # entries not written since the last take_unwritten()
        self._optimize = sys.flags.optimize
        self._tag = importlib.util.MAGIC_NUMBER.hex().encode("ascii") + b"\0" + str(self._optimize).encode() + b"\0"

    def derive_key(self, label: bytes) -> bytes:
        """Return a key for another use of the host's private state (*label* names the use), not the cache key."""
        return mac(self._key, b"securehost derived key\0" + label)

    @property
    def directory(self) -> Path:
        """The cache directory."""
        return self._dir

    def _material(self, sha256: str, filename: str) -> bytes:
        return sha256.encode("ascii") + b"\0" + self._tag + os.fsencode(filename)

    def _path(self, material: bytes) -> str:
        return os.path.join(self._dir, _digests.sha256(material).hexdigest())

    def code(
        self, source: bytes, sha256: str, filename: str, *, plugin: str | None = None
    ) -> tuple[types.CodeType, tuple[StaticImport, ...]]:
        """Return the code object and static imports for verified *source*, from the cache or freshly compiled.

        Args:
            source: the verified source bytes.
            sha256: their verified SHA-256 (hex).
            filename: the file name compiled into the code object.
            plugin: the plugin name, for audit events.

        Returns:
            ``(code, static imports)``.

        Raises:
            SyntaxError: the source does not compile (as for a normal import).
        """
        cached = self.lookup(sha256, filename, plugin=plugin)
        if cached is not None:
            return cached
        material = self._material(sha256, filename)
        path = self._path(material)
        code = compile(source, filename, "exec", dont_inherit=True, optimize=self._optimize)
        imports = static_imports(code)
        payload = marshal.dumps((code, imports))
        self._write(path, _MAGIC + mac(self._key, material, payload) + payload)
        return code, imports

    def lookup(
        self, sha256: str, filename: str, *, plugin: str | None = None
    ) -> tuple[types.CodeType, tuple[StaticImport, ...]] | None:
        """Return the cached code and static imports for the source whose SHA-256 is *sha256*, or ``None``.

        An entry holds code compiled from exactly the source with that digest (its MAC covers the digest, the
        interpreter's magic number and optimisation level, the file name and the code), so a hit needs no source:
        the installed file is not read again. An entry whose MAC does not check out is deleted and audited.

        Args:
            sha256: the verified SHA-256 (hex) of the source.
            filename: the file name compiled into the code object.
            plugin: the plugin name, for audit events.
        """
        material = self._material(sha256, filename)
        path = self._path(material)
        try:
            blob, st = read_file_stat(path, _MAX_ENTRY)
        except OSError:
            return None  # a miss (or a symlink or an oversized file: treated as a miss and replaced by code())
        if not blob.startswith(_MAGIC):
            return None  # another format (an older securehost's entry): a miss, and code() replaces it
        payload = blob[len(_MAGIC) + MAC_SIZE :]
        expected = mac(self._key, material, payload)
        if compare_digest(blob[len(_MAGIC) : len(_MAGIC) + MAC_SIZE], expected):
            code, imports = marshal.loads(payload)  # noqa: S302 - authenticated with the host's key
            if time.time() - st.st_mtime > _MARK_AFTER:
                with contextlib.suppress(OSError):  # used again: not pruned for another MAX_AGE
                    os.utime(path, follow_symlinks=False)
            return code, imports
        self._reject(path, filename, plugin)
        return None

    def prune(self, *, max_age: float = MAX_AGE, now: float | None = None) -> int:
        """Delete the entries not used for *max_age* seconds (at *now*, default the current time); return how many.

        Only regular files named like an entry are deleted; anything that cannot be deleted is left.
        """
        cutoff = (time.time() if now is None else now) - max_age
        removed = 0
        with contextlib.suppress(OSError), os.scandir(self._dir) as entries:
            for entry in entries:
                if not _is_entry_name(entry.name):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode) and st.st_mtime < cutoff:
                        os.unlink(entry.path)
                        removed += 1
                except OSError:
                    continue
        return removed

    def prune_if_due(self, *, interval: float = PRUNE_INTERVAL, max_age: float = MAX_AGE) -> int | None:
        """Run :meth:`prune` if the last prune is older than *interval* seconds; return its count, or ``None``.

        A count above zero is audited (``bytecode.pruned``). The time of the last prune is kept as the modification
        time of a marker file in the cache directory; a cache without one (new, or an older securehost's) is due. A
        cache directory this process cannot write is never scanned: nothing in it could be deleted, nor the marker
        written, so every load would scan it again for nothing.
        """
        marker = os.path.join(self._dir, _MARKER)
        now = time.time()
        with contextlib.suppress(OSError):
            if now - os.stat(marker, follow_symlinks=False).st_mtime < interval:
                return None
        if not os.access(self._dir, os.W_OK | os.X_OK):
            return None
        removed = self.prune(max_age=max_age, now=now)
        with contextlib.suppress(OSError):
            os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | _NOFOLLOW, 0o600))
            os.utime(marker, (now, now), follow_symlinks=False)
        if removed and self._audit is not None:
            self._audit.emit("bytecode.pruned", removed=removed, max_age_days=round(max_age / _DAY, 2))
        return removed

    def _reject(self, path: str, filename: str, plugin: str | None) -> None:
        with contextlib.suppress(OSError):
            os.unlink(path)
        if self._audit is not None:
            self._audit.emit("bytecode.tampered", plugin=plugin, entry=path, source=filename)

    def take_unwritten(self) -> tuple[int, str] | None:
        """Return how many entries could not be written since the last call, and the first error; then forget them.

        Returns:
            ``(count, error)``, or ``None`` when every entry since the last call was written.
        """
        unwritten, self._unwritten = self._unwritten, None
        return unwritten

    def _write(self, path: str, blob: bytes) -> None:
        try:
            write_atomic(path, blob)
        except OSError as exc:  # the cache is an optimisation: a full disk must not break imports, but it is said
            count, first = self._unwritten or (0, describe_os_error(exc))
            self._unwritten = (count + 1, first)
