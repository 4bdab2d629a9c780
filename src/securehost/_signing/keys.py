"""Public keys: loading (PEM and OpenSSH), key ids and the one signature scheme per key type (signing: ``private``).

The signature scheme is a property of the key type, never of the signature:

=============  ==========================================  =====================================
key type       scheme                                      securesystemslib ``keytype``/``scheme``
=============  ==========================================  =====================================
``ed25519``    Ed25519 (RFC 8032, pure)                    ``ed25519`` / ``ed25519``
``ecdsa-p256``  ECDSA over P-256 with SHA-256, DER signature  ``ecdsa`` / ``ecdsa-sha2-nistp256``
``ecdsa-p384``  ECDSA over P-384 with SHA-384, DER signature  ``ecdsa`` / ``ecdsa-sha2-nistp384``
``rsa``        RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32   ``rsa`` / ``rsassa-pss-sha256``
=============  ==========================================  =====================================

RSA keys must have at least 3072 bits. There is no RSA PKCS#1 v1.5, no SHA-1 and no negotiation.

The **key id** is the lowercase hex SHA-256 of the public key's DER-encoded SubjectPublicKeyInfo. It depends on the
key alone (not on a comment, a label or an encoding), so the same key loaded from a PEM file, an OpenSSH line or an
``allowed_signers`` entry has the same id: ``openssl pkey -pubin -outform DER | sha256sum`` computes it too.
"""

from __future__ import annotations

import binascii
import enum
import importlib
import sys
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, final

import attrs

from securehost._digests import sha256
from securehost.exceptions import KeyFormatError

if TYPE_CHECKING:
    from cryptography import exceptions as _cx
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
else:

    class _Lazy:
        """A module imported on first attribute access.

        A warm start-up verifies no signature (the memo knows them), so it does not import ``cryptography`` (about
        25 ms) unless a key or a signature needs it.
        """

        __slots__ = ("_module", "_name")

        def __init__(self, name: str) -> None:
            self._name = name
            self._module: Any = None

        def __getattr__(self, attr: str) -> Any:
            if self._module is None:
                self._module = importlib.import_module(self._name)
            return getattr(self._module, attr)

    _cx = _Lazy("cryptography.exceptions")
    hashes = _Lazy("cryptography.hazmat.primitives.hashes")
    serialization = _Lazy("cryptography.hazmat.primitives.serialization")
    ec = _Lazy("cryptography.hazmat.primitives.asymmetric.ec")
    ed25519 = _Lazy("cryptography.hazmat.primitives.asymmetric.ed25519")
    padding = _Lazy("cryptography.hazmat.primitives.asymmetric.padding")
    rsa = _Lazy("cryptography.hazmat.primitives.asymmetric.rsa")

__all__ = [
    "GENERATE_TYPES", "KeyType", "PublicKey", "b64decode_strict", "check_key_data", "check_single_pem",
    "ed25519_from_spki", "ed25519_spki", "key_id_of", "pss",
]  # fmt: skip

MIN_RSA_BITS: Final = 3072
MAX_KEY_FILE_BYTES: Final = 64 * 1024

_CryptoPublic: TypeAlias = "ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey"


class KeyType(str, enum.Enum):
    """The supported key types; each fixes exactly one signature scheme."""

    ED25519 = "ed25519"
    ECDSA_P256 = "ecdsa-p256"
    ECDSA_P384 = "ecdsa-p384"
    RSA = "rsa"

    @property
    def sslib_keytype(self) -> str:
        """The securesystemslib ``keytype`` for this key type."""
        return {"ed25519": "ed25519", "ecdsa-p256": "ecdsa", "ecdsa-p384": "ecdsa", "rsa": "rsa"}[self.value]

    @property
    def sslib_scheme(self) -> str:
        """The securesystemslib ``scheme`` for this key type."""
        return {
            "ed25519": "ed25519",
            "ecdsa-p256": "ecdsa-sha2-nistp256",
            "ecdsa-p384": "ecdsa-sha2-nistp384",
            "rsa": "rsassa-pss-sha256",
        }[self.value]


GenerateType = Literal["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096"]
GENERATE_TYPES: Final[tuple[str, ...]] = ("ed25519", "ecdsa-p256", "ecdsa-p384", "rsa-3072", "rsa-4096")


def b64decode_strict(data: str | bytes) -> bytes:
    """``base64.b64decode(data, validate=True)``: standard base64, nothing outside its alphabet.

    On Python 3.11 and later that is ``binascii.a2b_base64(data, strict_mode=True)``, which it calls, so the
    :mod:`base64` module stays off a warm start-up.

    Raises:
        binascii.Error: not valid base64.
        ValueError: *data* is a ``str`` with a character outside ASCII.
    """
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(data, strict_mode=True)
    import base64  # noqa: PLC0415 - Python 3.10's validate=True checks with a pattern first

    return base64.b64decode(data, validate=True)


