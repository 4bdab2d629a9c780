"""A plugin directory and the distributions in it: names, versions, and the files each one's RECORD owns.

A plugin directory is a ``--target``-style directory that a :class:`~securehost.Host` is given as ``path=``: each
distribution is a top-level ``NAME-VERSION.dist-info`` with a ``RECORD`` whose paths are relative to the directory.
Every path is confined: a ``RECORD`` row that is absolute, climbs out with ``..``, or passes through a symbolic link
that leaves the directory is reported (``installed-file-unsafe``) and never touched.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Final

import attrs
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from securehost._models import value_model
from securehost._verdict import Reason, ReasonCode

__all__ = ["InstalledDistribution", "confined", "read_distribution", "read_target", "unsafe_reasons"]

_MAX_RECORD: Final = 16 * 1024 * 1024


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class InstalledDistribution:
    """A distribution found in a plugin directory.

    Attributes:
        name: the canonical distribution name.
        version: the version from the ``.dist-info`` directory name.
        dist_info: the ``.dist-info`` directory name, relative to the plugin directory.
        files: every path of its ``RECORD`` that stays inside the plugin directory, normalised, relative to it.
        unsafe: the ``RECORD`` paths that would leave it (never touched).
    """

    name: str
    version: str
    dist_info: str
    files: tuple[str, ...]
    unsafe: tuple[str, ...] = ()

    @property
    def parsed_version(self) -> Version | None:
        """The version, or ``None`` when it is not a PEP 440 version."""
        try:
            return Version(self.version)
        except InvalidVersion:
            return None


def confined(root: Path, relative: str) -> str | None:
    """Return *relative* normalised when it names a file strictly inside *root*, else ``None``.

    *root* must be resolved (no symbolic links). The nearest directory above the file that exists must resolve inside
    *root*, so that a link to elsewhere cannot turn a removal or a write into one outside it, also when the write
    first creates the missing directories below that link.
    """
    if not relative or "\x00" in relative or os.path.isabs(relative) or relative.startswith(("/", "\\")):
        return None
    normal = os.path.normpath(relative)
    if normal in (".", "") or normal == ".." or normal.startswith(".." + os.sep):
        return None
    parent = (root / normal).parent
    while not os.path.lexists(parent):
        parent = parent.parent
    if not Path(os.path.realpath(parent)).is_relative_to(root):
        return None
    return Path(normal).as_posix()


def _record_paths(data: bytes, record: Path) -> list[str]:
    text = data.decode("utf-8", errors="replace")
    try:
        return [row[0] for row in csv.reader(io.StringIO(text, newline="")) if row and row[0]]
    except csv.Error as exc:  # a NUL byte on Python 3.10, say: the RECORD cannot be read as a RECORD
        raise OSError(f"{record} is not a RECORD that can be read ({exc}); remove that distribution by hand") from exc


def read_distribution(root: Path, dist_info: str) -> InstalledDistribution:
    """Read one ``.dist-info`` directory of *root* (resolved).

    Raises:
        OSError: its ``RECORD`` cannot be read, is larger than 16 MiB, or is not CSV that :mod:`csv` reads.
    """
    stem = dist_info.removesuffix(".dist-info")
    name, _, version = stem.rpartition("-")
    record = root / dist_info / "RECORD"
    if record.stat().st_size > _MAX_RECORD:
        raise OSError(f"{record} is larger than {_MAX_RECORD} bytes")
    files: list[str] = []
    unsafe: list[str] = []
    for path in _record_paths(record.read_bytes(), record):
        normal = confined(root, path)
        if normal is None:
            unsafe.append(path)
        elif normal not in files:
            files.append(normal)
    return InstalledDistribution(
        name=canonicalize_name(name or stem),
        version=version,
        dist_info=dist_info,
        files=tuple(files),
        unsafe=tuple(unsafe),
    )


def read_target(root: Path) -> tuple[InstalledDistribution, ...]:
    """Return every distribution with a ``RECORD`` in the plugin directory *root* (resolved), by directory name.

    Raises:
        OSError: the directory or a ``RECORD`` cannot be read.
    """
    found = []
    for entry in sorted(os.listdir(root)):
        if entry.endswith(".dist-info") and (root / entry / "RECORD").is_file():
            found.append(read_distribution(root, entry))
    return tuple(found)


def unsafe_reasons(dist: InstalledDistribution) -> list[Reason]:
    """Return an ``installed-file-unsafe`` reason for each ``RECORD`` path of *dist* that leaves the directory."""
    return [
        Reason(
            code=ReasonCode.INSTALLED_FILE_UNSAFE,
            message=f"{dist.dist_info}/RECORD lists {path!r}, outside the plugin directory: nothing was changed; "
            "remove that distribution by hand after checking what it installed",
            subject=path,
        )
        for path in dist.unsafe
    ]
