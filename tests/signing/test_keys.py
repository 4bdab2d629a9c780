from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from hypothesis import given
from hypothesis import strategies as st

from securehost import KeyType, PrivateKey, PublicKey
from securehost.exceptions import KeyFormatError, SecurehostError

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
FAST_TYPES = ["ed25519", "ecdsa-p256", "ecdsa-p384"]


@pytest.fixture(scope="module")
def rsa_key() -> PrivateKey:
    return PrivateKey.generate("rsa-3072")


def _key(kind: str, rsa_key: PrivateKey) -> PrivateKey:
    return rsa_key if kind == "rsa-3072" else PrivateKey.generate(kind)


@pytest.mark.parametrize("kind", [*FAST_TYPES, "rsa-3072"])
def test_sign_verify_round_trip(kind: str, rsa_key: PrivateKey) -> None:
    key = _key(kind, rsa_key)
    sig = key.sign(b"payload")
    key.public_key.verify(sig, b"payload")
    assert key.public_key.is_valid_signature(sig, b"payload")
    assert not key.public_key.is_valid_signature(sig, b"payloae")
    with pytest.raises(InvalidSignature):
        key.public_key.verify(sig, b"other")


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256", "ecdsa-p384"])
def test_signing_is_deterministic(kind: str) -> None:
    key = PrivateKey.generate(kind)
    assert key.sign(b"same bytes") == key.sign(b"same bytes")