def pss() -> padding.PSS:
    """The RSA signature padding: RSASSA-PSS with MGF1-SHA-256 and a 32-byte salt."""
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


_MAX_SIGNATURE_BYTES: Final = 1024


def _classify(key: _CryptoPublic) -> KeyType:
    """Return the key type of a public key, or raise for anything unsupported.

    Raises:
        KeyFormatError: the key's algorithm, curve or size is not supported.
    """
    if isinstance(key, ed25519.Ed25519PublicKey):
        return KeyType.ED25519
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return KeyType.ECDSA_P256
        if isinstance(key.curve, ec.SECP384R1):
            return KeyType.ECDSA_P384
        raise KeyFormatError(f"unsupported elliptic curve {key.curve.name!r} (use P-256 or P-384)")
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise KeyFormatError(f"RSA key of {key.key_size} bits is too weak (at least {MIN_RSA_BITS} required)")
        return KeyType.RSA
    raise KeyFormatError(f"unsupported key algorithm {type(key).__name__}")


def key_id_of(key: _CryptoPublic) -> str:
    """Return the key id (hex SHA-256 of the DER SubjectPublicKeyInfo) of a ``cryptography`` public key."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return sha256(der).hexdigest()


_ED25519_SPKI_PREFIX: Final = bytes.fromhex("302a300506032b6570032100")
_ED25519_SSH_PREFIX: Final = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20"
_PEM_PUBLIC: Final = (b"-----BEGIN PUBLIC KEY-----", b"-----END PUBLIC KEY-----")


def _ed25519_spki(data: bytes) -> bytes | None:
    """Return the DER SubjectPublicKeyInfo of an Ed25519 public key in the plainest PEM or OpenSSH form, else ``None``.

    Any 32 bytes are an Ed25519 public key to ``cryptography`` (it does not decode the point on loading), so reading
    these two fixed layouts without it accepts exactly the keys it would accept, with the same key id. Anything
    else — other key types, PEM with headers or text around it, certificates — goes to ``cryptography``.
    """
    text = data.strip()
    try:
        if text.startswith(_PEM_PUBLIC[0]) and text.endswith(_PEM_PUBLIC[1]):
            lines = text[len(_PEM_PUBLIC[0]) : -len(_PEM_PUBLIC[1])].strip().splitlines()
            if not lines or any(not line.strip() or len(line.split()) != 1 for line in lines):
                return None  # blank lines, headers, blanks inside a line: let the PEM parser judge
            der = b64decode_strict(b"".join(line.strip() for line in lines))
            return der if len(der) == 44 and der.startswith(_ED25519_SPKI_PREFIX) else None
        fields = text.split()
        if len(fields) < 2 or fields[0] != b"ssh-ed25519" or b"\n" in text:
            return None
        blob = b64decode_strict(fields[1])
    except (binascii.Error, ValueError):
        return None
    if len(blob) != len(_ED25519_SSH_PREFIX) + 32 or not blob.startswith(_ED25519_SSH_PREFIX):
        return None
    return _ED25519_SPKI_PREFIX + blob[len(_ED25519_SSH_PREFIX) :]


def check_single_pem(data: bytes, what: str) -> None:
    """Reject PEM input with more than one block or with text around the block (which loaders silently skip).

    Raises:
        KeyFormatError: *data* is not exactly one PEM block.
    """
    body = data.strip()
    if body.count(b"-----BEGIN ") != 1 or not body.startswith(b"-----BEGIN ") or not body.endswith(b"-----"):
        raise KeyFormatError(f"{what} must be exactly one PEM block with nothing around it")


def check_key_data(data: bytes, what: str) -> None:
    """Refuse key data that is not ``bytes`` or is larger than :data:`MAX_KEY_FILE_BYTES`.

    Raises:
        TypeError: *data* is not ``bytes``.
        KeyFormatError: it is too large.
    """
    if not isinstance(data, bytes):
        raise TypeError(f"{what} must be bytes, not {type(data).__name__}")
    if len(data) > MAX_KEY_FILE_BYTES:
        raise KeyFormatError(f"{what} is larger than {MAX_KEY_FILE_BYTES} bytes")


@final
@attrs.frozen(eq=False)
class PublicKey:
    """A public key of a supported type, able to verify signatures of its one scheme.

    Build one with :meth:`from_pem`, :meth:`from_openssh` or :meth:`load`. Two public keys are equal when their key
    ids are equal.
    """

    _key: _CryptoPublic | None = attrs.field(alias="key")
    key_type: KeyType
    key_id: str
    _der: bytes | None = attrs.field(default=None, alias="der")

    @classmethod
    def from_crypto(cls, key: _CryptoPublic) -> PublicKey:
        """Wrap a ``cryptography`` public key.

        Raises:
            KeyFormatError: the key's type, curve or size is not supported.
        """
        return cls(key=key, key_type=_classify(key), key_id=key_id_of(key))

    @classmethod
    def from_pem(cls, data: bytes) -> PublicKey:
        """Load a PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo) block.

        Raises:
            KeyFormatError: the data is not a supported PEM public key.
        """
        check_key_data(data, "public key")
        check_single_pem(data, "public key")
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError, _cx.UnsupportedAlgorithm) as exc:
            raise KeyFormatError(f"not a valid PEM public key: {exc}") from exc
        return cls.from_crypto(key)  # type: ignore[arg-type]

    @classmethod
    def from_openssh(cls, data: bytes) -> PublicKey:
        """Load an OpenSSH public-key line (``ssh-ed25519 AAAA... comment``).

        Raises:
            KeyFormatError: the line is not a supported OpenSSH public key.
        """
        check_key_data(data, "public key")
        line = data.strip()
        if b"\n" in line:
            raise KeyFormatError("an OpenSSH public key must be a single line")
        try:
            key = serialization.load_ssh_public_key(line)
        except (ValueError, TypeError, _cx.UnsupportedAlgorithm) as exc:
            raise KeyFormatError(f"not a valid OpenSSH public key: {exc}") from exc
        return cls.from_crypto(key)  # type: ignore[arg-type]

    @classmethod
    def load(cls, data: bytes) -> PublicKey:
        """Load a public key from PEM or from an OpenSSH public-key line, whichever *data* is.

        Raises:
            KeyFormatError: the data is neither.
        """
        check_key_data(data, "public key")
        der = _ed25519_spki(data)
        if der is not None:  # the cryptography object is made when a signature must be verified
            return ed25519_from_spki(der)
        if data.lstrip().startswith(b"-----BEGIN"):
            return cls.from_pem(data)
        return cls.from_openssh(data)

    def verify(self, signature: bytes, data: bytes) -> None:
        """Verify *signature* over *data* with this key's one scheme.

        Raises:
            InvalidSignature: the signature is not valid (``cryptography.exceptions.InvalidSignature``).
        """
        if not isinstance(signature, bytes) or not isinstance(data, bytes):
            raise TypeError("signature and data must be bytes")
        if len(signature) > _MAX_SIGNATURE_BYTES:
            raise _cx.InvalidSignature
        key = self.crypto_key
        if isinstance(key, ed25519.Ed25519PublicKey):
            if len(signature) != 64:
                raise _cx.InvalidSignature
            key.verify(signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            algorithm = hashes.SHA256() if self.key_type is KeyType.ECDSA_P256 else hashes.SHA384()
            key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            if len(signature) != (key.key_size + 7) // 8:
                raise _cx.InvalidSignature
            key.verify(signature, data, pss(), hashes.SHA256())

    def is_valid_signature(self, signature: bytes, data: bytes) -> bool:
        """Return whether *signature* over *data* is valid; never raises for a bad signature."""
        try:
            self.verify(signature, data)
        except _cx.InvalidSignature:
            return False
        return True

    def to_pem(self) -> bytes:
        """Return the key as a PEM SubjectPublicKeyInfo block."""
        return self.crypto_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def to_openssh(self, comment: str = "") -> str:
        """Return the key as an OpenSSH public-key line, with an optional comment."""
        line = self.crypto_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        return f"{line} {comment}".rstrip()

    @property
    def crypto_key(self) -> _CryptoPublic:
        """The wrapped ``cryptography`` public key (for interoperability).

        Made on first use for keys that :meth:`load` read without ``cryptography``.
        """
        key = self._key
        if key is None:
            assert self._der is not None  # a key is made with one or the other
            key = ed25519.Ed25519PublicKey.from_public_bytes(self._der[len(_ED25519_SPKI_PREFIX) :])
            object.__setattr__(self, "_key", key)  # a cache of what the frozen fields already determine
        return key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.key_id == self.key_id

    def __hash__(self) -> int:
        return hash(self.key_id)

    def __repr__(self) -> str:
        return f"PublicKey({self.key_type.value}, {self.key_id[:16]}...)"


def ed25519_spki(key: PublicKey) -> bytes | None:
    """The DER SubjectPublicKeyInfo of an Ed25519 key read without ``cryptography``; ``None`` for any other key."""
    return key._der


def ed25519_from_spki(der: bytes) -> PublicKey:
    """An Ed25519 key from its DER SubjectPublicKeyInfo, without ``cryptography`` (what :meth:`PublicKey.load` makes).

    Raises:
        KeyFormatError: *der* is not an Ed25519 SubjectPublicKeyInfo.
    """
    if not isinstance(der, bytes) or len(der) != 44 or not der.startswith(_ED25519_SPKI_PREFIX):
        raise KeyFormatError("not an Ed25519 SubjectPublicKeyInfo")
    return PublicKey(key=None, key_type=KeyType.ED25519, key_id=sha256(der).hexdigest(), der=der)
