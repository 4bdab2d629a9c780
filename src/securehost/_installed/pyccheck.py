"""Is a ``__pycache__`` file exactly what compiling the signed source gives? Compile and compare.

securehost never runs a ``.pyc`` from the site directory, but Python does whenever the plugin is imported without
securehost (the host importing it directly, a test run, another tool). So a cache file in a plugin's package is
accepted only if its code is exactly the code of the verified source, compiled here: the installed ``RECORD`` is
unsigned, written where the attacker writes, and vouches for nothing.

A cache file ``pkg/__pycache__/mod.{cache tag}[.opt-N].pyc`` is accepted when:

* ``pkg/mod.py`` is a signed file, its bytes (read now) still hash to the signed SHA-256;
* the file name carries this interpreter's cache tag (a file compiled for another interpreter cannot be compiled
  here to compare; it is refused) and an optimisation level of 0, 1 or 2;
* the header carries this interpreter's magic number and valid flags; a hash-based file carries the source's hash, a
  timestamp-based one the source's size (the timestamp only decides whether Python uses the file; the code is what
  is checked);
* the code after the header is, byte for byte, ``marshal.dumps(compile(source, path, "exec", optimize=N))``. When the
  bytes differ only because the file was compiled under another path (``pip install --target`` compiles in a
  temporary directory), the file is unmarshalled — only when it is no larger than the expected code plus 64 KiB — and
  its code objects must compare equal (CPython's code equality: byte code, constants, names; not the file name) and
  so must their line tables, nested code included (Python 3.10's code equality leaves line tables out, and a cache
  file with other line numbers would make tracebacks point at the wrong lines).

Anything else is refused with the reason. The :class:`~securehost._installed.filerecord.FileRecord` keeps the result
by file identity, so a warm start-up compiles nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sys
import types
from typing import TYPE_CHECKING, Final

from securehost._digests import compare_digest
from securehost._fileio import read_file
from securehost._patterns import lazy_pattern

if TYPE_CHECKING:
    from collections.abc import Mapping

    from securehost._installed.filerecord import FileRecord

__all__ = ["SOURCE_MODIFIED", "check_cached_bytecode"]

#: Returned when the signed source itself no longer matches: reported as ``INSTALLED_FILE_MODIFIED``.
SOURCE_MODIFIED: Final = "its signed source changed after signing"


_name_re = lazy_pattern(r"(?P<stem>[^.]+)\.(?P<tag>[^.]+?)(?:\.opt-(?P<opt>[12]))?\.pyc")


_MAX_SOURCE: Final = 64 * 1024 * 1024
_SLACK: Final = 64 * 1024
_FLAG_HASH: Final = 0b01
_FLAG_CHECK: Final = 0b10


def _expected_code(source: bytes, path: str, optimize: int) -> bytes | None:
    try:
        code = compile(source, path, "exec", dont_inherit=True, optimize=optimize)
    except (SyntaxError, ValueError):
        return None
    return marshal.dumps(code)


def _same_code(body: bytes, expected: bytes) -> bool:
    if body == expected:
        return True
    if len(body) > len(expected) + _SLACK:
        return False
    try:
        found = marshal.loads(body)  # noqa: S302 - bounded, and never executed: only compared
        wanted = marshal.loads(expected)  # noqa: S302 - our own compilation
    except (ValueError, TypeError, EOFError):
        return False
    return type(found) is type(wanted) and bool(found == wanted) and _same_line_tables(found, wanted)


def _same_line_tables(found: object, wanted: object) -> bool:
    """Whether two equal code objects, and the code objects nested in them, have the same line tables."""
    pairs = [(found, wanted)]
    while pairs:  # a loop, not recursion: the nesting of a file that is not ours is not ours either
        a, b = pairs.pop()
        if not (isinstance(a, types.CodeType) and isinstance(b, types.CodeType)):
            continue
        if a.co_linetable != b.co_linetable or len(a.co_consts) != len(b.co_consts):
            return False
        pairs.extend(zip(a.co_consts, b.co_consts, strict=True))
    return True


def _header_problem(header: bytes, source: bytes) -> str | None:
    if len(header) < 16 or header[:4] != importlib.util.MAGIC_NUMBER:
        return "not a cache file of this interpreter (magic number)"
    flags = int.from_bytes(header[4:8], "little")
    if flags & ~(_FLAG_HASH | _FLAG_CHECK) or flags == _FLAG_CHECK:
        return "invalid header flags"
    if flags & _FLAG_HASH:
        if header[8:16] != importlib.util.source_hash(source):
            return "its header names another source (hash)"
    elif int.from_bytes(header[12:16], "little") != len(source) & 0xFFFFFFFF:
        return "its header names another source (size)"
    return None


def check_cached_bytecode(
    site: str, rel: str, st: os.stat_result, signed: Mapping[str, str], record: FileRecord | None
) -> str | None:
    """Judge the cache file *rel* (a file in a ``__pycache__`` directory of a signed package).

    Args:
        site: the site directory.
        rel: the cache file's path relative to *site*.
        st: its ``lstat`` from the walk (a regular file).
        signed: every signed site-relative path -> SHA-256 (hex).
        record: the file record (``None``: paranoid, compile and compare every time).

    Returns:
        ``None`` if the file is exactly the compiled signed source, else why it is refused.
    """
    head, _, name = rel.rpartition("/")
    package = head[: -len("__pycache__")].rstrip("/")
    match = _name_re().fullmatch(name)
    if match is None:
        return "not a cache file name Python would read"
    if match["tag"] != sys.implementation.cache_tag:
        return f"compiled for another interpreter ({match['tag']}); only {sys.implementation.cache_tag} can be checked"
    source_rel = f"{package}/{match['stem']}.py" if package else f"{match['stem']}.py"
    source_sha = signed.get(source_rel)
    if source_sha is None:
        return f"{source_rel} is not a signed source"
    path = os.path.join(site, rel)
    if record is not None and record.bytecode_matches(path, st, source_sha):
        return None
    source_path = os.path.join(site, source_rel)
    try:
        source = read_file(source_path, _MAX_SOURCE)
        data = read_file(path, len(source) * 64 + _MAX_SOURCE)
    except OSError as exc:
        return f"cannot be compared: {exc}"
    if not compare_digest(hashlib.sha256(source).hexdigest(), source_sha):
        return SOURCE_MODIFIED  # the source's own check reports it; the plugin is rejected either way
    problem = _header_problem(data[:16], source)
    if problem is not None:
        return problem
    expected = _expected_code(source, source_path, int(match["opt"] or 0))
    if expected is None or not _same_code(data[16:], expected):
        return f"its code is not what compiling the signed {source_rel} gives"
    if record is not None:
        record.remember_bytecode(path, st, source_sha)
    return None
