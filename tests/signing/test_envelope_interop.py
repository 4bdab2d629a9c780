"""Interoperability with securesystemslib's DSSE implementation, in both directions.

RSA-PSS salt lengths: securehost signs and verifies RSASSA-PSS with SHA-256, MGF1-SHA-256 and a salt
of exactly 32 bytes. securesystemslib 1.x signs ``rsassa-pss-sha256`` with
``salt_length=PSS.DIGEST_LENGTH`` (32 bytes for SHA-256, ``CryptoSigner``) and verifies with
``salt_length=PSS.AUTO`` (any salt, ``SSlibKey``). So both directions interoperate; only a foreign
signer using another salt length would be accepted by securesystemslib and rejected by securehost,
which the last tests here pin down.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import given, settings
from securesystemslib import dsse
from securesystemslib.exceptions import VerificationError
from securesystemslib.signer import CryptoSigner, Key, SSlibKey

from securehost import PAYLOAD_TYPE, Envelope, PrivateKey, PublicKey, Statement, check_signatures
from tests.strategies_envelope import KEY_KINDS, private_key, statements


def sslib_key(key: PublicKey) -> SSlibKey:
    return SSlibKey.from_crypto(key.crypto_key, keyid=key.key_id, scheme=key.key_type.sslib_scheme)


def sslib_signer(key: PrivateKey) -> CryptoSigner:
    return CryptoSigner(key.crypto_key, sslib_key(key.public_key))


def sslib_envelope(data: bytes) -> dsse.Envelope:
    return dsse.Envelope.from_dict(json.loads(data))


def sslib_sign(payload: bytes, *keys: PrivateKey) -> bytes:
    envelope = dsse.Envelope(payload=payload, payload_type=PAYLOAD_TYPE, signatures={})
    for key in keys:
        envelope.sign(sslib_signer(key))
    return json.dumps(envelope.to_dict()).encode()


def lookup(*keys: PrivateKey) -> Any:
    return {k.key_id: k.public_key for k in keys}.get


@pytest.fixture(scope="module")
def statement_bytes() -> bytes:
    doc = {
        "_type": "https://in-toto.io/Statement/v1",
        "predicate": {
            "entryPoints": {"demoapp.plugins": {"csv": "acme_csv.plugin:CsvPlugin"}},
            "issuedAt": "2026-11-22T10:00:00Z",
            "name": "acme-csv",
            "permissions": ["fs.read:/srv/data/**"],
            "tags": ["py3-none-any"],
            "version": "1.2.0",
        },
        "predicateType": "https://securehost.dev/attestation/plugin/v1",
        "subject": [{"digest": {"sha256": "ab" * 32}, "name": "acme_csv/__init__.py"}],
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def test_pae_matches_securesystemslib() -> None:
    for payload_type, payload in [(PAYLOAD_TYPE, b'{"a":1}'), ("tÿpe", b""), ("", b"\x00\xff")]:
        ours = Envelope(payload=payload, payload_type=payload_type).pae()
        assert ours == dsse.Envelope(payload, payload_type, {}).pae()


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_securehost_envelopes_verify_with_securesystemslib(kind: str, statement_bytes: bytes) -> None:
    key = private_key(kind)
    data = Statement.from_json_bytes(statement_bytes).to_envelope().sign(key).to_bytes()
    theirs = sslib_envelope(data)
    accepted = theirs.verify([sslib_key(key.public_key)], 1)
    assert list(accepted) == [key.key_id]
    assert theirs.payload == statement_bytes
    assert theirs.payload_type == PAYLOAD_TYPE
    assert theirs.to_dict() == json.loads(data)


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_securesystemslib_envelopes_verify_with_securehost(kind: str, statement_bytes: bytes) -> None:
    key = private_key(kind)
    envelope = Envelope.from_bytes(sslib_sign(statement_bytes, key))
    assert [c.status for c in check_signatures(envelope, lookup(key))] == ["valid"]
    assert Statement.from_envelope(envelope) == Statement.from_json_bytes(statement_bytes)


def test_ed25519_signatures_are_byte_identical(statement_bytes: bytes) -> None:
    key = private_key("ed25519")
    ours = Statement.from_json_bytes(statement_bytes).to_envelope().sign(key).to_bytes()
    theirs = sslib_sign(statement_bytes, key)
    assert json.loads(ours) == json.loads(theirs)


def test_mixed_multi_signature_envelope_verifies_with_both(statement_bytes: bytes) -> None:
    ed, ec, rsa_key = private_key("ed25519"), private_key("ecdsa-p384"), private_key("rsa-3072")
    partly = Envelope.from_bytes(sslib_sign(statement_bytes, ec))
    combined = partly.sign(ed).sign(rsa_key)
    statuses = [c.status for c in check_signatures(combined, lookup(ed, ec, rsa_key))]
    assert statuses == ["valid", "valid", "valid"]
    keys: list[Key] = [sslib_key(k.public_key) for k in (ed, ec, rsa_key)]
    assert len(sslib_envelope(combined.to_bytes()).verify(keys, 3)) == 3


def test_tampered_envelopes_fail_in_both(statement_bytes: bytes) -> None:
    key = private_key("ecdsa-p256")
    doc = json.loads(sslib_sign(statement_bytes, key))
    doc["payloadType"] = "application/json"
    data = json.dumps(doc).encode()
    assert [c.status for c in check_signatures(Envelope.from_bytes(data), lookup(key))] == ["invalid"]
    with pytest.raises(VerificationError):
        sslib_envelope(data).verify([sslib_key(key.public_key)], 1)


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256"])
@settings(max_examples=20)
@given(statement=statements(max_subjects=3))
def test_interop_round_trip_for_generated_statements(kind: str, statement: Statement) -> None:
    key = private_key(kind)
    ours = statement.to_envelope().sign(key).to_bytes()
    assert sslib_envelope(ours).verify([sslib_key(key.public_key)], 1)
    theirs = Envelope.from_bytes(sslib_sign(statement.to_json_bytes(), key))
    assert [c.status for c in check_signatures(theirs, lookup(key))] == ["valid"]
    assert Statement.from_envelope(theirs) == statement


# --- RSA-PSS salt length --------------------------------------------------------------------------


def _pss(salt_length: Any) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt_length)


def test_securesystemslib_signs_rsa_pss_with_a_32_byte_salt(statement_bytes: bytes) -> None:
    key = private_key("rsa-3072")
    doc = json.loads(sslib_sign(statement_bytes, key))
    sig = base64.b64decode(doc["signatures"][0]["sig"])
    message = Envelope(payload=statement_bytes, payload_type=PAYLOAD_TYPE).pae()
    public = key.public_key.crypto_key
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(sig, message, _pss(32), hashes.SHA256())
    for other in (0, 20, 64):
        with pytest.raises(InvalidSignature):
            public.verify(sig, message, _pss(other), hashes.SHA256())


def test_securehost_signs_rsa_pss_with_a_32_byte_salt(statement_bytes: bytes) -> None:
    key = private_key("rsa-3072")
    envelope = Envelope(payload=statement_bytes, payload_type=PAYLOAD_TYPE).sign(key)
    public = key.public_key.crypto_key
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(envelope.signatures[0].sig, envelope.pae(), _pss(32), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public.verify(envelope.signatures[0].sig, envelope.pae(), _pss(64), hashes.SHA256())


@pytest.mark.parametrize("salt", [0, 64, padding.PSS.MAX_LENGTH])
def test_other_salt_lengths_pass_securesystemslib_but_not_securehost(salt: Any, statement_bytes: bytes) -> None:
    """securesystemslib verifies with PSS.AUTO; securehost insists on the one scheme of the key."""
    key = private_key("rsa-3072")
    unsigned = Envelope(payload=statement_bytes, payload_type=PAYLOAD_TYPE)
    crypto = key.crypto_key
    assert isinstance(crypto, rsa.RSAPrivateKey)
    envelope = unsigned.add_signature(key.key_id, crypto.sign(unsigned.pae(), _pss(salt), hashes.SHA256()))
    assert sslib_envelope(envelope.to_bytes()).verify([sslib_key(key.public_key)], 1)
    assert [c.status for c in check_signatures(envelope, lookup(key))] == ["invalid"]
