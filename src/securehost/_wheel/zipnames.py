"""Archive member names: decoding, path safety, and collision keys.

A member name is decoded as UTF-8 when the entry's flag bit 11 is set, and must be plain ASCII
otherwise: the zip specification says unflagged names are CP437, but most tools decode them as UTF-8
or as the local code page, so a non-ASCII name without the flag would name different files for
different readers. It is rejected.

A decoded name is *safe* when it is a relative POSIX path that every platform reads the same way:

* not empty, at most ``max_length`` bytes;
* no control or format characters (Unicode categories ``Cc``, ``Cf``, ``Zl``, ``Zp``): NUL truncates
  names in C code, and bidirectional overrides or zero-width characters make a name display as
  another;
* no backslash (a separator on Windows), no colon (drive letters ``C:x`` and NTFS alternate streams
  ``a.py:s``);
* no leading ``/``, no empty, ``.`` or ``..`` segment, and no segment ending in a dot or a space
  (Windows strips those, so ``a.`` and ``a`` would be one file). Only a directory entry ends with
  ``/``.

Two names collide when they are equal after NFC normalisation and case folding (case-insensitive or
normalising file systems would store them as one file), or when one names a file and the other uses
it as a directory.
"""

from __future__ import annotations

import unicodedata
from typing import Final

__all__ = ["collision_key", "decode_name", "name_problem"]

_BAD_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp"})
_ASCII_BAD: Final = frozenset(chr(c) for c in (*range(0x20), 0x7F)) | {"\\", ":"}


def decode_name(raw: bytes, *, utf8: bool) -> str | None:
    """Decode a raw member name, or return ``None`` when it is not unambiguous text.

    Args:
        raw: the name bytes from the central directory (untrusted).
        utf8: whether the entry's flag bit 11 (language encoding) is set.

    Returns:
        The decoded name, or ``None`` for invalid UTF-8, or non-ASCII bytes without the UTF-8 flag.
    """
    if raw.isascii():
        return raw.decode("ascii")
    if not utf8:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def name_problem(name: str, *, is_dir: bool) -> str | None:
    """Say why *name* is not a safe relative path, or return ``None`` when it is.

    Args:
        name: the decoded member name (untrusted).
        is_dir: whether the entry is a directory entry (its name ends with ``/``).

    Returns:
        A short description of the first problem found, or ``None``.
    """
    if not name:
        return "empty name"
    if name.isascii():
        bad = next((c for c in name if c in _ASCII_BAD), None)
    else:
        bad = next((c for c in name if c in _ASCII_BAD or unicodedata.category(c) in _BAD_CATEGORIES), None)
    if bad is not None:
        return f"forbidden character {bad!r}"
    if name.startswith("/"):
        return "absolute path"
    path = name[:-1] if is_dir else name
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            return f"{segment!r} path segment" if segment else "empty path segment"
        if segment[-1] in ". ":
            return f"path segment {segment!r} ends with a dot or a space"
    return None


def collision_key(name: str) -> str:
    """Return the key under which case-insensitive, normalising file systems would store *name*.

    Args:
        name: a decoded member name, without a trailing ``/``.

    Returns:
        The NFC form of the case-folded NFC form of *name*.
    """
    if name.isascii():
        return name.lower()
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", name).casefold())
