"""DSSE envelopes: strict parsing, PAE, signing, and per-signature checks without policy.

The envelope is the JSON form of the `DSSE <https://github.com/secure-systems-lab/dsse>`_ protocol
with exactly the keys ``payload``, ``payloadType`` and ``signatures``; each signature has exactly
``keyid`` and ``sig``. Base64 is the standard alphabet with padding, in its one canonical form (DSSE
also allows URL-safe base64; securehost does not). Every signature covers ``PAE(payloadType,
payload)``. The key alone fixes the algorithm: nothing in an envelope selects one.

:func:`check_signatures` reports, for each signature, whether a trusted key verifies it. Thresholds,
key scopes and revocation are policy and live in the trust store.
"""

from __future__ import annotations

import binascii
import json
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, cast

import attrs

from securehost._context import import_as_host
from securehost._models import value_model
from securehost._signing.jsonstrict import check_keys, dumps_canonical, loads_strict
from securehost._signing.keys import PublicKey, b64decode_strict
from securehost._verdict import ReasonCode
from securehost.exceptions import EnvelopeFormatError

if TYPE_CHECKING:
    from collections.abc import Callable, Set

    from securehost._signing.private import PrivateKey

__all__ = [
    "DEFAULT_LIMITS",
    "Envelope",
    "EnvelopeLimits",
    "Signature",
    "SignatureCheck",
    "SignatureStatus",
    "check_signatures",
    "compact_envelope",
    "expand_envelope",
    "pae",
]

_ENVELOPE_KEYS: Final = frozenset({"payload", "payloadType", "signatures"})
_SIGNATURE_KEYS: Final = frozenset({"keyid", "sig"})
_MALFORMED: Final = ReasonCode.ENVELOPE_MALFORMED


def _utf8_text(_instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a str, not {type(value).__name__}")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{attribute.name} is not encodable as UTF-8") from exc


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be an int, not {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class EnvelopeLimits:
    """Hard limits for parsing untrusted envelopes and statements.

    The defaults are the limits securehost enforces.

    Attributes:
        max_envelope_bytes: the largest serialised envelope (and so the largest payload).
        max_signatures: the most signatures in one envelope.
        max_signature_bytes: the longest decoded signature.
        max_keyid_length: the longest ``keyid``.
        max_payload_type_length: the longest ``payloadType``.
        max_depth: the deepest JSON nesting, in the envelope and in the statement.
        max_subjects: the most subjects (signed files) in a statement.
        max_tags: the most wheel tags in a statement.
        max_permissions: the most permissions in a statement.
        max_capabilities: the most capabilities in a statement.
        max_entry_points: the most entry points in a statement, over all groups.
        max_string_length: the longest string anywhere in a statement (names, versions, paths, entry
            points).
    """

    max_envelope_bytes: int = attrs.field(default=8 * 1024 * 1024, validator=_positive)
    max_signatures: int = attrs.field(default=64, validator=_positive)
    max_signature_bytes: int = attrs.field(default=1024, validator=_positive)
    max_keyid_length: int = attrs.field(default=256, validator=_positive)
    max_payload_type_length: int = attrs.field(default=256, validator=_positive)
    max_depth: int = attrs.field(default=32, validator=_positive)
    max_subjects: int = attrs.field(default=100_000, validator=_positive)
    max_tags: int = attrs.field(default=256, validator=_positive)
    max_permissions: int = attrs.field(default=256, validator=_positive)
    max_capabilities: int = attrs.field(default=256, validator=_positive)
    max_entry_points: int = attrs.field(default=1024, validator=_positive)
    max_string_length: int = attrs.field(default=4096, validator=_positive)


DEFAULT_LIMITS: Final = EnvelopeLimits()


def pae(payload_type: str, payload: bytes) -> bytes:
    """Return the DSSE v1 Pre-Authentication Encoding of *payload_type* and *payload*.

    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, where ``type`` is UTF-8 and ``LEN`` is
    the ASCII decimal byte length.

    Raises:
        TypeError: *payload_type* is not a ``str`` or *payload* is not ``bytes``.
        UnicodeEncodeError: *payload_type* holds an unpaired surrogate (a :class:`ValueError`).
    """
    if not isinstance(payload_type, str) or not isinstance(payload, bytes):
        raise TypeError("payload_type must be str and payload must be bytes")
    encoded_type = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(encoded_type), encoded_type, len(payload), payload)


