"""The subject and plugin-predicate models of a statement, with the checks on every field.

The models validate themselves on construction, so a signer cannot build a statement that a
verifier would reject as malformed. Bad values raise
:class:`~securehost.exceptions.EnvelopeFormatError` (code ``STATEMENT_MALFORMED``, also a
:class:`ValueError`); wrong types raise :class:`TypeError`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import keyword
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final, NoReturn, TypeVar

import attrs

from securehost._models import value_model
from securehost._names import canonicalize_name, parse_version
from securehost._orchestrator.capabilities import check_capability
from securehost._orchestrator.config import check_declaration
from securehost._patterns import lazy_pattern
from securehost._permissions import Permission
from securehost._signing.jsonstrict import dumps_canonical
from securehost._verdict import ReasonCode
from securehost.exceptions import (
    CapabilityFormatError,
    ConfigDeclarationError,
    EnvelopeFormatError,
    PermissionFormatError,
)

__all__ = ["ConfigDeclaration", "PluginPredicate", "Subject", "format_time", "parse_time"]

_MALFORMED: Final = ReasonCode.STATEMENT_MALFORMED
_BAD_SEGMENTS: Final = frozenset({"", ".", ".."})
_sha256_re = lazy_pattern(r"[0-9a-f]{64}")
_name_re = lazy_pattern(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_tag_re = lazy_pattern(r"[a-z0-9_]+-[a-z0-9_]+-[a-z0-9_]+")
_group_re = lazy_pattern(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_ep_name_re = lazy_pattern(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")
_time_re = lazy_pattern(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")
# C0 and C1 controls, DEL, line/paragraph separators, bidirectional controls and the BOM: never in a
# file name.
_bad_path_chars_re = lazy_pattern("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")

_K = TypeVar("_K")
_V = TypeVar("_V")


def fail(message: str) -> NoReturn:
    """Raise :class:`EnvelopeFormatError` with code ``STATEMENT_MALFORMED``."""
    raise EnvelopeFormatError(message, code=_MALFORMED)


class _FrozenMapping(Mapping[_K, _V]):
    """An immutable, hashable mapping in sorted key order."""

    __slots__ = ("_data",)

    def __init__(self, items: Iterable[tuple[_K, _V]]) -> None:
        self._data: dict[_K, _V] = dict(sorted(items))

    def __getitem__(self, key: _K) -> _V:
        return self._data[key]

    def __iter__(self) -> Iterator[_K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(self._data.items()))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _FrozenMapping):
            return self._data == other._data
        return isinstance(other, Mapping) and self._data == dict(other.items())

    def __repr__(self) -> str:
        return repr(self._data)


# --- value checks (shared by parsing and direct construction) -------------------------------------


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, not {type(value).__name__}")
    return value


def _subject_name(_instance: object, _attribute: object, name: str) -> None:
    _check_text(name, "subject name")
    if not name:
        fail("subject name is empty")
    if name.startswith("/") or "\\" in name:
        fail(f"subject name {name[:200]!r} must be a relative archive path with '/' separators")
    if not _BAD_SEGMENTS.isdisjoint(name.split("/")):
        fail(f"subject name {name[:200]!r} has an empty, '.' or '..' segment")
    if _bad_path_chars_re().search(name):
        fail(f"subject name {name[:200]!r} contains a control or bidirectional character")
    if not name.isascii():
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            fail(f"subject name {name[:200]!r} is not valid Unicode")


def _sha256(_instance: object, _attribute: object, digest: str) -> None:
    _check_text(digest, "subject digest")
    if not _sha256_re().fullmatch(digest):
        fail(f"subject sha256 digest must be 64 lowercase hex digits, got {digest[:80]!r}")


def _dist_name(_instance: object, _attribute: object, name: str) -> None:
    _check_text(name, "predicate name")
    if not _name_re().fullmatch(name) or canonicalize_name(name) != name:
        fail(f"predicate name {name[:80]!r} is not a canonical distribution name")


def _version(_instance: object, _attribute: object, version: str) -> None:
    _check_text(version, "predicate version")
    try:
        normalised = str(parse_version(version))
    except ValueError:
        fail(f"predicate version {version[:80]!r} is not a valid version")
    if normalised != version:
        fail(f"predicate version {version[:80]!r} is not normalised (expected {normalised[:80]!r})")


def strictly_sorted(values: tuple[str, ...], what: str) -> None:
    """Check that *values* are sorted and unique.

    Raises:
        EnvelopeFormatError: they are not (code ``STATEMENT_MALFORMED``).
    """
    for previous, current in itertools.pairwise(values):
        if previous >= current:
            fail(f"{what} must be sorted and unique; {current[:80]!r} follows {previous[:80]!r}")


def _packaging_reads(tag: str) -> bool:
    from packaging.tags import parse_tag  # noqa: PLC0415 - see _tags

    try:
        parsed = parse_tag(tag)
    except ValueError:  # packaging >= 26 raises InvalidTag for an empty component or a bad interpreter
        return False
    return len(parsed) == 1 and str(next(iter(parsed))) == tag


def _tags(_instance: object, _attribute: object, tags: tuple[str, ...]) -> None:
    if not tags:
        fail("predicate tags must not be empty")
    for tag in tags:
        _check_text(tag, "predicate tag")
        # The pattern admits exactly one lowercase tag with three non-empty components and no compressed sets;
        # packaging's parse_tag() reads such a tag back unchanged when its interpreter is an identifier (every
        # packaging version; tests/signing hold the two to that), so packaging.tags (~15 ms) is imported only for
        # the rest, where packaging >= 26 refuses what older versions accept.
        if not _tag_re().fullmatch(tag) or (not tag.partition("-")[0].isidentifier() and not _packaging_reads(tag)):
            fail(f"predicate tag {tag[:80]!r} is not a single lowercase python-abi-platform tag")
    strictly_sorted(tags, "predicate tags")


def _permissions(_instance: object, _attribute: object, permissions: tuple[str, ...]) -> None:
    for text in permissions:
        _check_text(text, "permission")
        try:
            parsed = Permission.parse(text)
        except PermissionFormatError as exc:
            raise EnvelopeFormatError(f"invalid permission in statement: {exc}", code=_MALFORMED) from exc
        if str(parsed) != text:  # pragma: no cover - Permission.parse keeps the text as given
            fail(f"permission {text[:80]!r} is not in canonical form")
    strictly_sorted(permissions, "predicate permissions")


def _capabilities(_instance: object, _attribute: object, capabilities: tuple[str, ...]) -> None:
    for text in capabilities:
        try:
            check_capability(text)
        except CapabilityFormatError as exc:
            raise EnvelopeFormatError(f"invalid capability in statement: {exc}", code=_MALFORMED) from exc
    strictly_sorted(capabilities, "predicate capabilities")


def _object_reference(value: str) -> bool:
    """Return whether *value* is ``module`` or ``module:attr`` made of ASCII, non-keyword names."""
    module, sep, attr = value.partition(":")
    parts = module.split(".") + (attr.split(".") if sep else [])
    return all(p.isascii() and p.isidentifier() and not keyword.iskeyword(p) for p in parts)


def _entry_points(_instance: object, _attribute: object, groups: Mapping[str, Mapping[str, str]]) -> None:
    for group, names in groups.items():
        _check_text(group, "entry point group")
        if not _group_re().fullmatch(group):
            fail(f"entry point group {group[:80]!r} is not a dotted name")
        if not names:
            fail(f"entry point group {group[:80]!r} is empty")
        for name, value in names.items():
            _check_text(name, "entry point name")
            _check_text(value, "entry point value")
            if not _ep_name_re().fullmatch(name):
                fail(f"entry point name {name[:80]!r} in {group[:80]!r} is not allowed")
            if not _object_reference(value):
                fail(f"entry point {name[:80]!r} = {value[:80]!r} is not 'module' or 'module:attr'")


def _utc_seconds(_instance: object, attribute: attrs.Attribute[Any], value: dt.datetime | None) -> None:
    if value is None and attribute.name == "expires_at":
        return
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{attribute.name} must be a datetime, not {type(value).__name__}")
    if value.utcoffset() != dt.timedelta(0):
        raise ValueError(f"{attribute.name} must be an aware datetime in UTC")
    if value.microsecond:
        raise ValueError(f"{attribute.name} must have whole seconds")


def _after_issue(instance: PluginPredicate, _attribute: object, value: dt.datetime | None) -> None:
    if value is not None and value <= instance.issued_at:
        fail(f"expiresAt {format_time(value)} is not after issuedAt {format_time(instance.issued_at)}")


def format_time(value: dt.datetime) -> str:
    """Format a UTC datetime as RFC 3339 ``YYYY-MM-DDTHH:MM:SSZ``."""
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:{value.second:02d}Z"


def parse_time(text: str, what: str) -> dt.datetime:
    """Parse RFC 3339 ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, whole seconds, nothing else).

    Raises:
        EnvelopeFormatError: *text* is not exactly that form or not a real date and time.
    """
    match = _time_re().fullmatch(text)
    if match is None:
        fail(f"{what} must be 'YYYY-MM-DDTHH:MM:SSZ', got {text[:80]!r}")
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.timezone.utc)
    except ValueError as exc:
        raise EnvelopeFormatError(f"{what} {text!r} is not a valid date and time", code=_MALFORMED) from exc


# --- converters -----------------------------------------------------------------------------------


def _sorted_strings(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, (str, bytes)):
        raise TypeError("expected an iterable of strings, not a single string")
    return tuple(sorted(values))


def _freeze_entry_points(
    groups: Mapping[str, Mapping[str, str]],
) -> _FrozenMapping[str, _FrozenMapping[str, str]]:
    if not isinstance(groups, Mapping) or not all(isinstance(v, Mapping) for v in groups.values()):
        raise TypeError("entry_points must map group names to mappings of name to object reference")
    return _FrozenMapping((group, _FrozenMapping(names.items())) for group, names in groups.items())


# --- models ---------------------------------------------------------------------------------------


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class ConfigDeclaration:
    """A plugin's signed configuration declaration: a JSON Schema (Draft 2020-12) and defaults.

    Build it with :meth:`from_json`, which checks the declaration (see ``docs/plugin-authors.md``). Equality and
    hashing use the canonical JSON text; :attr:`schema` and :attr:`defaults` return fresh copies.

    Attributes:
        schema_json: the schema as canonical JSON.
        defaults_json: the defaults as canonical JSON.
    """

    schema_json: str
    defaults_json: str

    @classmethod
    def from_json(cls, schema: object, defaults: object) -> ConfigDeclaration:
        """Check and build a declaration from parsed JSON values.

        Raises:
            EnvelopeFormatError: the schema is not a usable configuration schema (an object schema, valid Draft
                2020-12, references only inside itself), the defaults are not an object, a secret has a default,
                or a default breaks the schema (code ``STATEMENT_MALFORMED``).
        """
        try:
            check_declaration(schema, defaults)
        except ConfigDeclarationError as exc:
            raise EnvelopeFormatError(f"invalid configuration declaration: {exc}", code=_MALFORMED) from exc
        return cls(
            schema_json=dumps_canonical(schema).decode("utf-8"),
            defaults_json=dumps_canonical(defaults).decode("utf-8"),
        )

    @property
    def schema(self) -> dict[str, Any]:
        """The JSON Schema (a fresh copy)."""
        result: dict[str, Any] = json.loads(self.schema_json)
        return result

    @property
    def defaults(self) -> dict[str, Any]:
        """The signed defaults (a fresh copy)."""
        result: dict[str, Any] = json.loads(self.defaults_json)
        return result

    def to_json(self) -> dict[str, Any]:
        """Return ``{"schema": ..., "defaults": ...}``."""
        return {"schema": self.schema, "defaults": self.defaults}


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Subject:
    """One signed file of a wheel.

    Construction validates every field: invalid values raise
    :class:`~securehost.exceptions.EnvelopeFormatError` (a :class:`ValueError`), wrong types raise
    :class:`TypeError`.

    Attributes:
        name: the archive path inside the wheel (relative, ``/``-separated, no ``.``/``..``/empty
            segments).
        sha256: the lowercase hex SHA-256 of the file's bytes.
    """

    name: str = attrs.field(validator=_subject_name)
    sha256: str = attrs.field(validator=_sha256)


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class PluginPredicate:
    """securehost's plugin predicate: what the signer vouches for besides the files.

    Construction validates every field: invalid values raise
    :class:`~securehost.exceptions.EnvelopeFormatError` (a :class:`ValueError`), wrong types raise
    :class:`TypeError`.

    Attributes:
        name: the canonical distribution name (``packaging.utils.canonicalize_name(name) == name``).
        version: the normalised version (``str(parse_version(version)) == version``).
        tags: the wheel's expanded tags (``py3-none-any``), sorted, unique, at least one.
        permissions: the requested permissions as strings, sorted and unique.
        entry_points: group -> entry point name -> ``module`` or ``module:attr``; an immutable
            mapping.
        issued_at: when the statement was issued (UTC, whole seconds).
        expires_at: when it stops being valid (UTC, whole seconds, after *issued_at*), or ``None``.
        capabilities: what the plugin offers (``data.transform``), sorted and unique; optional (omitted from the
            JSON when empty).
        config: the plugin's configuration declaration, or ``None`` (omitted from the JSON).
    """

    name: str = attrs.field(validator=_dist_name)
    version: str = attrs.field(validator=_version)
    tags: tuple[str, ...] = attrs.field(converter=_sorted_strings, validator=_tags)
    permissions: tuple[str, ...] = attrs.field(converter=_sorted_strings, validator=_permissions)
    entry_points: Mapping[str, Mapping[str, str]] = attrs.field(converter=_freeze_entry_points, validator=_entry_points)
    issued_at: dt.datetime = attrs.field(validator=_utc_seconds)
    expires_at: dt.datetime | None = attrs.field(default=None, validator=[_utc_seconds, _after_issue])
    capabilities: tuple[str, ...] = attrs.field(default=(), converter=_sorted_strings, validator=_capabilities)
    config: ConfigDeclaration | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(ConfigDeclaration))
    )

    def to_json(self) -> dict[str, Any]:
        """Return the predicate as a JSON-serialisable dict."""
        result: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "tags": list(self.tags),
            "permissions": list(self.permissions),
            "entryPoints": {group: dict(names) for group, names in self.entry_points.items()},
            "issuedAt": format_time(self.issued_at),
        }
        if self.expires_at is not None:
            result["expiresAt"] = format_time(self.expires_at)
        if self.capabilities:
            result["capabilities"] = list(self.capabilities)
        if self.config is not None:
            result["config"] = self.config.to_json()
        return result
