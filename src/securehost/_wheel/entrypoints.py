"""Entry points: a strict parser for ``module:attr`` values and for ``entry_points.txt`` files.

Both parsers take untrusted text (from an installed ``.dist-info`` directory) and raise only
:class:`~securehost.exceptions.EntryPointFormatError`. They are stricter than :mod:`importlib.metadata`:

* a module or attribute path is a dotted run of ASCII identifiers that are not keywords (``1abc``, ``a..b``,
  ``.rel``, ``import`` and non-ASCII names are rejected, so a name never depends on Unicode normalisation);
* an ``entry_points.txt`` line outside any section, a line without ``=``, an empty name and a name given twice in one
  group are errors, not silently skipped or overwritten.
"""

from __future__ import annotations

import keyword
import re
from typing import Final, final

from securehost._patterns import lazy_pattern
from securehost._records import Record, setfield
from securehost.exceptions import EntryPointFormatError, WheelFormatError

__all__ = ["EntryPointSpec", "parse_entry_point_value", "parse_entry_points", "parse_entry_points_text"]

_MAX_FILE_SIZE: Final = 1 << 20


_section_re = lazy_pattern(r"\[[A-Za-z0-9_.-]+\]")


#: Characters that split lines for str.splitlines but not for configparser or importlib.metadata (and NUL, BOM).
_separators_re = lazy_pattern("\r(?!\n)|[\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\ufeff]")


MAX_VALUE_LENGTH: Final = 512
MAX_NAME_LENGTH: Final = 200
_IDENT: Final = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED: Final = rf"{_IDENT}(?:\.{_IDENT})*"
_VALUE_RE: Final = re.compile(
    rf"[ \t]*(?P<module>{_DOTTED})[ \t]*(?::[ \t]*(?P<attr>{_DOTTED})[ \t]*)?(?:\[(?P<extras>[^\[\]]*)\][ \t]*)?",
    re.ASCII,
)


