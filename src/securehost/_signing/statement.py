"""The in-toto Statement v1 inside a plugin wheel's envelope, with securehost's plugin predicate.

The payload is canonical JSON (see :func:`securehost._signing.jsonstrict.dumps_canonical`)::

    {"_type": "https://in-toto.io/Statement/v1",
     "subject": [{"name": "acme_csv/__init__.py", "digest": {"sha256": "<64 hex>"}}, ...],
     "predicateType": "https://securehost.dev/attestation/plugin/v1",
     "predicate": {"name": "acme-csv", "version": "1.2.0", "tags": ["py3-none-any"],
                   "permissions": ["fs.read:/srv/data/**"],
                   "entryPoints": {"demoapp.plugins": {"csv": "acme_csv.plugin:CsvPlugin"}},
                   "issuedAt": "2026-11-22T10:00:00Z", "expiresAt": "2027-11-22T10:00:00Z"}}

Parsing is strict and every error is an :class:`~securehost.exceptions.EnvelopeFormatError` whose
``code`` says how a verifier reports it: ``PREDICATE_TYPE_MISMATCH`` for another ``predicateType``
(a different predicate version is a different URI), ``PAYLOAD_TYPE_MISMATCH`` for an envelope of
another payload type, and ``STATEMENT_MALFORMED`` for everything else, including another ``_type``.
The models validate themselves on construction too, so a signer cannot build a statement that a
verifier would reject as malformed.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import attrs

from securehost._models import value_model
from securehost._signing.envelope import DEFAULT_LIMITS, Envelope, EnvelopeLimits
from securehost._signing.jsonstrict import check_keys, dumps_canonical, loads_strict
from securehost._signing.predicate import (
    ConfigDeclaration,
    PluginPredicate,
    Subject,
    fail,
    parse_time,
    strictly_sorted,
)
from securehost._verdict import ReasonCode
from securehost.exceptions import EnvelopeFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "PluginPredicate",
    "Statement",
    "Subject",
    "compact_statement",
    "expand_statement",
]

_T = TypeVar("_T", bound=attrs.AttrsInstance)

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE: Final = "https://securehost.dev/attestation/plugin/v1"
PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"

_MALFORMED: Final = ReasonCode.STATEMENT_MALFORMED
_STATEMENT_KEYS: Final = frozenset({"_type", "subject", "predicateType", "predicate"})
_SUBJECT_KEYS: Final = frozenset({"name", "digest"})
_DIGEST_KEYS: Final = frozenset({"sha256"})
_PREDICATE_KEYS: Final = frozenset({"name", "version", "tags", "permissions", "entryPoints", "issuedAt"})
_OPTIONAL_PREDICATE_KEYS: Final = frozenset({"expiresAt", "capabilities", "config"})
_CONFIG_KEYS: Final = frozenset({"schema", "defaults"})


def _sorted_subjects(values: Iterable[Subject]) -> tuple[Subject, ...]:
    items = tuple(values)
    if not all(isinstance(s, Subject) for s in items):
        raise TypeError("subjects must be Subject instances")
    return tuple(sorted(items, key=lambda s: s.name))


def _unique_names(_instance: object, _attribute: object, subjects: tuple[Subject, ...]) -> None:
    if not subjects:
        fail("a statement needs at least one subject")
    strictly_sorted(tuple(s.name for s in subjects), "subject names")


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Statement:
    """An in-toto Statement v1 with the plugin predicate.

    Construction sorts the subjects by name; no subjects or a repeated name raise
    :class:`~securehost.exceptions.EnvelopeFormatError`, anything but :class:`Subject` instances and
    a :class:`PluginPredicate` raise :class:`TypeError`.

    Attributes:
        subjects: the signed files, sorted by name, names unique, at least one.
        predicate: the plugin predicate.
    """

    subjects: tuple[Subject, ...] = attrs.field(converter=_sorted_subjects, validator=_unique_names)
    predicate: PluginPredicate = attrs.field(validator=attrs.validators.instance_of(PluginPredicate))

    @classmethod
    def from_json_bytes(
        cls, payload: bytes, *, limits: EnvelopeLimits = DEFAULT_LIMITS, parsed_before: bool = False
    ) -> Statement:
        """Parse an untrusted statement payload strictly.

        Args:
            payload: the envelope payload, untrusted until its signatures are checked.
            limits: size limits; the defaults are hard limits.
            parsed_before: these exact bytes passed this parser and every field's validation before, under this
                version of securehost (the host's signature memo says so, under the host's MAC key): the same bytes
                pass them again, so the statement is rebuilt from the standard JSON decoder's output without
                validating again. Should the bytes not have the shape the parser accepts after all, they are
                parsed strictly, as if *parsed_before* were false.

        Raises:
            TypeError: *payload* is not ``bytes``.
            EnvelopeFormatError: code ``PREDICATE_TYPE_MISMATCH`` when ``predicateType`` is not
                :data:`PREDICATE_TYPE`; code ``STATEMENT_MALFORMED`` when the payload is not strict
                JSON, ``_type`` is not :data:`STATEMENT_TYPE`, a key is missing or unknown at any
                level, a value has the wrong type or is invalid (subject name, digest, name,
                version, tag, permission, entry point, time), a list is not sorted and unique,
                ``expiresAt`` is not after ``issuedAt``, a limit is exceeded, or the payload is not
                the canonical JSON of the statement it holds.
        """
        if parsed_before and len(payload) <= limits.max_envelope_bytes:
            remembered = _rebuild(payload)
            if remembered is not None:
                return remembered
        try:
            obj = loads_strict(payload, max_bytes=limits.max_envelope_bytes, max_depth=limits.max_depth)
        except EnvelopeFormatError as exc:
            raise EnvelopeFormatError(f"statement: {exc}", code=_MALFORMED) from exc
        if obj.get("_type") != STATEMENT_TYPE:
            fail(f"statement _type must be {STATEMENT_TYPE!r}, got {_short(obj.get('_type'))}")
        if obj.get("predicateType") != PREDICATE_TYPE:
            raise EnvelopeFormatError(
                f"predicateType must be {PREDICATE_TYPE!r}, got {_short(obj.get('predicateType'))}",
                code=ReasonCode.PREDICATE_TYPE_MISMATCH,
            )
        check_keys(obj, _STATEMENT_KEYS, "the statement", code=_MALFORMED)
        try:
            statement = cls(
                subjects=_parse_subjects(obj["subject"], limits),
                predicate=_parse_predicate(obj["predicate"], limits),
            )
        except EnvelopeFormatError:
            raise
        # The parsers check types and values first; this only keeps the contract if one slips.
        except (TypeError, ValueError) as exc:  # pragma: no cover
            raise EnvelopeFormatError(f"statement is invalid: {exc}", code=_MALFORMED) from exc
        if statement.to_json_bytes() != payload:
            fail("statement payload is not canonical JSON (sorted keys, no whitespace, UTF-8, no escapes)")
        return statement

    @classmethod
    def from_envelope(
        cls, envelope: Envelope, *, limits: EnvelopeLimits = DEFAULT_LIMITS, parsed_before: bool = False
    ) -> Statement:
        """Parse the statement inside *envelope* after checking its payload type.

        *parsed_before* is passed on to :meth:`from_json_bytes`.

        Raises:
            TypeError: *envelope* is not an :class:`~securehost._signing.envelope.Envelope`.
            EnvelopeFormatError: code ``PAYLOAD_TYPE_MISMATCH`` when the payload type is not
                :data:`PAYLOAD_TYPE`; otherwise as :meth:`from_json_bytes`.
        """
        if not isinstance(envelope, Envelope):
            raise TypeError(f"envelope must be an Envelope, not {type(envelope).__name__}")
        if envelope.payload_type != PAYLOAD_TYPE:
            raise EnvelopeFormatError(
                f"payloadType must be {PAYLOAD_TYPE!r}, got {envelope.payload_type[:80]!r}",
                code=ReasonCode.PAYLOAD_TYPE_MISMATCH,
            )
        return cls.from_json_bytes(envelope.payload, limits=limits, parsed_before=parsed_before)

    def to_json_bytes(self) -> bytes:
        """Return the canonical JSON payload (sorted keys, no whitespace, UTF-8)."""
        return dumps_canonical(
            {
                "_type": STATEMENT_TYPE,
                "subject": [{"name": s.name, "digest": {"sha256": s.sha256}} for s in self.subjects],
                "predicateType": PREDICATE_TYPE,
                "predicate": self.predicate.to_json(),
            }
        )

    def to_envelope(self) -> Envelope:
        """Return an unsigned envelope that carries this statement."""
        return Envelope(payload=self.to_json_bytes(), payload_type=PAYLOAD_TYPE)

    def subject_map(self) -> dict[str, str]:
        """Return a new dict from subject name to SHA-256 hex digest."""
        return {s.name: s.sha256 for s in self.subjects}


# --- rebuilding a statement that was validated before -------------------------------------------


#: Per class, its fields' names and converters in order (``attrs.fields`` checks its argument on every call).
_FIELDS: dict[type, tuple[tuple[str, Any], ...]] = {}


def _trusted(cls: type[_T], **values: Any) -> _T:
    """Build an ``attrs`` instance of *cls* from a value for each field, values that passed its validators before.

    Converters apply; validators do not run.
    """
    fields = _FIELDS.get(cls)
    if fields is None:
        fields = _FIELDS[cls] = tuple((field.name, field.converter) for field in attrs.fields(cls))
    instance = object.__new__(cls)
    for name, converter in fields:
        value = values[name]
        object.__setattr__(instance, name, value if converter is None else converter(value))
    return instance


def _trusted_subject(name: str, sha256: str) -> Subject:
    """:func:`_trusted` for the most numerous model, a :class:`Subject` (two fields, no converters): half the time.

    ``tests/signing/test_statement_errors.py`` fails if :class:`Subject` gains a field or a converter.
    """
    subject = object.__new__(Subject)
    object.__setattr__(subject, "name", name)
    object.__setattr__(subject, "sha256", sha256)
    return subject


def _rebuild(payload: bytes) -> Statement | None:
    """The statement of *payload*, which passed :meth:`Statement.from_json_bytes` before, without validating again.

    Returns ``None`` if the bytes do not have the shape that parser accepts (see *parsed_before*).
    """
    try:
        obj = json.loads(payload)
        if obj["_type"] != STATEMENT_TYPE or obj["predicateType"] != PREDICATE_TYPE:
            return None
        predicate = obj["predicate"]
        config = predicate.get("config")
        expires = predicate.get("expiresAt")
        return _trusted(
            Statement,
            subjects=tuple(_trusted_subject(item["name"], item["digest"]["sha256"]) for item in obj["subject"]),
            predicate=_trusted(
                PluginPredicate,
                name=predicate["name"],
                version=predicate["version"],
                tags=predicate["tags"],
                permissions=predicate["permissions"],
                entry_points=predicate["entryPoints"],
                issued_at=parse_time(predicate["issuedAt"], "issuedAt"),
                expires_at=None if expires is None else parse_time(expires, "expiresAt"),
                capabilities=predicate.get("capabilities", ()),
                config=None
                if config is None
                else _trusted(
                    ConfigDeclaration,
                    schema_json=dumps_canonical(config["schema"]).decode("utf-8"),
                    defaults_json=dumps_canonical(config["defaults"]).decode("utf-8"),
                ),
            ),
        )
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


def compact_statement(statement: Statement) -> tuple[Any, ...]:
    """*statement* as plain tuples, dicts, strings and integers, for a ``marshal``-ed record (:func:`expand_statement`).

    Times are whole seconds since the epoch (a predicate's times are UTC whole seconds).
    """
    predicate = statement.predicate
    config = predicate.config
    return (
        tuple((s.name, s.sha256) for s in statement.subjects),
        predicate.name,
        predicate.version,
        predicate.tags,
        predicate.permissions,
        {group: dict(names) for group, names in predicate.entry_points.items()},
        int(predicate.issued_at.timestamp()),
        None if predicate.expires_at is None else int(predicate.expires_at.timestamp()),
        predicate.capabilities,
        None if config is None else (config.schema_json, config.defaults_json),
    )


def expand_statement(data: object) -> Statement | None:
    """The statement :func:`compact_statement` gave *data* for, unvalidated; ``None`` for data of another shape.

    Only for data that a statement which passed :meth:`Statement.from_json_bytes` gave, kept where only the host
    writes (the host's record is authenticated with its key).
    """
    try:
        fields = cast("tuple[Any, ...]", data)
        subjects, name, version, tags, permissions, entry_points, issued, expires, capabilities, config = fields
        return _trusted(
            Statement,
            subjects=tuple(_trusted_subject(subject, sha256) for subject, sha256 in subjects),
            predicate=_trusted(
                PluginPredicate,
                name=name,
                version=version,
                tags=tags,
                permissions=permissions,
                entry_points=entry_points,
                issued_at=dt.datetime.fromtimestamp(issued, dt.timezone.utc),
                expires_at=None if expires is None else dt.datetime.fromtimestamp(expires, dt.timezone.utc),
                capabilities=capabilities,
                config=None
                if config is None
                else _trusted(ConfigDeclaration, schema_json=config[0], defaults_json=config[1]),
            ),
        )
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, OSError):
        return None


# --- parsing helpers ------------------------------------------------------------------------------


def _short(value: object) -> str:
    return repr(value[:80]) if isinstance(value, str) else f"a {type(value).__name__}"


def _string(value: object, what: str, limits: EnvelopeLimits) -> str:
    if not isinstance(value, str):
        fail(f"{what} must be a string, not {type(value).__name__}")
    if len(value) > limits.max_string_length:
        fail(f"{what} is longer than {limits.max_string_length} characters")
    return value


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail(f"{what} must be an object, not {type(value).__name__}")
    return value


def _string_list(value: object, what: str, limit: int, limits: EnvelopeLimits) -> tuple[str, ...]:
    if not isinstance(value, list):
        fail(f"{what} must be an array, not {type(value).__name__}")
    if len(value) > limit:
        fail(f"{what} has {len(value)} entries, more than the limit of {limit}")
    items = tuple(_string(item, f"each of {what}", limits) for item in value)
    strictly_sorted(items, what)
    return items


def _parse_subjects(value: object, limits: EnvelopeLimits) -> tuple[Subject, ...]:
    if not isinstance(value, list):
        fail(f"statement subject must be an array, not {type(value).__name__}")
    if len(value) > limits.max_subjects:
        fail(f"statement has {len(value)} subjects, more than the limit of {limits.max_subjects}")
    subjects: list[Subject] = []
    for item in value:
        entry = _object(item, "each subject")
        check_keys(entry, _SUBJECT_KEYS, "a subject", code=_MALFORMED)
        name = _string(entry["name"], "subject name", limits)
        digest = _object(entry["digest"], f"digest of subject {name[:80]!r}")
        check_keys(digest, _DIGEST_KEYS, f"digest of subject {name[:80]!r}", code=_MALFORMED)
        subjects.append(Subject(name=name, sha256=_string(digest["sha256"], "subject digest", limits)))
    strictly_sorted(tuple(s.name for s in subjects), "subject names")
    return tuple(subjects)


def _parse_predicate(value: object, limits: EnvelopeLimits) -> PluginPredicate:
    obj = _object(value, "predicate")
    expected = _PREDICATE_KEYS | (_OPTIONAL_PREDICATE_KEYS & obj.keys())
    check_keys(obj, expected, "the predicate", code=_MALFORMED)
    groups = _object(obj["entryPoints"], "predicate entryPoints")
    entry_points: dict[str, dict[str, str]] = {}
    count = 0
    for group, names in groups.items():
        _string(group, "entry point group", limits)
        table = _object(names, f"entry point group {group[:80]!r}")
        count += len(table)
        if count > limits.max_entry_points:
            fail(f"predicate has more than {limits.max_entry_points} entry points")
        for name, reference in table.items():
            _string(name, "entry point name", limits)
            _string(reference, f"entry point {name[:80]!r}", limits)
        entry_points[group] = table
    expires = None
    if "expiresAt" in obj:
        expires = parse_time(_string(obj["expiresAt"], "expiresAt", limits), "expiresAt")
    capabilities: tuple[str, ...] = ()
    if "capabilities" in obj:
        capabilities = _string_list(obj["capabilities"], "predicate capabilities", limits.max_capabilities, limits)
        if not capabilities:
            fail("predicate capabilities must not be empty when present (omit the field)")
    config = None
    if "config" in obj:
        declared = _object(obj["config"], "predicate config")
        check_keys(declared, _CONFIG_KEYS, "the predicate config", code=_MALFORMED)
        config = ConfigDeclaration.from_json(declared["schema"], declared["defaults"])
    return PluginPredicate(
        name=_string(obj["name"], "predicate name", limits),
        version=_string(obj["version"], "predicate version", limits),
        tags=_string_list(obj["tags"], "predicate tags", limits.max_tags, limits),
        permissions=_string_list(obj["permissions"], "predicate permissions", limits.max_permissions, limits),
        entry_points=entry_points,
        issued_at=parse_time(_string(obj["issuedAt"], "issuedAt", limits), "issuedAt"),
        expires_at=expires,
        capabilities=capabilities,
        config=config,
    )
