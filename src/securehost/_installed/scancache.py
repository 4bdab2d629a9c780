"""The discovery cache: directory listings and parsed ``entry_points.txt`` files, reused while they are unchanged.

:class:`DiscoveryCache` keys a directory's listing by the directory's ``(st_dev, st_ino, st_mtime_ns, st_ctime_ns,
st_size)`` and a parsed ``entry_points.txt`` by the same signature of the file (:func:`securehost._installed.scan.
signature`). A hit replaces ``scandir`` + per-file ``open``/``read``/``decode``/``parse`` with one ``stat`` per
directory and per file. Like git's index, it never keeps a scan of a path whose modification or change time is less
than two seconds old ("racily clean").

Given a :class:`ScanRecord` (a host passes its file record, :mod:`securehost._installed.filerecord`), it also keeps
each scan there, as plain data, and takes it from there on a miss: the scans of one start-up serve the next, on the
same ``stat`` identity. What that trusts is what the file record trusts (``st_ctime`` cannot be set from user space),
and the paranoid mode, which has no record, turns it off. A scan only finds candidates: everything a candidate's
verdict rests on is checked again (its signed files, against the file record or by hashing).
"""

from __future__ import annotations

import os
import stat
import threading
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, final

from securehost._installed.scan import (
    EntryPointsFile,
    Listing,
    MetadataLocation,
    list_dir,
    read_entry_points,
    signature,
    storable,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DiscoveryCache", "ScanRecord"]

Signature = tuple[int, int, int, int, int]
_T = TypeVar("_T")
#: What a scan is kept as in a record, with the version of its encoding (another version's is not read).
_LISTING: Final = "listing/1"
_ENTRY_POINTS: Final = "entry_points/1"
_NO_ENTRY_POINTS: Final = EntryPointsFile(groups={}, error=None)


class ScanRecord(Protocol):
    """Where a :class:`DiscoveryCache` keeps its scans between processes (the host's file record)."""

    def recall(self, kind: str, path: str, st: os.stat_result) -> Any | None:
        """Return what was remembered as *kind* for *path* while it had the identity of *st*, or ``None``."""

    def remember(self, kind: str, path: str, st: os.stat_result, value: Any) -> None:
        """Remember *value* (marshal-able) as *kind* for *path*, made while it had the identity of *st*."""


def _encode_listing(listing: Listing) -> tuple[Any, ...]:
    """A directory's :class:`Listing` (:func:`list_dir`'s) as plain data: one tuple per location, then the name sets."""
    locations = tuple(
        (loc.kind, os.path.basename(loc.path), loc.canonical, loc.version, loc.entry_points_file is not None)
        for loc in listing.locations
    )
    return (locations, sorted(listing.editable_names), listing.interrupted, sorted(listing.tops or ()))


def _decode_listing(entry: str, value: Any) -> Listing | None:
    """The :class:`Listing` of directory *entry* that :func:`_encode_listing` gave *value* for (``None``: not one)."""
    if type(value) is not tuple or len(value) != 4:
        return None
    locations, editable, interrupted, tops = value
    made = []
    for kind, name, canonical, version, has_eps in locations:
        path = os.path.join(entry, name)
        made.append(
            MetadataLocation(
                kind=kind,
                path=path,
                site=entry,
                canonical=canonical,
                version=version,
                entry_points_file=os.path.join(path, "entry_points.txt") if has_eps else None,
            )
        )
    return Listing(
        locations=tuple(made),
        editable_names=frozenset(editable),
        interrupted=tuple(interrupted),
        tops=frozenset(tops),
    )


def _encode_entry_points(parsed: EntryPointsFile) -> tuple[Any, ...]:
    return (tuple((group, tuple(pairs)) for group, pairs in parsed.groups.items()), parsed.error)


def _decode_entry_points(value: Any) -> EntryPointsFile | None:
    if type(value) is not tuple or len(value) != 2:
        return None
    groups, error = value
    return EntryPointsFile(groups={group: tuple(map(tuple, pairs)) for group, pairs in groups}, error=error)


@final
class DiscoveryCache:
    """Reuses directory listings and parsed ``entry_points.txt`` files across scans while they are unchanged.

    Thread-safe. Memory grows with the number of distributions seen; call :meth:`clear` to drop everything.

    Args:
        record: also keep the scans there, and take them from there when this cache has none: across processes (a
            host passes its file record, which checks each scan's ``stat`` identity as this cache does).
    """

    __slots__ = ("_eps", "_listings", "_lock", "_record")

    def __init__(self, *, record: ScanRecord | None = None) -> None:
        self._lock = threading.Lock()
        self._listings: dict[str, tuple[Signature, Listing]] = {}
        self._eps: dict[str, tuple[Signature, EntryPointsFile]] = {}
        self._record = record

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._listings.clear()
            self._eps.clear()

    def __len__(self) -> int:
        return len(self._listings) + len(self._eps)

    def listing(self, entry: str, st: os.stat_result) -> Listing:
        """Return the listing of directory *entry* whose current ``stat`` is *st*.

        Raises:
            OSError: the directory cannot be listed.
        """
        sig = signature(st)
        hit = self._listings.get(entry)
        if hit is not None and hit[0] == sig:
            return hit[1]
        record = self._record
        listing = _recalled(record, _LISTING, entry, st, lambda value: _decode_listing(entry, value))
        if listing is None:
            listing = list_dir(entry)
            # only a directory that holds distributions: listing one without is cheap, and such a directory (a
            # script's own, the working directory) may change on every run, which would rewrite the record each time
            if record is not None and listing.locations:
                record.remember(_LISTING, entry, st, _encode_listing(listing))
        if storable(st):
            with self._lock:
                self._listings[entry] = (sig, listing)
        return listing

    def entry_points(self, loc: MetadataLocation) -> EntryPointsFile:
        """Return the parsed ``entry_points.txt`` of *loc*."""
        path = loc.entry_points_file
        if path is None or loc.kind == "zip":
            return read_entry_points(loc, None)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return _NO_ENTRY_POINTS
        except OSError as exc:
            return EntryPointsFile(groups={}, error=f"entry_points.txt cannot be read: {exc}")
        sig = signature(st)
        hit = self._eps.get(path)
        if hit is not None and hit[0] == sig:
            return hit[1]
        regular = stat.S_ISREG(st.st_mode)
        record = self._record if regular else None
        parsed = _recalled(record, _ENTRY_POINTS, path, st, _decode_entry_points)
        if parsed is None:
            parsed = read_entry_points(loc, None)
            if record is not None:
                record.remember(_ENTRY_POINTS, path, st, _encode_entry_points(parsed))
        if regular and storable(st):
            with self._lock:
                self._eps[path] = (sig, parsed)
        return parsed


def _recalled(
    record: ScanRecord | None, kind: str, path: str, st: os.stat_result, decode: Callable[[Any], _T | None]
) -> _T | None:
    """What *record* remembers as *kind* for *path* with identity *st*, decoded; ``None`` for none or another shape."""
    if record is None:
        return None
    value = record.recall(kind, path, st)
    if value is None:
        return None
    try:
        return decode(value)
    except (TypeError, ValueError):  # authenticated, but not the shape this version writes
        return None
