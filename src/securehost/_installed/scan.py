"""Low-level scanning for discovery: list path entries and read ``entry_points.txt``.

:func:`list_path_entry` and :func:`read_entry_points` take an optional :class:`Scans`, which answers again for a path
whose ``stat`` :func:`signature` is unchanged: the :class:`~securehost.DiscoveryCache` in
:mod:`securehost._installed.scancache`. A scan of a path changed less than two seconds before is never kept
(:func:`storable`, "racily clean", as git's index): file systems with coarse timestamps could otherwise hide a second
change made within the same tick. ``st_ctime`` cannot be set from user space, so ``touch -d`` cannot forge a hit.
"""

from __future__ import annotations

import os
import stat
import time
from typing import TYPE_CHECKING, Final, Literal, Protocol, final

from securehost._fileio import read_file
from securehost._names import canonicalize_name
from securehost._records import Record, setfield
from securehost._wheel.entrypoints import parse_entry_points_text
from securehost.exceptions import EntryPointFormatError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "EntryPointsFile",
    "Listing",
    "MetadataLocation",
    "Scans",
    "list_dir",
    "list_path_entry",
    "read_small",
    "signature",
    "storable",
]

MAX_SMALL_FILE: Final = 1024 * 1024
_RACY_NS: Final = 2_000_000_000

Kind = Literal["dist-info", "egg-info", "egg-link", "egg", "zip"]


@final
class MetadataLocation(Record):
    """One distribution's metadata found on a path entry."""

    __slots__ = ("canonical", "entry_points_file", "kind", "path", "site", "version", "zip_error", "zip_text")
    kind: Kind
    path: str
    site: str
    canonical: str
    version: str | None
    entry_points_file: str | None
    zip_text: bytes | None
    zip_error: str | None

    def __init__(
        self,
        *,
        kind: Kind,
        path: str,
        site: str,
        canonical: str,
        version: str | None,
        entry_points_file: str | None,
        zip_text: bytes | None = None,
        zip_error: str | None = None,
    ) -> None:
        setfield(self, "kind", kind)
        setfield(self, "path", path)
        setfield(self, "site", site)
        setfield(self, "canonical", canonical)
        setfield(self, "version", version)
        setfield(self, "entry_points_file", entry_points_file)
        setfield(self, "zip_text", zip_text)
        setfield(self, "zip_error", zip_error)


@final
class Listing(Record):
    """What one path entry holds.

    Its metadata locations, the names that have an ``__editable__`` hook, the scratch directories of installs,
    upgrades or uninstalls that were killed before they finished, and (for a directory) the lowercased part before
    the first dot of every name in it: the top-level names the standard path finder could find there (``None`` for a
    zip file or an entry that could not be listed).
    """

    __slots__ = ("editable_names", "interrupted", "locations", "tops")
    locations: tuple[MetadataLocation, ...]
    editable_names: frozenset[str]
    interrupted: tuple[str, ...]
    tops: frozenset[str] | None

    def __init__(
        self,
        *,
        locations: tuple[MetadataLocation, ...],
        editable_names: frozenset[str],
        interrupted: tuple[str, ...] = (),
        tops: frozenset[str] | None = None,
    ) -> None:
        setfield(self, "locations", locations)
        setfield(self, "editable_names", editable_names)
        setfield(self, "interrupted", interrupted)
        setfield(self, "tops", tops)


@final
class EntryPointsFile(Record):
    """A parsed ``entry_points.txt``: its groups, or the error that made it unusable."""

    __slots__ = ("error", "groups")
    groups: Mapping[str, tuple[tuple[str, str], ...]]
    error: str | None

    def __init__(self, *, groups: Mapping[str, tuple[tuple[str, str], ...]], error: str | None) -> None:
        setfield(self, "groups", groups)
        setfield(self, "error", error)


