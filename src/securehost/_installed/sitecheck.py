"""File-system checks of an installed distribution: safe re-hashing, complete walks, bytecode caches, start-up hooks.

Every function here reports problems as :class:`~securehost.Reason` objects appended to a list and never raises for
what it finds on disk. Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` (a symlink or a FIFO can neither redirect
nor block the check) and checked with ``fstat`` to be regular files; each parent directory is ``lstat``-ed once.

``__pycache__`` policy: securehost never reads a ``__pycache__`` file (the verified importer compiles from the
verified source into its own HMAC-protected cache). A cache file in the plugin's directories is accepted only if the
installer wrote it: it is listed in the installed ``RECORD`` with a matching hash, or — pip lists the files it
compiles without a hash — listed without a hash and not changed since ``RECORD`` was written (its ``st_ctime`` is not
later than ``RECORD``'s; ``st_ctime`` cannot be set from user space). Anything else, including a planted ``.pyc``
whose header matches the source, is ``INSTALLED_FILE_UNSIGNED``. ``python -m installer`` does not list the files it
compiles: install with ``--no-compile-bytecode``. Running the plugin once without securehost makes Python write its own
caches; they must then be removed, and the reason message says so.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import os
import stat
from typing import TYPE_CHECKING, Final, final

import attrs

from securehost._fileio import OPEN_FLAGS, read_file
from securehost._installed.archivepaths import import_name
from securehost._verdict import Reason, ReasonCode

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Set

_STARTUP_MODULES: Final = frozenset({"sitecustomize", "usercustomize"})

__all__ = ["Hashed", "PackageWalker", "RecordIndex", "SiteIndex", "check_startup_hooks", "hash_installed", "scan_site"]

_R: Final = ReasonCode
_CHUNK: Final = 1 << 20
_MAX_RECORD: Final = 64 * 1024 * 1024
_RECORD_ALGORITHMS: Final = frozenset({"sha256", "sha384", "sha512"})
PYCACHE_ADVICE: Final = (
    "securehost never runs it, but Python would outside securehost; if the plugin ran once without securehost, "
    "Python wrote its own caches: delete the plugin's __pycache__ directories (or install with --no-compile / "
    "--no-compile-bytecode)"
)


@final
@attrs.frozen(kw_only=True)
class Hashed:
    """The outcome of re-hashing one installed file: a digest (and the content if asked), or a problem."""

    digest: str | None = None
    content: bytes | None = None
    problem: Reason | None = None


def _unsafe(rel: str, why: str) -> Reason:
    return Reason(code=_R.INSTALLED_FILE_UNSAFE, message=f"{rel}: {why}", subject=rel)


def _read_digest(path: str, rel: str, algorithm: str, *, keep: bool) -> Hashed:
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
    return Hashed(digest=digest.hexdigest(), content=b"".join(chunks) if keep else None)


def hash_installed(site: str, rel: str, checked_dirs: set[str], *, keep: bool = False) -> Hashed:
    """Re-hash ``site/rel`` (SHA-256) without following symlinks anywhere below *site*.

    Args:
        site: the site directory.
        rel: the path relative to *site* (already checked to be normalised).
        checked_dirs: parent directories already found to be real directories (updated).
        keep: also return the file content (for small files such as ``METADATA``).

    Returns:
        The digest, or the problem (missing, symlink, special file, a parent that is not a real directory).
    """
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
    return _read_digest(os.path.join(site, rel), rel, "sha256", keep=keep)


@final
class RecordIndex:
    """The installed ``RECORD`` of one distribution (unsigned: written by the installer), for cache files only."""

    __slots__ = ("ctime_ns", "entries", "error", "site")

    def __init__(self, site: str, metadata_dir: str) -> None:
        self.site = site
        self.entries: dict[str, str] = {}
        self.ctime_ns: int | None = None
        self.error: str | None = None
        path = os.path.join(metadata_dir, "RECORD")
        try:
            text = read_file(path, _MAX_RECORD).decode("utf-8")
            st = os.lstat(path)
            for row in csv.reader(text.splitlines()):
                if len(row) != 3:
                    raise ValueError(f"row with {len(row)} fields")
                self.entries[row[0]] = row[1]
            self.ctime_ns = st.st_ctime_ns
        except (OSError, ValueError, csv.Error) as exc:
            self.entries.clear()
            self.error = f"installed RECORD is unusable: {exc}"

    def accepts(self, rel: str, st: os.stat_result) -> str | None:
        """Return how the installer vouches for the cache file *rel*, or ``None`` if it does not."""
        field = self.entries.get(rel)
        if field is None:
            return None
        if not field:
            # pip lists the files it compiles without a hash; accept them only if unchanged since RECORD was written.
            if self.ctime_ns is not None and st.st_ctime_ns <= self.ctime_ns:
                return "listed in RECORD without a hash, unchanged since RECORD was written"
            return None
        algorithm, _, expected = field.partition("=")
        if algorithm not in _RECORD_ALGORITHMS:
            return None
        hashed = _read_digest(os.path.join(self.site, rel), rel, algorithm, keep=False)
        if hashed.digest is None:
            return None
        actual = base64.urlsafe_b64encode(bytes.fromhex(hashed.digest)).rstrip(b"=").decode("ascii")
        return "listed in RECORD with a matching hash" if hmac.compare_digest(actual, expected) else None


@final
class PackageWalker:
    """Walks the distribution's top-level directories completely and reports every file that was not signed.

    Args:
        site: the site directory.
        signed: every signed site-relative file path.
        owned_dirs: every directory that contains a signed file (relative to *site*).
        record: the installed RECORD, consulted for ``__pycache__`` files only.

    Attributes:
        reasons: the problems found so far.
        pycache_accepted: accepted cache files, with the basis of acceptance.
    """

    __slots__ = ("owned_dirs", "pycache_accepted", "reasons", "record", "signed", "site")

    def __init__(self, site: str, signed: Set[str], owned_dirs: Set[str], record: RecordIndex) -> None:
        self.site = site
        self.signed = signed
        self.owned_dirs = owned_dirs
        self.record = record
        self.reasons: list[Reason] = []
        self.pycache_accepted: list[str] = []

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
            elif rel not in self.signed:
                basis = self.record.accepts(rel, st)
                if basis is None:
                    why = self.record.error or "not in the installed RECORD with a matching hash, or changed since"
                    self._unsigned(rel, f"bytecode cache not written by the installer ({why}); {PYCACHE_ADVICE}")
                else:
                    self.pycache_accepted.append(f"{rel}: {basis}")

    def walk(self, top: str) -> None:
        """Walk the top-level directory *top* (relative to the site directory)."""
        try:
            top_mode = os.lstat(os.path.join(self.site, top)).st_mode
        except OSError:
            return  # the signed files below it are reported missing by the re-hash
        if not stat.S_ISDIR(top_mode):
            self.reasons.append(_unsafe(top, "is not a real directory (symlink?)"))
            return
        stack = [top]
        while stack:
            rel_dir = stack.pop()
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
                        stack.append(rel)
                    else:
                        self._unsigned(rel, "directory with no signed file (importable as a namespace package)")
                elif not stat.S_ISREG(st.st_mode):
                    self.reasons.append(_unsafe(rel, "is a symlink or a special file"))
                elif rel not in self.signed:
                    if entry.name.endswith(".pyc"):
                        self._unsigned(rel, "a .pyc outside __pycache__ (Python would import it without source)")
                    else:
                        self._unsigned(rel, "not in the signed file list")


def site_record_hashes(site: str, dist_info_dirs: Collection[str], wanted: Collection[str]) -> dict[str, str]:
    """Return ``{name: hash field}`` for the *wanted* site-level files listed in any RECORD of *dist_info_dirs*."""
    found: dict[str, str] = {}
    needles = tuple(wanted)
    for dist_info in dist_info_dirs:
        try:
            text = read_file(os.path.join(site, dist_info, "RECORD"), _MAX_RECORD).decode("utf-8", "replace")
        except OSError:
            continue
        lines = [line for line in text.splitlines() if line.startswith(needles)]
        for row in csv.reader(lines):
            if len(row) == 3 and row[0] in wanted:
                found.setdefault(row[0], row[1])
    return found


def check_startup_hooks(
    site: str, hooks: Collection[str], dist_info_dirs: Collection[str], reasons: list[Reason], evidence: list[str]
) -> None:
    """Reject start-up hooks (``*.pth``, ``sitecustomize``, ``usercustomize``) in *site* that no RECORD vouches for.

    A hook runs at every interpreter start, before securehost can check anything, so one that no installed
    distribution lists (with a matching hash) is a sign of tampering with the site directory.
    """
    if not hooks:
        return
    listed = site_record_hashes(site, dist_info_dirs, hooks)
    for name in sorted(hooks):
        field = listed.get(name)
        algorithm, _, expected = (field or "").partition("=")
        ok = False
        if algorithm in _RECORD_ALGORITHMS:
            hashed = _read_digest(os.path.join(site, name), name, algorithm, keep=False)
            if hashed.digest is not None:
                actual = base64.urlsafe_b64encode(bytes.fromhex(hashed.digest)).rstrip(b"=").decode("ascii")
                ok = hmac.compare_digest(actual, expected)
        if ok:
            evidence.append(name)
        else:
            msg = f"{name}: start-up hook in {site} that no installed RECORD lists with a matching hash"
            reasons.append(Reason(code=_R.INSTALLED_FILE_UNSIGNED, message=msg, subject=name))


@final
class SiteIndex:
    """One listing of a site directory, shared by the checks of every plugin in it during one load.

    Listing the directory once per plugin made start-up quadratic in the number of plugins (100 plugins in one
    directory: 20,000 entries visited). The index keeps what the per-plugin check needs: entries by import name,
    start-up hooks, and ``.dist-info`` directories.

    Attributes:
        site: the directory.
        error: why it could not be listed, or ``None``.
    """

    __slots__ = ("by_import", "dist_infos", "error", "hooks", "site")

    def __init__(self, site: str) -> None:
        self.site = site
        self.by_import: dict[str, list[tuple[str, bool]]] = {}
        self.hooks: list[tuple[str, bool]] = []
        self.dist_infos: list[str] = []
        self.error = scan_site(site, self._add)

    def _add(self, entry: os.DirEntry[str]) -> None:
        name = entry.name
        is_dir = entry.is_dir(follow_symlinks=False)
        imported = import_name(name, is_dir=is_dir)
        if imported is not None:
            self.by_import.setdefault(imported, []).append((name, is_dir))
        if imported in _STARTUP_MODULES or (name.endswith(".pth") and not is_dir):
            self.hooks.append((name, is_dir))
        elif is_dir and name.endswith(".dist-info"):
            self.dist_infos.append(name)


def scan_site(site: str, on_entry: Callable[[os.DirEntry[str]], None]) -> str | None:
    """Call *on_entry* for every entry of the site directory; return an error message if it cannot be listed."""
    try:
        with os.scandir(site) as entries:
            for entry in entries:
                on_entry(entry)
    except OSError as exc:
        return f"{site} cannot be listed: {exc.strerror}"
    return None
