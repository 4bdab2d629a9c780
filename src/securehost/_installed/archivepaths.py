"""Mapping a wheel's archive paths to where an installer puts them, and to the module names they provide.

Pure functions over strings: no file system access, so they are easy to test exhaustively (Hypothesis) and cannot
raise anything but :class:`~securehost.exceptions.WheelFormatError`.

Where wheel members land (PEP 427 / PEP 491):

* members outside ``{name}-{version}.data/`` go to the site directory (``purelib`` or ``platlib``, which securehost
  requires to be the same directory: the one holding the ``.dist-info``);
* ``.data/purelib/X`` and ``.data/platlib/X`` go to the site directory as ``X``;
* ``.data/scripts/X``: installers rewrite the ``#!python`` line, so the installed bytes differ from the signed ones.
  They are not re-hashed, never imported, and reported in the evidence;
* ``.data/headers/X`` and ``.data/data/X`` land outside the site directory (the include directory, the prefix).
  They are not re-hashed and never imported either, and are reported in the evidence;
* any other ``.data/KEY`` is rejected: no installer knows where it goes.
"""

from __future__ import annotations

import importlib.machinery
import keyword
from typing import Final, Literal

from securehost.exceptions import WheelFormatError

__all__ = ["check_archive_path", "import_name", "map_archive_path", "module_for_path"]

UNVERIFIED_SCHEMES: Final = frozenset({"scripts", "headers", "data"})
_SITE_SCHEMES: Final = frozenset({"purelib", "platlib"})
MAX_PATH_LENGTH: Final = 4096
_ALL_SUFFIXES: Final = tuple(sorted(importlib.machinery.all_suffixes(), key=len, reverse=True))

Destination = Literal["site", "scripts", "headers", "data"]
ModuleFileKind = Literal["source", "extension", "bytecode"]


def check_archive_path(path: str) -> None:
    """Check that *path* is a relative, normalised POSIX path that stays inside its root.

    Args:
        path: an archive path from a (verified) subject list.

    Raises:
        WheelFormatError: the path is empty, absolute, has a backslash, a control character, or an empty, ``.`` or
            ``..`` segment.
    """
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_LENGTH:
        raise WheelFormatError(f"archive path {str(path)[:60]!r} is empty, too long or not a string")
    if path.startswith("/") or "\\" in path or not path.isprintable():
        raise WheelFormatError(f"archive path {path!r} is absolute or has forbidden characters")
    if any(segment in ("", ".", "..") for segment in path.split("/")):
        raise WheelFormatError(f"archive path {path!r} is not normalised")


def map_archive_path(path: str, dist_info_name: str) -> tuple[Destination, str]:
    """Return where an installer puts the wheel member *path*.

    Args:
        path: the archive path, e.g. ``acme_csv/__init__.py`` or ``acme_csv-1.0.data/purelib/x.py``.
        dist_info_name: the name of the ``.dist-info`` directory, e.g. ``acme_csv-1.0.dist-info``.

    Returns:
        ``(destination, relative path)``: ``("site", "acme_csv/__init__.py")`` for files in the site directory, or
        ``("scripts" | "headers" | "data", path inside that scheme)`` for files that land elsewhere.

    Raises:
        WheelFormatError: *path* is unsafe (see :func:`check_archive_path`), names an unknown ``.data`` scheme, or
            *dist_info_name* does not end with ``.dist-info``.
    """
    check_archive_path(path)
    if not dist_info_name.endswith(".dist-info") or "/" in dist_info_name:
        raise WheelFormatError(f"{dist_info_name!r} is not a .dist-info directory name")
    data_prefix = dist_info_name[: -len(".dist-info")] + ".data/"
    if not path.startswith(data_prefix):
        return "site", path
    scheme, _, rest = path[len(data_prefix) :].partition("/")
    if not rest:
        raise WheelFormatError(f"archive path {path!r} names no file inside its .data scheme")
    if scheme in _SITE_SCHEMES:
        return "site", rest
    if scheme == "scripts":
        return "scripts", rest
    if scheme == "headers":
        return "headers", rest
    if scheme == "data":
        return "data", rest
    raise WheelFormatError(f"archive path {path!r} uses the unknown .data scheme {scheme!r}")


def _identifier(part: str) -> bool:
    return part.isascii() and part.isidentifier() and not keyword.iskeyword(part)


def module_for_path(rel: str) -> tuple[str, bool, ModuleFileKind] | None:
    """Return the module a site-relative file provides, if Python could import it under a name.

    Args:
        rel: a path relative to the site directory (already checked).

    Returns:
        ``(module name, is package, kind)``, or ``None`` if the file is not an importable module (data, stubs,
        anything below ``__pycache__`` or below a directory whose name is not an identifier).
    """
    *dirs, filename = rel.split("/")
    kind: ModuleFileKind
    stem: str | None = None
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if filename.endswith(suffix):
            stem, kind = filename[: -len(suffix)], "extension"
            break
    else:
        if filename.endswith(".py"):
            stem, kind = filename[:-3], "source"
        elif filename.endswith(".pyc"):
            stem, kind = filename[:-4], "bytecode"
    if stem is None or not all(_identifier(part) for part in dirs):
        return None
    if stem == "__init__":
        return (".".join(dirs), True, kind) if dirs else None
    if not _identifier(stem):
        return None
    return ".".join((*dirs, stem)), False, kind


def import_name(filename: str, *, is_dir: bool) -> str | None:
    """Return the top-level name under which Python would import the directory entry *filename*, if any."""
    if is_dir:
        return filename
    for suffix in _ALL_SUFFIXES:
        if filename.endswith(suffix) and len(filename) > len(suffix):
            return filename[: -len(suffix)]
    return None