_extra_re = lazy_pattern(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?", re.ASCII)


_GROUP_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", re.ASCII)


def _check_dotted(text: str, what: str, value: str) -> None:
    for part in text.split("."):
        if keyword.iskeyword(part):
            raise EntryPointFormatError(f"entry point {value!r}: {what} contains the keyword {part!r}")


def parse_entry_point_value(value: str) -> tuple[str, str | None, tuple[str, ...]]:
    """Split an entry-point value ``module[:attr][ [extras]]`` into its parts.

    Args:
        value: the untrusted value, as found in ``entry_points.txt``.

    Returns:
        ``(module, attr or None, extras)``.

    Raises:
        TypeError: *value* is not a string.
        EntryPointFormatError: the value does not follow the (strict) grammar.
    """
    if not isinstance(value, str):
        raise TypeError(f"entry point value must be str, not {type(value).__name__}")
    if len(value) > MAX_VALUE_LENGTH:
        raise EntryPointFormatError(f"entry point value is longer than {MAX_VALUE_LENGTH} characters")
    match = _VALUE_RE.fullmatch(value)
    if match is None:
        raise EntryPointFormatError(f"entry point value {value!r} is not 'module[:attr]'")
    module, attr, extras_text = match.group("module", "attr", "extras")
    _check_dotted(module, "the module", value)
    if attr is not None:
        _check_dotted(attr, "the attribute", value)
    extras: tuple[str, ...] = ()
    if extras_text is not None:
        parts = [part.strip() for part in extras_text.split(",")]
        if not all(_extra_re().fullmatch(part) for part in parts):
            raise EntryPointFormatError(f"entry point {value!r} has malformed extras")
        extras = tuple(parts)
    return module, attr, extras


def check_entry_point_name(name: str) -> None:
    """Check an entry-point name (the part before ``=``).

    Args:
        name: the untrusted name.

    Raises:
        EntryPointFormatError: the name is empty, too long, or contains ``=``, ``[``, ``]`` or control characters.
    """
    if not name or len(name) > MAX_NAME_LENGTH:
        raise EntryPointFormatError(f"entry point name {name[:40]!r} is empty or too long")
    if name != name.strip() or not name.isprintable() or "=" in name or "[" in name or "]" in name:
        raise EntryPointFormatError(f"entry point name {name!r} contains forbidden characters")


def check_group(group: str) -> None:
    """Check an entry-point group name.

    Args:
        group: the group name (from the host, or from a file).

    Raises:
        TypeError: *group* is not a string.
        EntryPointFormatError: the group name is empty or not ``[A-Za-z0-9_][A-Za-z0-9_.-]*``.
    """
    if not isinstance(group, str):
        raise TypeError(f"group must be str, not {type(group).__name__}")
    if len(group) > MAX_NAME_LENGTH or _GROUP_RE.fullmatch(group) is None:
        raise EntryPointFormatError(f"entry point group {group!r} is malformed")


def parse_entry_points_text(text: str) -> dict[str, tuple[tuple[str, str], ...]]:
    """Parse the text of an ``entry_points.txt`` file into ``{group: ((name, value), ...)}``.

    Values are returned unparsed (see :func:`parse_entry_point_value`): a bad value in an unrelated group must not
    make a distribution unusable. The file structure, however, must be sound.

    Args:
        text: the untrusted, already decoded file content.

    Returns:
        A dict from group name to its ``(name, value)`` pairs, in file order.

    Raises:
        EntryPointFormatError: a line is outside any section, a section header or a line is malformed, a group
            appears twice, or a name appears twice in one group.
    """
    groups: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    names: set[str] = set()
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[":
            if line[-1] != "]":
                raise EntryPointFormatError(f"line {lineno}: malformed section header")
            group = line[1:-1].strip()
            check_group(group)
            if group in groups:
                raise EntryPointFormatError(f"line {lineno}: group {group!r} appears twice")
            current = groups[group] = []
            names = set()
            continue
        if current is None:
            raise EntryPointFormatError(f"line {lineno}: entry outside of a [group] section")
        name, sep, value = line.partition("=")
        name = name.strip()
        if not sep:
            raise EntryPointFormatError(f"line {lineno}: expected 'name = value'")
        check_entry_point_name(name)
        if name in names:
            raise EntryPointFormatError(f"line {lineno}: entry point {name!r} appears twice in its group")
        names.add(name)
        current.append((name, value.strip()))
    return {group: tuple(entries) for group, entries in groups.items()}


@final
class EntryPointSpec(Record):
    """One parsed entry point of a discovered distribution.

    Attributes:
        group: the entry-point group.
        name: the entry-point name.
        value: the raw value, ``module[:attr]``.
        module: the module to import.
        attr: the dotted attribute path inside the module, or ``None`` for the module itself.
        extras: extras named in the value (informational; securehost installs nothing).
    """

    __slots__ = ("attr", "extras", "group", "module", "name", "value")
    group: str
    name: str
    value: str
    module: str
    attr: str | None
    extras: tuple[str, ...]

    def __init__(
        self, *, group: str, name: str, value: str, module: str, attr: str | None, extras: tuple[str, ...] = ()
    ) -> None:
        setfield(self, "group", group)
        setfield(self, "name", name)
        setfield(self, "value", value)
        setfield(self, "module", module)
        setfield(self, "attr", attr)
        setfield(self, "extras", extras)

    @classmethod
    def parse(cls, value: str, *, group: str, name: str) -> EntryPointSpec:
        """Parse and validate one entry point.

        Args:
            value: the untrusted value.
            group: the group it was found in.
            name: its untrusted name.

        Returns:
            The parsed entry point.

        Raises:
            TypeError: an argument is not a string.
            EntryPointFormatError: the group, name or value is malformed.
        """
        check_group(group)
        if not isinstance(name, str):
            raise TypeError(f"name must be str, not {type(name).__name__}")
        check_entry_point_name(name)
        module, attr, extras = parse_entry_point_value(value)
        return cls(group=group, name=name, value=value.strip(), module=module, attr=attr, extras=extras)


def _check_unambiguous_lines(text: str) -> None:
    """Reject lines that different ``entry_points.txt`` readers (configparser, importlib.metadata) read differently."""
    if _separators_re().search(text):
        raise EntryPointFormatError("entry_points.txt contains an ambiguous line separator or NUL")
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if line[0].isspace():
            raise EntryPointFormatError(f"entry_points.txt line {number} is indented")
        if stripped.startswith(";"):
            raise EntryPointFormatError(f"entry_points.txt line {number} starts with ';'")
        if stripped.startswith("[") and not _section_re().fullmatch(stripped):
            raise EntryPointFormatError(f"entry_points.txt line {number} is not a valid [group]")


def parse_entry_points(data: bytes, *, max_size: int = _MAX_FILE_SIZE) -> dict[str, dict[str, str]]:
    """Parse a wheel's ``entry_points.txt`` strictly: structure, every value, and no reader-dependent lines.

    This is the strict reading used to verify wheels: unlike :func:`parse_entry_points_text` (discovery, which
    tolerates a bad value in an unrelated group), every value of every group must be valid.

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
        _check_unambiguous_lines(text)
        groups = parse_entry_points_text(text)
        for entries in groups.values():
            for _name, value in entries:
                parse_entry_point_value(value)
    except UnicodeDecodeError as exc:
        raise WheelFormatError("entry_points.txt is not UTF-8") from exc
    except EntryPointFormatError as exc:
        raise WheelFormatError(f"entry_points.txt is malformed: {exc}") from exc
    return {group: dict(entries) for group, entries in groups.items()}
