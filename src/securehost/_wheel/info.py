"""Wheel metadata: the file name, the ``.dist-info`` directory, ``METADATA``, ``WHEEL``, and paths.

Decisions:

* The file name is parsed by :func:`packaging.utils.parse_wheel_filename`, and its components must
  also be plain ASCII: ``[A-Za-z0-9_.]``, plus ``!`` and ``+`` in the version (``packaging`` lets
  tags like ``any!`` through).
* Exactly one top-level ``*.dist-info`` directory, ``{name}-{version}.dist-info``, whose name and
  version equal the file name's after canonicalisation (stricter than pip's prefix check). The only
  top-level ``*.data`` directory allowed is the matching ``{name}-{version}.data``, and under it
  only the ``purelib``, ``platlib``, ``scripts``, ``headers`` and ``data`` schemes.
* ``METADATA`` and ``WHEEL`` are UTF-8 RFC 822 headers; a parser defect (a line that is neither a
  header nor a continuation) is an error. ``METADATA`` needs one ``Metadata-Version`` (1.x or 2.x),
  one valid ``Name`` and one PEP 440 ``Version``. ``WHEEL`` needs one ``Wheel-Version`` 1.x, one
  ``Root-Is-Purelib`` (``true`` or ``false``), and ``Tag`` lines whose expanded set is the file
  name's.
* Forbidden files (:func:`forbidden_files`, defined in :mod:`securehost._wheel.startup`) are
  those Python runs at start-up once installed: a ``.pth`` file, or a ``sitecustomize`` or
  ``usercustomize`` module or package at the top of site-packages (see that module).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

import attrs
from packaging.version import InvalidVersion, Version

from securehost._models import value_model
from securehost._names import canonicalize_name
from securehost._wheel.headers import plain_headers
from securehost._wheel.startup import forbidden_files
from securehost.exceptions import WheelFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "SCHEMES",
    "Metadata",
    "WheelFilename",
    "WheelMetadata",
    "find_dist_info",
    "forbidden_files",
    "installed_path",
    "parse_metadata",
    "parse_wheel_metadata",
    "top_level_dirs",
]

SCHEMES: Final = frozenset({"purelib", "platlib", "scripts", "headers", "data"})
_MAX_HEADER_FILE: Final = 1 << 20
_PLAIN_RE: Final = re.compile(r"[A-Za-z0-9_.]+")
_VERSION_PART_RE: Final = re.compile(r"[A-Za-z0-9_.!+]+")
_BUILD_RE: Final = re.compile(r"[0-9][A-Za-z0-9_.]*")
#: name-version[-build]-python-abi-platform, by number of parts
_FILENAME_PATTERNS: Final = {
    5: (_PLAIN_RE, _VERSION_PART_RE, _PLAIN_RE, _PLAIN_RE, _PLAIN_RE),
    6: (_PLAIN_RE, _VERSION_PART_RE, _BUILD_RE, _PLAIN_RE, _PLAIN_RE, _PLAIN_RE),
}
_TAG_RE: Final = re.compile(r"[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+")
_NAME_RE: Final = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE)
_METADATA_VERSION_RE: Final = re.compile(r"[12]\.[0-9]+")
_WHEEL_VERSION_RE: Final = re.compile(r"1\.[0-9]+")


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class WheelFilename:
    """A parsed wheel file name.

    Attributes:
        filename: the file name.
        name: the canonical distribution name.
        version: the normalised version.
        build: the build tag, or ``None``.
        tags: the expanded tags, like ``py3-none-any``.
    """

    filename: str
    name: str
    version: str
    build: str | None
    tags: frozenset[str]

    @classmethod
    def parse(cls, filename: str) -> WheelFilename:
        """Parse a wheel file name (a base name, not a path).

        Args:
            filename: the name (untrusted).

        Returns:
            The parsed name.

        Raises:
            WheelFormatError: the name is not a valid wheel file name.
        """
        parts = filename[:-4].split("-") if filename.endswith(".whl") else []
        patterns = _FILENAME_PATTERNS.get(len(parts), ())
        if not patterns or not all(p.fullmatch(x) for p, x in zip(patterns, parts, strict=True)):
            raise WheelFormatError(f"{filename!r} is not a valid wheel file name")
        # packaging.utils imports packaging.tags (~15 ms): wheel verification pays for it, the start-up path does not
        from packaging.utils import InvalidWheelFilename, parse_wheel_filename  # noqa: PLC0415

        try:
            name, version, build, tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion) as exc:
            raise WheelFormatError(f"{filename!r} is not a valid wheel file name: {exc}") from exc
        return cls(
            filename=filename,
            name=str(name),
            version=str(version),
            build="".join(map(str, build)) if build else None,
            tags=frozenset(str(tag) for tag in tags),
        )


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Metadata:
    """The fields of ``METADATA`` that securehost needs.

    Attributes:
        metadata_version: the ``Metadata-Version``.
        name: the ``Name`` as written.
        version: the normalised ``Version``.
    """

    metadata_version: str
    name: str
    version: str

    @property
    def canonical_name(self) -> str:
        """The canonical form of :attr:`name`."""
        return canonicalize_name(self.name)


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class WheelMetadata:
    """The fields of the ``WHEEL`` file.

    Attributes:
        wheel_version: the ``Wheel-Version``.
        root_is_purelib: whether the wheel's root goes to purelib (else platlib).
        tags: the expanded ``Tag`` values.
    """

    wheel_version: str
    root_is_purelib: bool
    tags: frozenset[str]


def _headers(data: bytes, what: str, max_size: int) -> Mapping[str, list[Any]]:
    """Return the header block of *data* as lowercase field name -> values (``compat32``'s ``get_all`` for each).

    Raises:
        TypeError: *data* is not bytes.
        WheelFormatError: too large, not UTF-8, a NUL or byte order mark, or a block the email parser finds defects in.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    if len(data) > max_size:
        raise WheelFormatError(f"{what} is {len(data)} bytes, more than {max_size}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WheelFormatError(f"{what} is not UTF-8") from exc
    if "\x00" in text or text.startswith("\ufeff"):
        raise WheelFormatError(f"{what} contains NUL or a byte order mark")
    plain = plain_headers(data)  # what the email parser gives, for the plain blocks nearly every wheel has
    return plain if plain is not None else email_headers(text, what)


def email_headers(text: str, what: str) -> dict[str, list[Any]]:
    """:func:`_headers` of a header block that is not plain, by the email parser (``compat32``).

    Raises:
        WheelFormatError: the parser finds a defect.
    """
    import email.parser  # noqa: PLC0415 - only for blocks that are not plain (about 9 ms of import)

    message = email.parser.HeaderParser().parsestr(text)  # the compat32 policy, the default
    if message.defects:
        raise WheelFormatError(f"{what} is malformed: {type(message.defects[0]).__name__}")
    fields: dict[str, list[Any]] = {}
    for name, value in message.items():
        fields.setdefault(name.lower(), []).append(value)
    return fields


def _one(message: Mapping[str, list[Any]], field: str, what: str) -> str:
    values = message.get(field.lower(), [])
    if len(values) != 1 or not isinstance(values[0], str):
        raise WheelFormatError(f"{what} must have exactly one {field}, not {len(values)}")
    value: str = values[0].strip()
    if any(c.isspace() and c != " " for c in value):
        raise WheelFormatError(f"{what} {field} spans lines")
    return value


def parse_metadata(data: bytes, *, max_size: int = _MAX_HEADER_FILE) -> Metadata:
    """Parse the header of a ``METADATA`` file.

    Args:
        data: the file's bytes (untrusted).
        max_size: reject larger files.

    Returns:
        The metadata version, name and normalised version.

    Raises:
        TypeError: *data* is not bytes.
        WheelFormatError: the file is malformed, or a needed field is missing, repeated or invalid.
    """
    message = _headers(data, "METADATA", max_size)
    metadata_version = _one(message, "Metadata-Version", "METADATA")
    if not _METADATA_VERSION_RE.fullmatch(metadata_version):
        raise WheelFormatError(f"METADATA has an unsupported Metadata-Version {metadata_version!r}")
    name = _one(message, "Name", "METADATA")
    if not _NAME_RE.fullmatch(name):
        raise WheelFormatError(f"METADATA Name {name!r} is not a valid distribution name")
    text = _one(message, "Version", "METADATA")
    try:
        version = Version(text)
    except InvalidVersion as exc:
        raise WheelFormatError(f"METADATA Version {text!r} is not a PEP 440 version") from exc
    return Metadata(metadata_version=metadata_version, name=name, version=str(version))


def parse_wheel_metadata(data: bytes, *, max_size: int = _MAX_HEADER_FILE) -> WheelMetadata:
    """Parse a ``WHEEL`` file.

    Args:
        data: the file's bytes (untrusted).
        max_size: reject larger files.

    Returns:
        The wheel version, the root scheme and the expanded tags.

    Raises:
        TypeError: *data* is not bytes.
        WheelFormatError: the file is malformed, or a needed field is missing, repeated or invalid.
    """
    message = _headers(data, "WHEEL", max_size)
    wheel_version = _one(message, "Wheel-Version", "WHEEL")
    if not _WHEEL_VERSION_RE.fullmatch(wheel_version):
        raise WheelFormatError(f"WHEEL has an unsupported Wheel-Version {wheel_version!r}")
    purelib = _one(message, "Root-Is-Purelib", "WHEEL")
    if purelib not in ("true", "false"):
        raise WheelFormatError(f"WHEEL Root-Is-Purelib must be true or false, not {purelib!r}")
    tags: set[str] = set()
    from packaging.tags import parse_tag  # noqa: PLC0415 - see parse_wheel_filename above

    for raw in message.get("tag", []):
        text = str(raw).strip()
        if not _TAG_RE.fullmatch(text):
            raise WheelFormatError(f"WHEEL Tag {text!r} is invalid")
        try:
            tags.update(str(tag) for tag in parse_tag(text))
        except ValueError as exc:  # packaging >= 26 raises InvalidTag (a ValueError) for an empty component
            raise WheelFormatError(f"WHEEL Tag {text!r} is invalid: {exc}") from exc
    if not tags:
        raise WheelFormatError("WHEEL has no Tag")
    return WheelMetadata(wheel_version=wheel_version, root_is_purelib=purelib == "true", tags=frozenset(tags))


def _split_versioned(directory: str, suffix: str) -> tuple[str, str] | None:
    name, sep, version = directory[: -len(suffix)].rpartition("-")
    return (name, version) if sep and name and version else None


def top_level_dirs(names: Iterable[str], suffix: str) -> list[str]:
    """Return the top-level directories of *names* that end with *suffix* in any case, sorted.

    Args:
        names: the archive member names.
        suffix: a lowercase suffix such as ``".dist-info"``.

    Returns:
        The directory names.
    """
    heads = {name.split("/", 1)[0] for name in names if "/" in name}
    return sorted(head for head in heads if head.casefold().endswith(suffix))


def find_dist_info(names: Iterable[str], wheel: WheelFilename) -> str:
    """Return the wheel's only ``.dist-info`` directory, which must match the file name.

    Args:
        names: the archive member names.
        wheel: the parsed file name.

    Returns:
        The directory name, like ``demo_plugin-1.0.dist-info``.

    Raises:
        WheelFormatError: there is no such directory, more than one, or it does not match.
    """
    found = top_level_dirs(names, ".dist-info")
    if len(found) != 1:
        raise WheelFormatError(f"the wheel has {len(found)} .dist-info directories, not 1")
    (directory,) = found
    parts = _split_versioned(directory, ".dist-info") if directory.endswith(".dist-info") else None
    try:
        matches = (
            parts is not None
            and canonicalize_name(parts[0]) == wheel.name
            and Version(parts[1]) == Version(wheel.version)
        )
    except InvalidVersion:
        matches = False
    if not matches:
        raise WheelFormatError(f"{directory} does not match {wheel.name} {wheel.version}")
    return directory


def installed_path(archive_name: str, *, data_dir: str, root_is_purelib: bool) -> tuple[str, str]:
    """Map an archive member to the install scheme and the path inside it.

    Args:
        archive_name: the member name.
        data_dir: the wheel's ``{name}-{version}.data`` directory name.
        root_is_purelib: the ``WHEEL`` file's ``Root-Is-Purelib``.

    Returns:
        ``(scheme, path)``: e.g. ``("scripts", "tool")`` for ``{data_dir}/scripts/tool``, and
        ``("purelib", "pkg/mod.py")`` for ``pkg/mod.py`` in a pure wheel.

    Raises:
        WheelFormatError: the member is in the data directory but not under a known scheme.
    """
    head, _, rest = archive_name.partition("/")
    if head != data_dir:
        return ("purelib" if root_is_purelib else "platlib", archive_name)
    scheme, _, path = rest.partition("/")
    if scheme not in SCHEMES or not path:
        raise WheelFormatError(f"{archive_name} is not under a known install scheme")
    return scheme, path