def _b64encode(data: bytes) -> str:
    """Standard base64 with padding, as ``base64.b64encode(data).decode()`` (which calls this)."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Decode canonical standard base64 with padding.

    Raises:
        EnvelopeFormatError: *text* is not canonical standard base64.
    """
    try:
        raw = b64decode_strict(text)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeFormatError(f"{what} is not valid standard base64: {exc}") from exc
    if _b64encode(raw) != text:
        raise EnvelopeFormatError(f"{what} is not in canonical base64 form (non-zero padding bits)")
    return raw


def _check_keyid(keyid: object, limits: EnvelopeLimits) -> str:
    if not isinstance(keyid, str):
        raise EnvelopeFormatError(f"signature keyid must be a string, not {type(keyid).__name__}")
    if not keyid or len(keyid) > limits.max_keyid_length or not keyid.isprintable():
        raise EnvelopeFormatError(
            f"signature keyid must be 1 to {limits.max_keyid_length} printable characters, got {keyid[:80]!r}"
        )
    return keyid


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Signature:
    """One DSSE signature: a key id hint and the raw signature bytes.

    Attributes:
        keyid: the signer's key id (see :mod:`securehost._signing.keys`); a hint to find the key, never
            trusted on its own.
        sig: the raw signature over the envelope's PAE.
    """

    keyid: str = attrs.field(validator=_utf8_text)
    sig: bytes = attrs.field(validator=attrs.validators.instance_of(bytes), repr=lambda s: f"<{len(s)} bytes>")

    @classmethod
    def _from_json(cls, obj: object, limits: EnvelopeLimits) -> Signature:
        if not isinstance(obj, dict):
            raise EnvelopeFormatError(f"each signature must be an object, not {type(obj).__name__}")
        check_keys(obj, _SIGNATURE_KEYS, "a signature", code=_MALFORMED)
        keyid = _check_keyid(obj["keyid"], limits)
        text = obj["sig"]
        if not isinstance(text, str):
            raise EnvelopeFormatError(f"signature sig must be a string, not {type(text).__name__}")
        if len(text) > 4 * ((limits.max_signature_bytes + 2) // 3):
            raise EnvelopeFormatError(f"signature by {keyid[:80]!r} is longer than {limits.max_signature_bytes} bytes")
        sig = _b64decode(text, "signature sig")
        if not sig or len(sig) > limits.max_signature_bytes:
            raise EnvelopeFormatError(
                f"signature by {keyid[:80]!r} must be 1 to {limits.max_signature_bytes} bytes, got {len(sig)}"
            )
        return cls(keyid=keyid, sig=sig)


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Envelope:
    """A DSSE envelope: a typed payload and the signatures over its PAE.

    Parse untrusted bytes with :meth:`from_bytes`; sign with :meth:`sign`; serialise with
    :meth:`to_bytes`.

    Attributes:
        payload: the serialised body (for securehost, the canonical JSON of a
            :class:`~securehost.Statement`).
        payload_type: how to interpret the payload; bound into every signature by the PAE.
        signatures: the signatures, in envelope order.
    """

    payload: bytes = attrs.field(validator=attrs.validators.instance_of(bytes), repr=lambda p: f"<{len(p)} bytes>")
    payload_type: str = attrs.field(validator=_utf8_text)
    signatures: tuple[Signature, ...] = attrs.field(
        default=(),
        validator=attrs.validators.deep_iterable(
            attrs.validators.instance_of(Signature), attrs.validators.instance_of(tuple)
        ),
    )

    @classmethod
    def from_bytes(
        cls, data: bytes, *, limits: EnvelopeLimits = DEFAULT_LIMITS, parsed_before: bool = False
    ) -> Envelope:
        """Parse an untrusted, JSON-serialised envelope strictly.

        An envelope without signatures parses; it simply verifies with no key. Several signatures
        with the same key id parse too; :func:`check_signatures` counts them once.

        Args:
            data: untrusted bytes (the ``securehost.dsse.json`` member of a wheel).
            limits: size limits; the defaults are hard limits.
            parsed_before: these exact bytes passed this parser before under this version of securehost (the
                host's signature memo says so, under the host's MAC key): they are decoded with the standard JSON
                decoder and built without checking again. Bytes without an envelope's shape are parsed strictly.

        Raises:
            TypeError: *data* is not ``bytes``.
            EnvelopeFormatError: the envelope is larger than ``limits.max_envelope_bytes`` (code
                ``ENVELOPE_TOO_LARGE``); it is not strict JSON (see :func:`loads_strict`); it lacks
                one of the keys ``payload``, ``payloadType``, ``signatures`` or has another key; a
                value has the wrong type; base64 is invalid or not canonical; the payload type is
                empty, unprintable or too long; there are more than ``limits.max_signatures``
                signatures; a signature lacks ``keyid`` or ``sig`` or has another key; a key id is
                empty, unprintable or too long; a signature is empty or too long (code
                ``ENVELOPE_MALFORMED``).
        """
        if parsed_before and isinstance(data, bytes) and len(data) <= limits.max_envelope_bytes:
            remembered = _rebuild(data)
            if remembered is not None:
                return remembered
        obj = loads_strict(data, max_bytes=limits.max_envelope_bytes, max_depth=limits.max_depth)
        check_keys(obj, _ENVELOPE_KEYS, "the envelope", code=_MALFORMED)
        payload_text, payload_type, raw_signatures = (
            obj["payload"],
            obj["payloadType"],
            obj["signatures"],
        )
        if not isinstance(payload_text, str):
            raise EnvelopeFormatError(f"envelope payload must be a string, not {type(payload_text).__name__}")
        if not isinstance(payload_type, str):
            raise EnvelopeFormatError(f"envelope payloadType must be a string, not {type(payload_type).__name__}")
        if not payload_type or len(payload_type) > limits.max_payload_type_length or not payload_type.isprintable():
            raise EnvelopeFormatError(
                f"envelope payloadType must be 1 to {limits.max_payload_type_length} printable "
                f"characters, got {payload_type[:80]!r}"
            )
        if not isinstance(raw_signatures, list):
            raise EnvelopeFormatError(f"envelope signatures must be an array, not {type(raw_signatures).__name__}")
        if len(raw_signatures) > limits.max_signatures:
            raise EnvelopeFormatError(
                f"envelope has {len(raw_signatures)} signatures, more than the limit of {limits.max_signatures}"
            )
        signatures = tuple(Signature._from_json(item, limits) for item in raw_signatures)
        payload = _b64decode(payload_text, "envelope payload")
        return cls(payload=payload, payload_type=payload_type, signatures=signatures)

    def to_bytes(self) -> bytes:
        """Serialise as canonical JSON (sorted keys, no whitespace, UTF-8).

        Signatures stay in the order held.
        """
        return dumps_canonical(
            {
                "payload": _b64encode(self.payload),
                "payloadType": self.payload_type,
                "signatures": [{"keyid": s.keyid, "sig": _b64encode(s.sig)} for s in self.signatures],
            }
        )

    def pae(self) -> bytes:
        """Return ``PAE(payload_type, payload)``, the bytes every signature covers."""
        return pae(self.payload_type, self.payload)

    def add_signature(self, keyid: str, sig: bytes) -> Envelope:
        """Return a copy with *sig* by *keyid*, replacing a signature by that key id in place.

        Other signatures keep their order; a new key id is appended. If the envelope held several
        signatures with this key id, the first is replaced and the others are dropped.

        Raises:
            TypeError: *keyid* is not a ``str`` or *sig* is not ``bytes``.
            ValueError: *keyid* or *sig* is empty.
        """
        if not isinstance(keyid, str) or not isinstance(sig, bytes):
            raise TypeError("keyid must be str and sig must be bytes")
        if not keyid or not sig:
            raise ValueError("keyid and sig must not be empty")
        new = Signature(keyid=keyid, sig=sig)
        kept: list[Signature] = []
        replaced = False
        for existing in self.signatures:
            if existing.keyid != keyid:
                kept.append(existing)
            elif not replaced:
                kept.append(new)
                replaced = True
        if not replaced:
            kept.append(new)
        return attrs.evolve(self, signatures=tuple(kept))

    def sign(self, private_key: PrivateKey) -> Envelope:
        """Return a copy signed by *private_key*, replacing an earlier signature by that key.

        The key id is ``private_key.key_id``.

        The scheme is the key's one scheme. Ed25519 and ECDSA (RFC 6979) signatures are
        deterministic.

        Raises:
            TypeError: *private_key* is not a :class:`~securehost.PrivateKey`.
        """
        private: type[PrivateKey] = import_as_host("securehost._signing.private").PrivateKey  # signing only
        if not isinstance(private_key, private):
            raise TypeError(f"private_key must be a securehost.PrivateKey, not {type(private_key).__name__}")
        return self.add_signature(private_key.key_id, private_key.sign(self.pae()))

    def verify_signature(self, sig: Signature, key: PublicKey) -> bool:
        """Return whether *key* verifies *sig* over this PAE; never raises if it does not.

        The signature's key id must equal ``key.key_id``; the algorithm is the key's, never the
        envelope's.

        Raises:
            TypeError: *sig* is not a :class:`Signature` or *key* is not a
                :class:`~securehost.PublicKey`.
        """
        if not isinstance(sig, Signature) or not isinstance(key, PublicKey):
            raise TypeError("sig must be a Signature and key a securehost.PublicKey")
        return _verify(sig, key, self.pae())


def _rebuild(data: bytes) -> Envelope | None:
    """The envelope of *data*, which passed :meth:`Envelope.from_bytes` before, built without checking again.

    Returns ``None`` if the bytes do not have an envelope's shape (see *parsed_before*).
    """
    try:
        obj = json.loads(data)
        signatures = tuple(
            _trusted_signature(item["keyid"], binascii.a2b_base64(item["sig"])) for item in obj["signatures"]
        )
        payload_type = obj["payloadType"]
        if not isinstance(payload_type, str):
            return None
        return _trusted_envelope(binascii.a2b_base64(obj["payload"]), payload_type, signatures)
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
        return None


def compact_envelope(envelope: Envelope) -> tuple[bytes, str, tuple[tuple[str, bytes], ...]]:
    """*envelope* as plain bytes, strings and tuples (for a ``marshal``-ed record; see :func:`expand_envelope`)."""
    return envelope.payload, envelope.payload_type, tuple((s.keyid, s.sig) for s in envelope.signatures)


def expand_envelope(data: object) -> Envelope | None:
    """The envelope :func:`compact_envelope` gave *data* for, built without checking again; ``None`` for another shape.

    Only for data that an envelope which passed :meth:`Envelope.from_bytes` gave, kept where only the host writes.
    """
    try:
        payload, payload_type, signatures = cast("tuple[Any, ...]", data)
        if not isinstance(payload, bytes) or not isinstance(payload_type, str):
            return None
        return _trusted_envelope(
            payload, payload_type, tuple(_trusted_signature(keyid, sig) for keyid, sig in signatures)
        )
    except (ValueError, TypeError):
        return None


def _trusted_envelope(payload: bytes, payload_type: str, signatures: tuple[Signature, ...]) -> Envelope:
    envelope = object.__new__(Envelope)
    object.__setattr__(envelope, "payload", payload)
    object.__setattr__(envelope, "payload_type", payload_type)
    object.__setattr__(envelope, "signatures", signatures)
    return envelope


def _trusted_signature(keyid: object, sig: object) -> Signature:
    if not isinstance(keyid, str) or not isinstance(sig, bytes):
        raise TypeError("keyid or sig")
    signature = object.__new__(Signature)
    object.__setattr__(signature, "keyid", keyid)
    object.__setattr__(signature, "sig", sig)
    return signature


def _verify(sig: Signature, key: PublicKey, message: bytes) -> bool:
    return sig.keyid == key.key_id and key.is_valid_signature(sig.sig, message)


SignatureStatus: TypeAlias = Literal["valid", "invalid", "unknown-key", "duplicate"]


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class SignatureCheck:
    """The result of checking one envelope signature against the trusted keys, without any policy.

    Attributes:
        keyid: the signature's key id.
        status: ``"valid"`` (a trusted key verifies it), ``"invalid"`` (the trusted key with this id
            does not), ``"unknown-key"`` (no trusted key has this id) or ``"duplicate"`` (an earlier
            signature with the same key id was valid or named no trusted key; it is not checked, so a
            key counts at most once).
        key: the trusted key that was tried, for ``"valid"`` and ``"invalid"``; otherwise ``None``.
    """

    keyid: str
    status: SignatureStatus
    key: PublicKey | None = None

    @property
    def valid(self) -> bool:
        """``True`` when a trusted key verified this signature."""
        return self.status == "valid"

    @property
    def reason_code(self) -> ReasonCode | None:
        """The reason code a verifier reports for this signature, or ``None`` when it is valid."""
        return _STATUS_CODES[self.status]


_STATUS_CODES: Final[dict[str, ReasonCode | None]] = {
    "valid": None,
    "invalid": ReasonCode.SIGNATURE_INVALID,
    "unknown-key": ReasonCode.KEY_UNKNOWN,
    "duplicate": ReasonCode.DUPLICATE_SIGNATURE,
}


def check_signatures(
    envelope: Envelope, lookup: Callable[[str], PublicKey | None], *, known_valid: Set[str] = frozenset()
) -> tuple[SignatureCheck, ...]:
    """Check each signature of *envelope* with the trusted key *lookup* returns for its key id.

    No policy is applied: thresholds, key scopes, validity periods and revocation are the trust
    store's business. The PAE is computed once. As the DSSE verification rules have it, a key id
    is only a hint: a signature that fails does not stop a later signature with the same key id
    from being verified (securesystemslib refuses such an envelope outright). A signature whose
    key id already has a valid signature (or names no trusted key) is reported as ``"duplicate"``
    and not verified, so one key counts at most once whatever the envelope repeats, and a key is
    tried at most once per invalid signature (the envelope limits bound their number).

    Args:
        envelope: a parsed envelope.
        lookup: returns the trusted public key for a key id, or ``None`` if there is none. A key
            whose ``key_id`` differs from the requested id verifies nothing.
        known_valid: key ids whose signature in exactly this envelope is known to verify (see
            :class:`securehost._signing.memo.SignatureMemo`); they are ``"valid"`` without the cryptography
            when *lookup* still returns their key.

    Returns:
        One :class:`SignatureCheck` per signature, in envelope order.

    Raises:
        TypeError: *envelope* is not an :class:`Envelope`, or *lookup* returns something other than
            a :class:`~securehost.PublicKey` or ``None``.
    """
    if not isinstance(envelope, Envelope):
        raise TypeError(f"envelope must be an Envelope, not {type(envelope).__name__}")
    message = envelope.pae()
    seen: dict[str, SignatureStatus] = {}
    results: list[SignatureCheck] = []
    for sig in envelope.signatures:
        if seen.get(sig.keyid, "invalid") != "invalid":
            results.append(SignatureCheck(keyid=sig.keyid, status="duplicate"))
            continue
        key = lookup(sig.keyid)
        if key is None:
            seen[sig.keyid] = "unknown-key"
            results.append(SignatureCheck(keyid=sig.keyid, status="unknown-key"))
            continue
        if not isinstance(key, PublicKey):
            raise TypeError(f"lookup must return a securehost.PublicKey or None, not {type(key).__name__}")
        known = sig.keyid in known_valid and key.key_id == sig.keyid
        status: SignatureStatus = "valid" if known or _verify(sig, key, message) else "invalid"
        seen[sig.keyid] = status
        results.append(SignatureCheck(keyid=sig.keyid, status=status, key=key))
    return tuple(results)
