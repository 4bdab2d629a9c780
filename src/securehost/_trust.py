"""The trust store: which keys may sign which distributions, for what, when, and how many.

This module holds the model (:class:`TrustedKey`, :class:`Threshold`, :class:`TrustStore`). The
strict TOML loader is in :mod:`securehost._trust_load`, the signer policy behind
:meth:`TrustStore.evaluate` in :mod:`securehost._trust_policy`, the editor in
:mod:`securehost._trust_edit`. The file format is in ``docs/architecture.md`` ("Trust store").

Distribution-name patterns use the characters of a project name plus ``*``, which matches any run
of characters (``-`` included). Patterns are canonicalised like names
(:func:`packaging.utils.canonicalize_name`) and compared with the canonical name of the
distribution, so ``Acme_*`` and ``acme-*`` are the same pattern and match ``acme.csv``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, final

import attrs
from packaging.utils import canonicalize_name

from securehost._keys import PublicKey
from securehost._permissions import PermissionSet
from securehost._trust_policy import SignatureCheckLike, SignerDecision, evaluate_signers, show
from securehost._verdict import ReasonCode
from securehost.exceptions import TrustStoreError

if TYPE_CHECKING:
    import os

__all__ = [
    "SignatureCheckLike",
    "SignerDecision",
    "Threshold",
    "TrustStore",
    "TrustedKey",
    "canonical_name_pattern",
    "check_label",
    "is_key_id",
    "to_utc",
]

MAX_LABEL_CHARS: Final = 200
MAX_PATTERN_CHARS: Final = 200
_PATTERN_TEXT_RE: Final = re.compile(r"[A-Za-z0-9._*-]+")
_SEPARATORS_RE: Final = re.compile(r"[-_.]+")
_STARS_RE: Final = re.compile(r"\*+")
_KEY_ID_RE: Final = re.compile(r"[0-9a-f]{64}")


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


def _check_label(_: object, __: attrs.Attribute[str], value: str) -> None:
    check_label(value)


@final
@attrs.frozen(kw_only=True)
class TrustedKey:
    """A public key the operator trusts, with its scope, permission ceiling and validity window.

    Attributes:
        key: the public key.
        label: a human name, unique within a store.
        names: canonical distribution-name patterns the key may sign for (never empty).
        max_permissions: the most the key may vouch for; empty means no permission at all.
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

    def window_reason(self, now: datetime) -> ReasonCode | None:
        """Return ``KEY_NOT_YET_VALID`` or ``KEY_EXPIRED`` when *now* is outside the window."""
        if self.valid_after is not None and now < self.valid_after:
            return ReasonCode.KEY_NOT_YET_VALID
        if self.valid_before is not None and now >= self.valid_before:
            return ReasonCode.KEY_EXPIRED
        return None


@final
@attrs.frozen(kw_only=True)
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


def _freeze_keys(value: Mapping[str, TrustedKey]) -> Mapping[str, TrustedKey]:
    return MappingProxyType(dict(value))


def _check_keys(_: object, __: attrs.Attribute[Mapping[str, TrustedKey]], value: Mapping[str, TrustedKey]) -> None:
    labels: set[str] = set()
    for key_id, trusted in value.items():
        if not isinstance(trusted, TrustedKey) or trusted.key_id != key_id:
            raise TrustStoreError(f"keys must map key ids to their TrustedKey ({show(key_id)})")
        if trusted.label in labels:
            raise TrustStoreError(f"two keys have the label {show(trusted.label)}")
        labels.add(trusted.label)


