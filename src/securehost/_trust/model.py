"""The trust store: which keys may sign which distributions, for what, when, and how many.

This module holds the parts of the model (:class:`TrustedKey`, :class:`Threshold`) and the checks shared by the
loader and the editor. The store itself (:class:`~securehost.TrustStore`) is in :mod:`securehost._trust.store`, the
strict TOML loader in :mod:`securehost._trust.load`, the signer policy behind
:meth:`~securehost.TrustStore.evaluate` in :mod:`securehost._trust.policy`, the editor in
:mod:`securehost._trust.edit`. The file format is in ``docs/architecture.md`` ("Trust store").

Distribution-name patterns use the characters of a project name plus ``*``, which matches any run
of characters (``-`` included). Patterns are canonicalised like names
(:func:`packaging.utils.canonicalize_name`) and compared with the canonical name of the
distribution, so ``Acme_*`` and ``acme-*`` are the same pattern and match ``acme.csv``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final, final

import attrs

from securehost._models import value_model
from securehost._orchestrator.capabilities import check_pattern, pattern_covers
from securehost._permissions import PermissionSet
from securehost._signing.keys import PublicKey
from securehost._verdict import ReasonCode
from securehost.exceptions import TrustStoreError

if TYPE_CHECKING:
    pass

__all__ = [
    "Threshold",
    "TrustedKey",
    "canonical_name_pattern",
    "check_label",
    "is_key_id",
    "show",
    "to_utc",
]

MAX_LABEL_CHARS: Final = 200
MAX_PATTERN_CHARS: Final = 200
_PATTERN_TEXT_RE: Final = re.compile(r"[A-Za-z0-9._*-]+")
_SEPARATORS_RE: Final = re.compile(r"[-_.]+")
_STARS_RE: Final = re.compile(r"\*+")
_KEY_ID_RE: Final = re.compile(r"[0-9a-f]{64}")


def show(value: object, limit: int = 80) -> str:
    """Return a short ``repr`` of an untrusted value, for an error message."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def canonical_name_pattern(text: object) -> str:
    """Validate a distribution-name glob and return its canonical form.

    Lower case; every run of ``-``, ``_`` and ``.`` becomes one ``-`` and every run of ``*`` one
    ``*``. The result may not start or end with ``-``.

    Raises:
        TrustStoreError: *text* is not a string or not a valid pattern.
    """
    if not isinstance(text, str):
        raise TrustStoreError(f"a name pattern must be a string, not {type(text).__name__}")
    if len(text) > MAX_PATTERN_CHARS or not _PATTERN_TEXT_RE.fullmatch(text):
        raise TrustStoreError(f"invalid name pattern {show(text)}: use letters, digits, '-', '_', '.' and '*' only")
    canonical = _STARS_RE.sub("*", _SEPARATORS_RE.sub("-", text).lower())
    if canonical.startswith("-") or canonical.endswith("-"):
        raise TrustStoreError(f"invalid name pattern {show(text)}: starts or ends with a separator")
    return canonical


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("[a-z0-9-]*".join(re.escape(part) for part in pattern.split("*")))


def check_label(label: object) -> str:
    """Validate a key label: 1-200 printable characters, no surrounding space, not a key id.

    Raises:
        TrustStoreError: the label is not acceptable.
    """
    if not isinstance(label, str):
        raise TrustStoreError(f"label must be a string, not {type(label).__name__}")
    if not (0 < len(label) <= MAX_LABEL_CHARS and label == label.strip() and label.isprintable()):
        raise TrustStoreError(
            f"label {show(label)} must be 1-{MAX_LABEL_CHARS} printable characters without surrounding spaces"
        )
    if _KEY_ID_RE.fullmatch(label.lower()):
        raise TrustStoreError(f"label {show(label)} looks like a key id; choose a name")
    return label


def is_key_id(text: object) -> bool:
    """Return whether *text* is a key id (64 lowercase hex digits)."""
    return isinstance(text, str) and _KEY_ID_RE.fullmatch(text) is not None