#: The scratch directories of ``securehost install``, ``upgrade`` and ``uninstall`` (``securehost._install.journal``,
#: which this layer may not import); one left in a plugin directory means a change there was killed midway.
INTERRUPTED_PREFIX: Final = ".securehost-install-"
_EMPTY: Final = EntryPointsFile(groups={}, error=None)
_NO_LISTING: Final = Listing(locations=(), editable_names=frozenset())


def read_small(path: str, limit: int = MAX_SMALL_FILE) -> bytes:
    """Read a small regular file without following a final symlink (see :func:`securehost._fileio.read_file`).

    Raises:
        OSError: it cannot be read, is a symlink or special file, or is larger than *limit*.
    """
    return read_file(path, limit)


def parse_entry_points_bytes(raw: bytes) -> EntryPointsFile:
    """Decode and parse ``entry_points.txt``; errors become :attr:`EntryPointsFile.error`."""
    try:
        return EntryPointsFile(groups=parse_entry_points_text(raw.decode("utf-8")), error=None)
    except UnicodeDecodeError as exc:
        return EntryPointsFile(groups={}, error=f"entry_points.txt is not UTF-8: {exc}")
    except EntryPointFormatError as exc:
        return EntryPointsFile(groups={}, error=f"entry_points.txt: {exc}")


def _split_stem(stem: str, kind: Kind) -> tuple[str, str | None]:
    if kind == "egg-link":  # {project name}.egg-link: no version, the name may contain dashes
        return canonicalize_name(stem), None
    raw, sep, version = stem.partition("-")
    if kind != "dist-info":
        version = version.partition("-")[0]  # foo-1.0-py3.11.egg-info
    return canonicalize_name(raw) if raw else stem.lower(), (version or None) if sep else None


def list_dir(entry: str) -> Listing:
    """List directory *entry*: its metadata locations, editable hooks, interrupted installs and top-level names.

    Raises:
        OSError: it cannot be listed.
    """
    locations: list[MetadataLocation] = []
    editable: set[str] = set()
    interrupted: list[str] = []
    tops: set[str] = set()
    base = os.path.basename(os.path.normpath(entry)).lower()
    with os.scandir(entry) as children:
        for child in children:
            name = child.name
            low = name.lower()
            tops.add(low.partition(".")[0])
            kind: Kind
            eps: str | None
            if low.endswith(".dist-info"):
                kind, stem, eps = "dist-info", name[:-10], os.path.join(child.path, "entry_points.txt")
            elif low.endswith(".egg-info"):
                kind, stem = "egg-info", name[:-9]
                eps = os.path.join(child.path, "entry_points.txt") if child.is_dir() else None
            elif low.endswith(".egg-link"):
                kind, stem, eps = "egg-link", name[:-9], None
            elif base.endswith(".egg") and name == "EGG-INFO":
                kind, stem = "egg", os.path.basename(os.path.normpath(entry))[:-4]
                eps = os.path.join(child.path, "entry_points.txt")
            else:
                if low.startswith("__editable__.") and low.endswith(".pth"):
                    editable.add(canonicalize_name(name[13:-4].partition("-")[0]))
                elif name.startswith(INTERRUPTED_PREFIX):
                    interrupted.append(child.path)
                continue
            canonical, version = _split_stem(stem, kind)
            locations.append(
                MetadataLocation(
                    kind=kind,
                    path=child.path,
                    site=entry,
                    canonical=canonical,
                    version=version,
                    entry_points_file=eps,
                )
            )
    locations.sort(key=lambda loc: loc.path)
    return Listing(
        locations=tuple(locations),
        editable_names=frozenset(editable),
        interrupted=tuple(sorted(interrupted)),
        tops=frozenset(tops),
    )


