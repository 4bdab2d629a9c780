r"""``entry_points.txt``: a strict parser that agrees with :mod:`importlib.metadata` or rejects.

The file is parsed with :mod:`configparser` (``strict=True``, no interpolation), but
``configparser`` and :mod:`importlib.metadata` (which the Host uses to discover plugins) read some
lines differently. Every line where they could disagree is rejected before ``configparser`` sees it:

* ``:`` is not a delimiter (only ``=`` is), and keys keep their case;
* a line starting with ``;`` (a comment for ``configparser``, an entry for ``importlib.metadata``);
* an indented non-blank line (a continuation for ``configparser``, a new line for the other);
* a section line that is not exactly ``[group]`` (``configparser`` ignores what follows ``]``);
* a line separator other than ``\n`` or ``\r\n`` (``str.splitlines`` splits on ``\x0c``,
  ``\x85``, ``\u2028`` and others, ``configparser`` does not), and NUL or a byte order mark.

Groups match ``[A-Za-z0-9_.-]+``. Names are non-empty, printable, and do not start with ``[``,
``#`` or ``;``. Values follow the entry points specification: ``module.path`` or
``module.path:attr.path`` (each part a Python identifier), optionally followed by ``[extra, ...]``.
A group or a name listed twice is an error.
"""

from __future__ import annotations

import configparser
import keyword
import re
from typing import Final

from securehost.exceptions import WheelFormatError

__all__ = ["parse_entry_points"]

_MAX_SIZE: Final = 1 << 20
_GROUP_RE: Final = re.compile(r"[A-Za-z0-9_.-]+")
_SECTION_RE: Final = re.compile(r"\[[A-Za-z0-9_.-]+\]")
_VALUE_RE: Final = re.compile(
    r"(?P<module>[\w.]+)\s*(?::\s*(?P<attr>[\w.]+)\s*)?(?:\[(?P<extras>[^\[\]]*)\]\s*)?"
)
_EXTRA_RE: Final = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
_NO_DEFAULT: Final = "\x00securehost: no default section\x00"
#: characters that split lines for str.splitlines but not for configparser (and NUL, BOM)
_SEPARATORS_RE: Final = re.compile("\r(?!\n)|[\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\ufeff]")


def _dotted(text: str) -> bool:
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in text.split("."))


def check_entry_point_value(value: str) -> str | None:
    """Say why *value* is not a valid entry point object reference, or return ``None``.

    Args:
        value: the text after ``=`` (untrusted).

    Returns:
        A short description of the problem, or ``None`` when the value is valid.
    """
    match = _VALUE_RE.fullmatch(value)
    if match is None:
        return "is not 'module:attribute [extras]'"
    if not _dotted(match["module"]):
        return "has an invalid module path"
    if match["attr"] is not None and not _dotted(match["attr"]):
        return "has an invalid attribute path"
    extras = match["extras"]
    if extras is not None and not all(_EXTRA_RE.fullmatch(e.strip()) for e in extras.split(",")):
        return "has an invalid extra"
    return None


def _check_lines(text: str) -> None:
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0].isspace():
            raise WheelFormatError(f"entry_points.txt line {number} is indented")
        if stripped.startswith(";"):
            raise WheelFormatError(f"entry_points.txt line {number} starts with ';'")
        if stripped.startswith("[") and not _SECTION_RE.fullmatch(stripped):
            raise WheelFormatError(f"entry_points.txt line {number} is not a valid [group]")


def parse_entry_points(data: bytes, *, max_size: int = _MAX_SIZE) -> dict[str, dict[str, str]]:
    """Parse ``entry_points.txt``.

    Args:
        data: the file's bytes (untrusted).
        max_size: reject larger files.

    Returns:
        ``{group: {name: value}}`` in file order; values are stripped of surrounding whitespace.

    Raises:
        TypeError: *data* is not bytes.
        WheelFormatError: the file is malformed, ambiguous, too large, or repeats a group or name.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    if len(data) > max_size:
        raise WheelFormatError(f"entry_points.txt is {len(data)} bytes, more than {max_size}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WheelFormatError("entry_points.txt is not UTF-8") from exc
    if _SEPARATORS_RE.search(text):
        raise WheelFormatError("entry_points.txt contains an ambiguous line separator or NUL")
    _check_lines(text)
    parser = configparser.ConfigParser(
        strict=True,
        interpolation=None,
        delimiters=("=",),
        comment_prefixes=("#",),
        inline_comment_prefixes=None,
        empty_lines_in_values=False,
        default_section=_NO_DEFAULT,
    )
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        message = str(exc).splitlines()[0][:200]
        raise WheelFormatError(f"entry_points.txt is malformed: {message}") from exc
    if parser.defaults():  # pragma: no cover - the default section name cannot pass _check_lines
        raise WheelFormatError("entry_points.txt has a default section")
    result: dict[str, dict[str, str]] = {}
    for group in parser.sections():
        if not _GROUP_RE.fullmatch(group):  # pragma: no cover - _check_lines saw every header
            raise WheelFormatError(f"entry point group {group!r} is invalid")
        entries: dict[str, str] = {}
        for name, value in parser.items(group, raw=True):
            if not name or name[0] in "[#;" or not name.isprintable():
                raise WheelFormatError(f"entry point name {name!r} in [{group}] is invalid")
            problem = check_entry_point_value(value)
            if problem is not None:
                raise WheelFormatError(f"entry point {group}/{name} = {value!r} {problem}")
            entries[name] = value
        result[group] = entries
    return result