@pytest.mark.parametrize("kind", [*FAST_TYPES, "rsa-3072"])
def test_key_id_is_independent_of_encoding(kind: str, rsa_key: PrivateKey) -> None:
    pub = _key(kind, rsa_key).public_key
    assert PublicKey.from_pem(pub.to_pem()).key_id == pub.key_id
    assert PublicKey.from_openssh(pub.to_openssh("a comment").encode()).key_id == pub.key_id
    assert PublicKey.load(pub.to_openssh().encode()) == pub


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
def test_key_id_matches_openssl_definition(tmp_path: Path) -> None:
    pub = PrivateKey.generate().public_key
    (tmp_path / "k.pem").write_bytes(pub.to_pem())
    der = subprocess.run(
        ["openssl", "pkey", "-pubin", "-in", str(tmp_path / "k.pem"), "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    assert hashlib.sha256(der).hexdigest() == pub.key_id


def test_scheme_is_fixed_by_key_type_rsa_pkcs1v15_rejected(rsa_key: PrivateKey) -> None:
    crypto = rsa_key.crypto_key
    assert isinstance(crypto, rsa.RSAPrivateKey)
    pkcs1 = crypto.sign(b"m", padding.PKCS1v15(), hashes.SHA256())
    assert not rsa_key.public_key.is_valid_signature(pkcs1, b"m")
    pss_sha1 = crypto.sign(b"m", padding.PSS(padding.MGF1(hashes.SHA1()), 20), hashes.SHA1())
    assert not rsa_key.public_key.is_valid_signature(pss_sha1, b"m")


def test_scheme_is_fixed_by_key_type_ecdsa_sha1_and_wrong_hash_rejected() -> None:
    key = PrivateKey.generate("ecdsa-p384")
    crypto = key.crypto_key
    assert isinstance(crypto, ec.EllipticCurvePrivateKey)
    sha256_sig = crypto.sign(b"m", ec.ECDSA(hashes.SHA256()))
    assert not key.public_key.is_valid_signature(sha256_sig, b"m")
    sha1_sig = crypto.sign(b"m", ec.ECDSA(hashes.SHA1()))
    assert not key.public_key.is_valid_signature(sha1_sig, b"m")


def test_signature_of_another_key_type_rejected() -> None:
    ed = PrivateKey.generate("ed25519")
    p256 = PrivateKey.generate("ecdsa-p256")
    assert not p256.public_key.is_valid_signature(ed.sign(b"m"), b"m")
    assert not ed.public_key.is_valid_signature(p256.sign(b"m"), b"m")


def test_rejects_weak_rsa_key() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(KeyFormatError, match="too weak"):
        PrivateKey.from_crypto(weak)
    pem = weak.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(KeyFormatError, match="too weak"):
        PublicKey.from_pem(pem)


def test_rejects_unsupported_curve() -> None:
    p521 = ec.generate_private_key(ec.SECP521R1())
    with pytest.raises(KeyFormatError, match="curve"):
        PrivateKey.from_crypto(p521)


def test_encrypted_pem_round_trip_and_wrong_password() -> None:
    key = PrivateKey.generate()
    pem = key.to_pem(password=b"hunter2")
    assert b"ENCRYPTED" in pem
    assert PrivateKey.load(pem, b"hunter2").key_id == key.key_id
    with pytest.raises(KeyFormatError):
        PrivateKey.load(pem, b"wrong")
    with pytest.raises(KeyFormatError):
        PrivateKey.load(pem)


def test_generate_rejects_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown key type"):
        PrivateKey.generate("dsa")


def test_oversized_key_input_rejected() -> None:
    with pytest.raises(KeyFormatError, match="larger"):
        PublicKey.load(b"a" * (64 * 1024 + 1))
    with pytest.raises(KeyFormatError, match="larger"):
        PrivateKey.load(b"a" * (64 * 1024 + 1))


def test_multiline_openssh_public_key_rejected() -> None:
    line = PrivateKey.generate().public_key.to_openssh().encode()
    with pytest.raises(KeyFormatError, match="single line"):
        PublicKey.from_openssh(line + b"\n" + line)


def test_key_type_sslib_names() -> None:
    assert KeyType.ED25519.sslib_scheme == "ed25519"
    assert KeyType.ECDSA_P256.sslib_scheme == "ecdsa-sha2-nistp256"
    assert KeyType.ECDSA_P384.sslib_keytype == "ecdsa"
    assert KeyType.RSA.sslib_scheme == "rsassa-pss-sha256"


@given(st.binary(max_size=2048))
def test_public_key_parser_raises_only_securehost_errors(data: bytes) -> None:
    with contextlib.suppress(SecurehostError):
        PublicKey.load(data)


@given(st.binary(max_size=2048), st.one_of(st.none(), st.binary(min_size=1, max_size=16)))
def test_private_key_parser_raises_only_securehost_errors(data: bytes, password: bytes | None) -> None:
    with contextlib.suppress(SecurehostError):
        PrivateKey.load(data, password)


@given(st.sampled_from(["-----BEGIN PUBLIC KEY-----\n", "ssh-ed25519 ", "ecdsa-sha2-nistp256 "]), st.binary())
def test_public_key_parser_with_plausible_prefix(prefix: str, tail: bytes) -> None:
    with contextlib.suppress(SecurehostError):
        PublicKey.load(prefix.encode() + tail)


@needs_ssh_keygen
@pytest.mark.parametrize(
    ("args", "key_type"),
    [
        (["-t", "ed25519"], KeyType.ED25519),
        (["-t", "ecdsa", "-b", "256"], KeyType.ECDSA_P256),
        (["-t", "ecdsa", "-b", "384"], KeyType.ECDSA_P384),
        (["-t", "rsa", "-b", "3072"], KeyType.RSA),
    ],
)
@pytest.mark.parametrize("passphrase", ["", "correct horse"])
def test_loads_ssh_keygen_keys(tmp_path: Path, args: list[str], key_type: KeyType, passphrase: str) -> None:
    path = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", *args, "-N", passphrase, "-C", "me@host", "-f", str(path)], check=True)
    private = PrivateKey.load(path.read_bytes(), passphrase.encode() or None)
    public = PublicKey.load((tmp_path / "id.pub").read_bytes())
    assert private.key_type is key_type
    assert private.public_key == public
    public.verify(private.sign(b"data"), b"data")
    if passphrase:
        with pytest.raises(KeyFormatError):
            PrivateKey.load(path.read_bytes(), b"wrong")


@needs_ssh_keygen
def test_rejects_ssh_keygen_weak_rsa_and_ecdsa_p521(tmp_path: Path) -> None:
    for name, args in {"rsa": ["-t", "rsa", "-b", "2048"], "p521": ["-t", "ecdsa", "-b", "521"]}.items():
        path = tmp_path / name
        subprocess.run(["ssh-keygen", "-q", *args, "-N", "", "-f", str(path)], check=True)
        with pytest.raises(KeyFormatError):
            PrivateKey.load(path.read_bytes())
        with pytest.raises(KeyFormatError):
            PublicKey.load(path.with_suffix(".pub").read_bytes())


def test_pem_with_two_blocks_or_trailing_text_rejected() -> None:
    a = PrivateKey.generate().public_key.to_pem()
    b = PrivateKey.generate().public_key.to_pem()
    with pytest.raises(KeyFormatError, match="exactly one PEM block"):
        PublicKey.from_pem(a + b)
    with pytest.raises(KeyFormatError, match="exactly one PEM block"):
        PublicKey.from_pem(a + b"trailing junk")
    priv = PrivateKey.generate().to_pem()
    with pytest.raises(KeyFormatError, match="exactly one PEM block"):
        PrivateKey.from_pem(b"comment\n" + priv)


# --- strict base64 without the base64 module ---------------------------------------------------------------------

_B64_TEXT = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n\t.é", max_size=24)


@given(st.one_of(_B64_TEXT, _B64_TEXT.map(lambda t: t.encode("utf-8")), st.binary(max_size=24).map(base64.b64encode)))
def test_strict_base64_is_b64decode_with_validate(data: str | bytes) -> None:
    """``b64decode_strict`` accepts and refuses exactly what ``base64.b64decode(validate=True)`` does, same bytes."""
    from securehost._signing.keys import b64decode_strict

    try:
        expected: bytes | type[Exception] = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        expected = type(exc)
    try:
        got: bytes | type[Exception] = b64decode_strict(data)
    except (binascii.Error, ValueError) as exc:
        got = type(exc)
    assert got == expected