def _to_revoked(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


def _check_revoked(_: object, __: attrs.Attribute[frozenset[str]], value: frozenset[str]) -> None:
    for key_id in value:
        if not is_key_id(key_id):
            raise TrustStoreError(f"revoked entry {show(key_id)} is not a key id (64 hex digits)")


def _to_thresholds(value: Iterable[Threshold]) -> tuple[Threshold, ...]:
    return tuple(value)


def _check_thresholds(_: object, __: attrs.Attribute[tuple[Threshold, ...]], value: tuple[Threshold, ...]) -> None:
    patterns = [t.pattern for t in value]
    if len(set(patterns)) != len(patterns):
        raise TrustStoreError("two thresholds have the same pattern")


@final
@attrs.frozen(kw_only=True)
class TrustStore:
    """An immutable, validated trust store; load one with :meth:`load` or :meth:`from_toml`.

    Attributes:
        keys: trusted keys by key id, in file order (revoked keys stay; see :meth:`lookup`).
        revoked: key ids that never count, whether or not they are in :attr:`keys`.
        thresholds: per-pattern signature thresholds.
        source: where the store came from (a path, or ``<memory>``); not part of equality.
    """

    keys: Mapping[str, TrustedKey] = attrs.field(
        factory=dict, converter=_freeze_keys, validator=_check_keys, hash=False
    )
    revoked: frozenset[str] = attrs.field(factory=frozenset, converter=_to_revoked, validator=_check_revoked)
    thresholds: tuple[Threshold, ...] = attrs.field(default=(), converter=_to_thresholds, validator=_check_thresholds)
    source: str = attrs.field(default="<memory>", eq=False)

    @classmethod
    def from_keys(
        cls,
        keys: Iterable[TrustedKey],
        *,
        revoked: Iterable[str] = (),
        thresholds: Iterable[Threshold] = (),
        source: str = "<memory>",
    ) -> TrustStore:
        """Build a store from trusted keys (for hosts that configure trust in code).

        Raises:
            TrustStoreError: two keys share a key id or a label, or another part is invalid.
        """
        by_id: dict[str, TrustedKey] = {}
        for trusted in keys:
            if trusted.key_id in by_id:
                raise TrustStoreError(f"{source}: key {trusted.key_id} is listed twice")
            by_id[trusted.key_id] = trusted
        return cls(keys=by_id, revoked=revoked, thresholds=thresholds, source=source)

    @classmethod
    def from_toml(cls, text: str, *, source: str) -> TrustStore:
        """Parse and validate a trust store document; *source* names it in error messages.

        Raises:
            TrustStoreError: the document is larger than 4 MiB, not TOML, or any part of it is
                invalid; the message names *source* and the entry.
        """
        from securehost._trust_load import parse_store  # noqa: PLC0415 - it imports this module

        return parse_store(text, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrustStore:
        """Read and validate the trust store file at *path*.

        Raises:
            TrustStoreError: the file cannot be read, is not a regular file, is writable by every
                user, is larger than 4 MiB, is not UTF-8, or is invalid (see :meth:`from_toml`).
        """
        from securehost._trust_load import load_store  # noqa: PLC0415 - it imports this module

        return load_store(path)

    def lookup(self, keyid: str) -> PublicKey | None:
        """Return the public key for *keyid*, or ``None`` if it is not in the store.

        Revoked keys are returned too, so that their signatures get checked and
        :meth:`evaluate` can reject them with ``KEY_REVOKED``.
        """
        trusted = self.keys.get(keyid)
        return None if trusted is None else trusted.key

    def find(self, key_id_or_label: str) -> TrustedKey | None:
        """Return the key whose key id or label is *key_id_or_label*, or ``None``."""
        trusted = self.keys.get(key_id_or_label)
        if trusted is not None:
            return trusted
        return next((k for k in self.keys.values() if k.label == key_id_or_label), None)

    def threshold_for(self, name: str) -> int:
        """Return how many unique keys must sign distribution *name* (canonicalised here)."""
        canonical = canonicalize_name(name)
        return max((t.count for t in self.thresholds if t.matches(canonical)), default=1)

    def evaluate(
        self,
        *,
        name: str,
        requested: PermissionSet,
        checks: Sequence[SignatureCheckLike],
        now: datetime,
    ) -> SignerDecision:
        """Decide whether *checks* are enough trusted signers for *name* and *requested* at *now*.

        Never raises for untrusted input; the rules are in :mod:`securehost._trust_policy`.

        Raises:
            TypeError: *name*, *requested* or *now* has the wrong type.
            ValueError: *now* is a naive datetime.
        """
        if not isinstance(name, str) or not isinstance(requested, PermissionSet):
            raise TypeError("name must be a str and requested a PermissionSet")
        if not isinstance(now, datetime):
            raise TypeError("now must be a datetime")
        if now.utcoffset() is None:
            raise ValueError("now must be a timezone-aware datetime")
        canonical = canonicalize_name(name)
        return evaluate_signers(
            keys=self.keys,
            revoked=self.revoked,
            threshold=self.threshold_for(canonical),
            canonical=canonical,
            requested=requested,
            checks=checks,
            now=now,
        )