def to_utc(value: datetime | None) -> datetime | None:
    """Return an aware datetime converted to UTC (``None`` stays ``None``).

    Raises:
        TrustStoreError: the datetime is naive, or cannot be represented in UTC.
        TypeError: *value* is not a datetime.
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"expected a datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        raise TrustStoreError(f"{value.isoformat()} has no time zone (write an offset such as Z)")
    try:
        return value.astimezone(timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise TrustStoreError(f"{value.isoformat()} cannot be converted to UTC") from exc


def _to_names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _check_names(_: object, __: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]) -> None:
    if not value:
        raise TrustStoreError("names may not be empty (a key must be scoped to distributions)")
    for pattern in value:
        if canonical_name_pattern(pattern) != pattern:
            raise TrustStoreError(f"name pattern {show(pattern)} is not canonical")
    if len(set(value)) != len(value):
        raise TrustStoreError("names contains a duplicate pattern")


def _to_capabilities(values: Iterable[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        raise TypeError("capabilities must be a list of patterns, not a single string")
    try:
        return tuple(sorted({check_pattern(v) for v in values}))
    except (TypeError, ValueError) as exc:
        raise TrustStoreError(f"capabilities: {exc}") from exc


def _check_label(_: object, __: attrs.Attribute[str], value: str) -> None:
    check_label(value)


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class TrustedKey:
    """A public key the operator trusts, with its scope, permission ceiling and validity window.

    Attributes:
        key: the public key.
        label: a human name, unique within a store.
        names: canonical distribution-name patterns the key may sign for (never empty).
        max_permissions: the most the key may vouch for; empty means no permission at all.
        capabilities: capability patterns (``data.*``) the key may vouch for, sorted and unique; empty means no
            capability at all.
        valid_after: the key counts from this instant on (inclusive, UTC); ``None``: no bound.
        valid_before: the key stops counting at this instant (exclusive, UTC); ``None``: no bound.
        source: where the entry came from (``store.toml: key[2] ("alice")``, ``signers:7``);
            not part of equality.
    """

    key: PublicKey = attrs.field(validator=attrs.validators.instance_of(PublicKey))
    label: str = attrs.field(validator=_check_label)
    names: tuple[str, ...] = attrs.field(converter=_to_names, validator=_check_names)
    max_permissions: PermissionSet = attrs.field(
        factory=PermissionSet, validator=attrs.validators.instance_of(PermissionSet)
    )
    capabilities: tuple[str, ...] = attrs.field(default=(), converter=_to_capabilities)
    valid_after: datetime | None = attrs.field(default=None, converter=to_utc)
    valid_before: datetime | None = attrs.field(default=None, converter=to_utc)
    source: str = attrs.field(default="<memory>", eq=False)
    _name_regexes: tuple[re.Pattern[str], ...] = attrs.field(init=False, repr=False, eq=False)

    @_name_regexes.default
    def _compile_names(self) -> tuple[re.Pattern[str], ...]:
        return tuple(_pattern_regex(p) for p in self.names)

    def __attrs_post_init__(self) -> None:
        if self.valid_after and self.valid_before and self.valid_after >= self.valid_before:
            raise TrustStoreError("valid_after must be earlier than valid_before")

    @property
    def key_id(self) -> str:
        """The key id of :attr:`key`."""
        return self.key.key_id

    def covers_name(self, canonical_name: str) -> bool:
        """Return whether one of :attr:`names` matches *canonical_name* (already canonical)."""
        return any(r.fullmatch(canonical_name) for r in self._name_regexes)

    def covers_capability(self, capability: str) -> bool:
        """Return whether one of :attr:`capabilities` matches *capability*."""
        return pattern_covers(self.capabilities, capability)

    def window_reason(self, now: datetime) -> ReasonCode | None:
        """Return ``KEY_NOT_YET_VALID`` or ``KEY_EXPIRED`` when *now* is outside the window."""
        if self.valid_after is not None and now < self.valid_after:
            return ReasonCode.KEY_NOT_YET_VALID
        if self.valid_before is not None and now >= self.valid_before:
            return ReasonCode.KEY_EXPIRED
        return None


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Threshold:
    """At least :attr:`count` unique keys must sign distributions that match :attr:`pattern`."""

    pattern: str = attrs.field()
    count: int = attrs.field()
    _regex: re.Pattern[str] = attrs.field(init=False, repr=False, eq=False)

    @pattern.validator
    def _check_pattern(self, _: attrs.Attribute[str], value: str) -> None:
        if canonical_name_pattern(value) != value:
            raise TrustStoreError(f"threshold pattern {show(value)} is not canonical")

    @count.validator
    def _check_count(self, _: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise TrustStoreError(f"threshold count must be an integer >= 1, not {show(value)}")

    @_regex.default
    def _compile(self) -> re.Pattern[str]:
        return _pattern_regex(self.pattern)

    def matches(self, canonical_name: str) -> bool:
        """Return whether :attr:`pattern` matches *canonical_name* (already canonical)."""
        return self._regex.fullmatch(canonical_name) is not None
