"""The trust store: which keys may sign which distributions, for what, when, and how many.

:class:`TrustStore` is immutable and validated; :meth:`TrustStore.load` and :meth:`TrustStore.from_toml` read it with
the strict loader (:mod:`securehost._trust.load`); :meth:`TrustStore.evaluate` applies the signer policy
(:mod:`securehost._trust.policy`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, final

import attrs

from securehost._models import value_model
from securehost._names import canonicalize_name
from securehost._permissions import PermissionSet
from securehost._trust.load import MAX_STORE_BYTES, check_not_world_writable, parse_document, read_limited
from securehost._trust.model import Threshold, TrustedKey, is_key_id, show
from securehost._trust.policy import SignatureCheckLike, SignerDecision, evaluate_signers
from securehost.exceptions import TrustStoreError

if TYPE_CHECKING:
    from securehost._signing.keys import PublicKey

__all__ = ["SignatureCheckLike", "SignerDecision", "TrustStore", "load_store", "parse_store"]


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
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
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
        return parse_store(text, source=source)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrustStore:
        """Read and validate the trust store file at *path*.

        Raises:
            TrustStoreError: the file cannot be read, is not a regular file, is writable by every
                user, is larger than 4 MiB, is not UTF-8, or is invalid (see :meth:`from_toml`).
        """
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
        capabilities: Sequence[str] = (),
    ) -> SignerDecision:
        """Decide whether *checks* are enough trusted signers for *name*, *requested* and *capabilities* at *now*.

        Never raises for untrusted input; the rules are in :mod:`securehost._trust.policy`.

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
            capabilities=capabilities,
        )


def load_store(path: str | os.PathLike[str]) -> TrustStore:
    """Read and validate a trust store file (see :meth:`TrustStore.load`).

    Raises:
        TrustStoreError: the file cannot be read, is not a regular file, is writable by every
            user, is larger than :data:`~securehost._trust.load.MAX_STORE_BYTES`, is not UTF-8, or is invalid.
    """
    source = os.fspath(path)
    text = read_limited(path, limit=MAX_STORE_BYTES, error=TrustStoreError, what="trust store")
    check_not_world_writable(path, source)
    return parse_store(text, source=source)


def parse_store(text: str, *, source: str) -> TrustStore:
    """Parse and validate trust store TOML (see :meth:`TrustStore.from_toml`).

    Raises:
        TrustStoreError: the text is oversized, not TOML, or any part is invalid.
    """
    keys, revoked, thresholds = parse_document(text, source=source)
    try:
        return TrustStore(keys=keys, revoked=revoked, thresholds=thresholds, source=source)
    except TrustStoreError as exc:  # pragma: no cover - every rule is checked by the loader with a precise message
        raise TrustStoreError(f"{source}: {exc}") from exc
