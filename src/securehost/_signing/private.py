"""Private signing keys: generation, loading (PEM and OpenSSH) and signing with the key type's one scheme.

Kept apart from :mod:`securehost._signing.keys` (public keys and key ids): a host that only verifies never defines
this class, and signing needs ``cryptography`` anyway, which is imported with this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias, final

import attrs
from cryptography import exceptions as _cx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from securehost._signing.keys import GENERATE_TYPES, KeyType, PublicKey, check_key_data, check_single_pem, pss
from securehost.exceptions import KeyFormatError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["PrivateKey"]

_CryptoPrivate: TypeAlias = "ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey"


@final
@attrs.frozen(eq=False, repr=False)
class PrivateKey:
    """A private signing key of a supported type.

    Build one with :meth:`generate`, :meth:`from_pem`, :meth:`from_openssh` or :meth:`load`.
    """

    _key: _CryptoPrivate = attrs.field(alias="key")
    public_key: PublicKey

    @classmethod
    def from_crypto(cls, key: _CryptoPrivate) -> PrivateKey:
        """Wrap a ``cryptography`` private key.

        Raises:
            KeyFormatError: the key's type, curve or size is not supported.
        """
        return cls(key=key, public_key=PublicKey.from_crypto(key.public_key()))

    @classmethod
    def generate(cls, key_type: str = "ed25519") -> PrivateKey:
        """Generate a new key: ``ed25519`` (default), ``ecdsa-p256``, ``ecdsa-p384``, ``rsa-3072`` or ``rsa-4096``.

        Raises:
            ValueError: *key_type* is not one of the names above.
        """
        key: _CryptoPrivate
        if key_type == "ed25519":
            key = ed25519.Ed25519PrivateKey.generate()
        elif key_type == "ecdsa-p256":
            key = ec.generate_private_key(ec.SECP256R1())
        elif key_type == "ecdsa-p384":
            key = ec.generate_private_key(ec.SECP384R1())
        elif key_type in ("rsa-3072", "rsa-4096"):
            key = rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[4:]))
        else:
            raise ValueError(f"unknown key type {key_type!r}; choose one of {', '.join(GENERATE_TYPES)}")
        return cls.from_crypto(key)

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | None = None) -> PrivateKey:
        """Load a PEM private key (PKCS#8, optionally encrypted).

        Raises:
            KeyFormatError: the data is not a supported key, or the password is wrong or missing.
        """
        check_key_data(data, "private key")
        check_single_pem(data, "private key")
        return cls._loaded(serialization.load_pem_private_key, "PEM", data, password)

    @classmethod
    def from_openssh(cls, data: bytes, password: bytes | None = None) -> PrivateKey:
        """Load an OpenSSH private key file as ``ssh-keygen`` writes it (optionally encrypted).

        Raises:
            KeyFormatError: the data is not a supported key, or the password is wrong or missing.
        """
        check_key_data(data, "private key")
        return cls._loaded(serialization.load_ssh_private_key, "OpenSSH", data, password)

    @classmethod
    def _loaded(cls, loader: Callable[..., Any], form: str, data: bytes, password: bytes | None) -> PrivateKey:
        try:
            key = loader(data, password=password)
        except (ValueError, TypeError, _cx.UnsupportedAlgorithm) as exc:
            raise KeyFormatError(f"cannot load {form} private key: {exc}") from exc
        return cls.from_crypto(key)

    @classmethod
    def load(cls, data: bytes, password: bytes | None = None) -> PrivateKey:
        """Load a private key from PEM or OpenSSH format, whichever *data* is.

        Raises:
            KeyFormatError: the data is neither, or the password is wrong or missing.
        """
        check_key_data(data, "private key")
        if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
            return cls.from_openssh(data, password)
        return cls.from_pem(data, password)

    @property
    def key_type(self) -> KeyType:
        """The key type, which fixes the signature scheme."""
        return self.public_key.key_type

    @property
    def key_id(self) -> str:
        """The key id of the public half."""
        return self.public_key.key_id

    def sign(self, data: bytes) -> bytes:
        """Sign *data* with this key's one scheme (deterministic for Ed25519 and ECDSA, per RFC 6979)."""
        if not isinstance(data, bytes):
            raise TypeError("data must be bytes")
        key = self._key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            algorithm = hashes.SHA256() if self.key_type is KeyType.ECDSA_P256 else hashes.SHA384()
            return key.sign(data, ec.ECDSA(algorithm, deterministic_signing=True))
        return key.sign(data, pss(), hashes.SHA256())

    def to_pem(self, password: bytes | None = None) -> bytes:
        """Return the key as PKCS#8 PEM, encrypted with *password* if given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
        )
        return self._key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)

    @property
    def crypto_key(self) -> _CryptoPrivate:
        """The wrapped ``cryptography`` private key (for interoperability)."""
        return self._key

    def __repr__(self) -> str:
        return f"PrivateKey({self.key_type.value}, {self.key_id[:16]}...)"