def _list_zip(entry: str) -> Listing:
    """List the distributions in a zip path entry through importlib_metadata (called directly, path-restricted)."""
    import importlib_metadata  # noqa: PLC0415 - zip path entries are rare: not imported on every start-up

    locations: list[MetadataLocation] = []
    context = importlib_metadata.DistributionFinder.Context(path=[entry])  # type: ignore[no-untyped-call]
    try:
        dists = list(importlib_metadata.MetadataPathFinder.find_distributions(context))
    except Exception as exc:  # noqa: BLE001 - a broken archive yields a reason, never stops the scan
        dists = []
        error: str | None = f"zip path entry cannot be read: {type(exc).__name__}: {exc}"
        locations.append(
            MetadataLocation(
                kind="zip", path=entry, site=entry, canonical=canonicalize_name(os.path.basename(entry)),
                version=None, entry_points_file=entry, zip_error=error,
            )
        )  # fmt: skip
    for index, dist in enumerate(dists):
        text: bytes | None = None
        error = None
        canonical = f"{canonicalize_name(os.path.basename(entry))}-{index}"
        version = None
        try:
            canonical = canonicalize_name(dist.metadata["Name"])
            version = dist.version
            text_str = dist.read_text("entry_points.txt")
            text = None if text_str is None else text_str.encode("utf-8")
        except Exception as exc:  # noqa: BLE001 - see above
            error = f"metadata in zip path entry cannot be read: {type(exc).__name__}: {exc}"
        locations.append(
            MetadataLocation(
                kind="zip", path=f"{entry}!{canonical}", site=entry, canonical=canonical, version=version,
                entry_points_file=entry, zip_text=text, zip_error=error,
            )
        )  # fmt: skip
    return Listing(locations=tuple(locations), editable_names=frozenset())


def signature(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """What a cached scan of a path is keyed by: its device, inode, ``st_mtime_ns``, ``st_ctime_ns`` and size."""
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


def storable(st: os.stat_result) -> bool:
    """Whether a scan of a path with *st* may be kept: not when it is racily clean (changed under two seconds ago)."""
    return time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) >= _RACY_NS


class Scans(Protocol):
    """What scans a path once and answers again while it is unchanged (:class:`~securehost.DiscoveryCache`)."""

    def listing(self, entry: str, st: os.stat_result) -> Listing:
        """Return the listing of directory *entry* whose current ``stat`` is *st*."""

    def entry_points(self, loc: MetadataLocation) -> EntryPointsFile:
        """Return the parsed ``entry_points.txt`` of *loc*."""


def read_entry_points(loc: MetadataLocation, cache: Scans | None) -> EntryPointsFile:
    """Read and parse the ``entry_points.txt`` of *loc* (through *cache* if given); never raises."""
    if cache is not None:
        return cache.entry_points(loc)
    if loc.kind == "zip":
        if loc.zip_error is not None:
            return EntryPointsFile(groups={}, error=loc.zip_error)
        return _EMPTY if loc.zip_text is None else parse_entry_points_bytes(loc.zip_text)
    if loc.entry_points_file is None:
        return _EMPTY
    try:
        raw = read_small(loc.entry_points_file)
    except FileNotFoundError:
        return _EMPTY
    except OSError as exc:
        return EntryPointsFile(groups={}, error=f"entry_points.txt cannot be read: {exc}")
    return parse_entry_points_bytes(raw)


def list_path_entry(entry: str, cache: Scans | None) -> Listing:
    """List the distributions on one path entry (a directory or a zip file); never raises.

    A directory that cannot be listed, or a path entry that does not exist, holds nothing.
    """
    try:
        st = os.stat(entry)
        if stat.S_ISDIR(st.st_mode):
            return cache.listing(entry, st) if cache is not None else list_dir(entry)
        if stat.S_ISREG(st.st_mode):
            import zipfile  # noqa: PLC0415 - a zip file on sys.path is rare: the others do not pay for the module

            if not zipfile.is_zipfile(entry):
                return _NO_LISTING
            return _list_zip(entry)
    except OSError:
        pass
    return _NO_LISTING
