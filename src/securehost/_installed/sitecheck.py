"""File-system checks of an installed distribution: safe re-hashing, complete walks, bytecode caches.

Every function here reports problems as :class:`~securehost.Reason` objects appended to a list and never raises for
what it finds on disk. Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` (a symlink or a FIFO can neither redirect
nor block the check) and checked with ``fstat`` to be regular files; each parent directory is ``lstat``-ed once.

``__pycache__`` policy: securehost never reads a ``__pycache__`` file (the verified importer compiles from the
verified source into its own HMAC-protected cache), but Python runs one whenever the plugin is imported without
securehost. A cache file in the plugin's directories is accepted only if its code is exactly what compiling the
verified source gives (:mod:`securehost._installed.pyccheck`), or never if the host refuses them all. The installed
``RECORD`` is unsigned and plays no part: a planted file is ``INSTALLED_FILE_UNSIGNED`` whatever ``RECORD`` says.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import TYPE_CHECKING, Final, final

import attrs

from securehost._fileio import OPEN_FLAGS, read_file
from securehost._installed.pyccheck import SOURCE_MODIFIED, check_cached_bytecode
from securehost._installed.recordrows import record_rows
from securehost._models import value_model
from securehost._verdict import Reason, ReasonCode

if TYPE_CHECKING:
    from collections.abc import Mapping, Set

    from securehost._installed.filerecord import FileRecord


__all__ = ["PYCACHE_ADVICE", "Hashed", "PackageWalker", "RecordIndex", "hash_installed", "read_digest"]

_R: Final = ReasonCode
_CHUNK: Final = 1 << 20
_MAX_RECORD: Final = 64 * 1024 * 1024
PYCACHE_ADVICE: Final = (
    "securehost never runs it, but Python would outside securehost: delete the plugin's __pycache__ directories "
    "(and install with --no-compile / --no-compile-bytecode if the host refuses all cache files)"
)


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Hashed:
    """The outcome of re-hashing one installed file: a digest (and the content if asked), or a problem."""

    digest: str | None = None
    content: bytes | None = None
    problem: Reason | None = None
    stat: os.stat_result | None = None


def _unsafe(rel: str, why: str) -> Reason:
    return Reason(code=_R.INSTALLED_FILE_UNSAFE, message=f"{rel}: {why}", subject=rel)


def read_digest(path: str, rel: str, algorithm: str, *, keep: bool) -> Hashed:
    try:
        fd = os.open(path, OPEN_FLAGS)
    except FileNotFoundError:
        return Hashed(problem=Reason(code=_R.INSTALLED_FILE_MISSING, message=f"{rel} is missing", subject=rel))
    except OSError as exc:
        return Hashed(problem=_unsafe(rel, f"cannot be opened safely (symlink?): {exc.strerror}"))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return Hashed(problem=_unsafe(rel, "is not a regular file"))
        digest = hashlib.new(algorithm)
        chunks: list[bytes] = []
        chunk = os.read(fd, min(st.st_size + 1, _CHUNK))
        while chunk:
            digest.update(chunk)
            if keep:
                chunks.append(chunk)
            chunk = os.read(fd, _CHUNK)
    except OSError as exc:
        return Hashed(problem=_unsafe(rel, f"cannot be read: {exc.strerror}"))
    finally:
        os.close(fd)
    return Hashed(digest=digest.hexdigest(), content=b"".join(chunks) if keep else None, stat=st)


def hash_installed(
    site: str,
    rel: str,
    checked_dirs: set[str],
    *,
    keep: bool = False,
    st: os.stat_result | None = None,
    files: FileRecord | None = None,
) -> Hashed:
    """Re-hash ``site/rel`` (SHA-256) without following symlinks anywhere below *site*.

    Args:
        site: the site directory.
        rel: the path relative to *site* (already checked to be normalised).
        checked_dirs: parent directories already found to be real directories (updated).
        keep: also return the file content (for small files such as ``METADATA``); the file is always read.
        st: the file's ``lstat`` from a walk that saw its parents to be real directories, if there was one.
        files: the file record: a file whose identity is unchanged since it was hashed is not read again, and a
            file that is read is remembered (``None``: read and hash every file).

    Returns:
        The digest, or the problem (missing, symlink, special file, a parent that is not a real directory).
    """
    path = os.path.join(site, rel)
    if st is None:
        parts = rel.split("/")
        current = ""
        for part in parts[:-1]:
            current = f"{current}/{part}" if current else part
            if current in checked_dirs:
                continue
            try:
                mode = os.lstat(os.path.join(site, current)).st_mode
            except FileNotFoundError:
                return Hashed(problem=Reason(code=_R.INSTALLED_FILE_MISSING, message=f"{rel} is missing", subject=rel))
            except OSError as exc:
                return Hashed(problem=_unsafe(rel, f"parent {current} cannot be inspected: {exc.strerror}"))
            if not stat.S_ISDIR(mode):
                return Hashed(problem=_unsafe(rel, f"parent {current} is not a real directory (symlink?)"))
            checked_dirs.add(current)
    if files is None or keep:
        return read_digest(path, rel, "sha256", keep=keep)
    if st is None:
        try:
            st = os.lstat(path)
        except OSError:
            st = None  # missing or unreadable: reading it reports why
    if st is not None and stat.S_ISREG(st.st_mode):
        known = files.digest(path, st)
        if known is not None:
            return Hashed(digest=known, stat=st)
    hashed = read_digest(path, rel, "sha256", keep=False)
    if hashed.digest is not None and hashed.stat is not None:
        files.remember_digest(path, hashed.stat, hashed.digest)
    return hashed


@final
class RecordIndex:
    """The installed ``RECORD`` of one distribution (unsigned, written by the installer): what it claims was installed.

    It vouches for nothing; :func:`securehost._installed.distcheck.verify_installed` only checks that every row it
    lists is a signed file, an installer file or a cache file of a signed package (judged by the walk).
    """

    __slots__ = ("entries", "error", "path", "site", "stat")

    def __init__(self, site: str, metadata_dir: str) -> None:
        self.site = site
        self.entries: dict[str, str] = {}
        self.error: str | None = None
        self.path = path = os.path.join(metadata_dir, "RECORD")
        try:
            self.stat: os.stat_result | None = os.lstat(path)  # before the read: a later change shows
        except OSError:
            self.stat = None
        try:
            text = read_file(path, _MAX_RECORD).decode("utf-8")
            for row in record_rows(text.splitlines()):
                if len(row) != 3:
                    raise ValueError(f"row with {len(row)} fields")
                self.entries[row[0]] = row[1]
        except (OSError, ValueError) as exc:
            self.entries.clear()
            self.error = f"installed RECORD is unusable: {exc}"


@final
class PackageWalker:
    """Walks the distribution's top-level directories completely and reports every file that was not signed.

    Args:
        site: the site directory.
        signed: every signed site-relative file path -> its SHA-256 (hex).
        owned_dirs: every directory that contains a signed file (relative to *site*).
        record: the installed RECORD (what it lists is checked by the caller; it vouches for nothing here).
        files: the file record that remembers compared cache files (``None``: compare every time).
        refuse_bytecode: refuse every ``__pycache__`` file, even one that is the compiled signed source.

    Attributes:
        reasons: the problems found so far.
        pycache_accepted: accepted cache files, with the basis of acceptance.
        stats: the ``lstat`` of every signed regular file the walk saw, by site-relative path (its parents are real
            directories: the walk descends into nothing else).
        watched: ``(path, lstat)`` of every directory the walk listed (taken before it was listed) and of every
            accepted cache file: with :attr:`stats`, what a later re-check compares.
    """

    __slots__ = (
        "files",
        "owned_dirs",
        "pycache_accepted",
        "reasons",
        "record",
        "refuse_bytecode",
        "signed",
        "site",
        "stats",
        "watched",
    )

    def __init__(
        self,
        site: str,
        signed: Mapping[str, str],
        owned_dirs: Set[str],
        record: RecordIndex,
        *,
        files: FileRecord | None = None,
        refuse_bytecode: bool = False,
    ) -> None:
        self.site = site
        self.signed = signed
        self.owned_dirs = owned_dirs
        self.record = record
        self.files = files
        self.refuse_bytecode = refuse_bytecode
        self.reasons: list[Reason] = []
        self.pycache_accepted: list[str] = []
        self.stats: dict[str, os.stat_result] = {}
        self.watched: list[tuple[str, os.stat_result]] = []

    def _unsigned(self, rel: str, why: str) -> None:
        self.reasons.append(Reason(code=_R.INSTALLED_FILE_UNSIGNED, message=f"{rel}: {why}", subject=rel))

    def _pycache(self, rel_dir: str, entries: list[os.DirEntry[str]]) -> None:
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}"
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                self._unsigned(rel, "directory inside __pycache__ that no installer writes")
            elif not stat.S_ISREG(st.st_mode):
                self.reasons.append(_unsafe(rel, "is a symlink or a special file"))
            elif rel in self.signed:
                self.stats[rel] = st
            elif self.refuse_bytecode:
                self._unsigned(rel, f"bytecode cache file, and the host refuses them all; {PYCACHE_ADVICE}")
            else:
                why = check_cached_bytecode(self.site, rel, st, self.signed, self.files)
                if why is SOURCE_MODIFIED:
                    msg = f"{rel}: {why}, so it cannot be compared"
                    self.reasons.append(Reason(code=_R.INSTALLED_FILE_MODIFIED, message=msg, subject=rel))
                elif why is None:
                    self.pycache_accepted.append(f"{rel}: the code compiled from the signed source")
                    self.watched.append((os.path.join(self.site, rel), st))
                else:
                    self._unsigned(
                        rel, f"bytecode cache file that is not the compiled signed source ({why}); {PYCACHE_ADVICE}"
                    )

    def walk(self, top: str) -> None:
        """Walk the top-level directory *top* (relative to the site directory)."""
        try:
            top_stat = os.lstat(os.path.join(self.site, top))
        except OSError:
            return  # the signed files below it are reported missing by the re-hash
        if not stat.S_ISDIR(top_stat.st_mode):
            self.reasons.append(_unsafe(top, "is not a real directory (symlink?)"))
            return
        stack = [(top, top_stat)]
        while stack:
            rel_dir, dir_stat = stack.pop()
            self.watched.append((os.path.join(self.site, rel_dir), dir_stat))
            try:
                with os.scandir(os.path.join(self.site, rel_dir)) as iterator:
                    entries = list(iterator)
            except OSError as exc:
                self.reasons.append(_unsafe(rel_dir, f"cannot be listed: {exc.strerror}"))
                continue
            if rel_dir.endswith("/__pycache__") and rel_dir not in self.owned_dirs:
                self._pycache(rel_dir, entries)
                continue
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}"
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    if rel in self.owned_dirs or entry.name == "__pycache__":
                        stack.append((rel, st))
                    else:
                        self._unsigned(rel, "directory with no signed file (importable as a namespace package)")
                elif not stat.S_ISREG(st.st_mode):
                    self.reasons.append(_unsafe(rel, "is a symlink or a special file"))
                elif rel in self.signed:
                    self.stats[rel] = st
                elif entry.name.endswith(".pyc"):
                    self._unsigned(rel, "a .pyc outside __pycache__ (Python would import it without source)")
                else:
                    self._unsigned(rel, "not in the signed file list")
