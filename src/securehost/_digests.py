"""The digests and MACs of a warm start-up, from CPython's own hash modules: no OpenSSL loaded.

``import hashlib`` (and so ``import hmac``) loads ``_hashlib``, CPython's binding to OpenSSL's libcrypto: about
3.5 ms of CPU time on the benchmark machine, in every process that imports them. What a warm start-up hashes is
small (an envelope, a payload, a key, the trust store's text, a few names), so it uses the implementations CPython
builds in (``_sha2``, or ``_sha256`` before Python 3.12, and ``_blake2``: the ones :mod:`hashlib` itself falls back
to without OpenSSL, the same algorithms with the same results; :func:`hashlib.blake2b` is ``_blake2``'s even with
OpenSSL). An interpreter built without the SHA-256 module gets :mod:`hashlib`'s.

Hashing files (installed files, wheel members) stays with :mod:`hashlib`, imported where a file is hashed: OpenSSL's
SHA-256 uses the CPU's SHA extensions, several times faster per byte.

* :func:`sha256`: SHA-256, where the digest is part of what securehost shows or compares with signed data (a
  payload's digest, a key id).
* :func:`mac`: keyed BLAKE2b-256, the MAC of the host's own state files and bytecode cache, and the derivation of
  their keys. BLAKE2's keyed mode is a MAC by design (RFC 7693, section 2.5; :mod:`hashlib`'s documentation offers it
  in place of HMAC): one pass, no inner and outer hash.
* :func:`fingerprint`: unkeyed BLAKE2b-256 in hex, for names and fingerprints that never leave the state directory.
* :func:`compare_digest`: the constant-time comparison :func:`hmac.compare_digest` falls back to without OpenSSL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable
    from hashlib import _Hash

__all__ = ["MAC_SIZE", "compare_digest", "fingerprint", "mac", "sha256"]

# These private modules are what hashlib.sha256 and hashlib.blake2b are when OpenSSL is absent (Python 3.10 to 3.13).
try:
    from _sha2 import sha256 as _sha256  # type: ignore[import-not-found]  # Python 3.12 and later
except ImportError:  # pragma: no cover - depends on the Python version
    try:
        from _sha256 import sha256 as _sha256  # type: ignore[import-not-found]  # Python 3.10 and 3.11
    except ImportError:  # an interpreter built without it
        from hashlib import sha256 as _sha256
# hashlib.blake2b *is* _blake2.blake2b (OpenSSL's BLAKE2 takes no key): every CPython builds it.
from _blake2 import blake2b as _blake2b
from _operator import _compare_digest

#: The length of :func:`mac`'s result, in bytes.
MAC_SIZE: Final = 32

#: Constant-time equality of two ``bytes`` (or two ASCII ``str``), as :func:`hmac.compare_digest`.
compare_digest: Final[Callable[[bytes | str, bytes | str], bool]] = _compare_digest


def sha256(data: bytes) -> _Hash:
    """A SHA-256 object over *data*, as :func:`hashlib.sha256` returns (``.digest()``, ``.hexdigest()``)."""
    return _sha256(data)  # type: ignore[no-any-return]


def mac(key: bytes, *data: bytes) -> bytes:
    """The keyed BLAKE2b MAC (32 bytes) under *key* (at most 64 bytes) of the concatenation of *data*.

    The parts are fed to the hash one by one: a large payload is not copied to put a header in front of it.

    Raises:
        ValueError: *key* is longer than 64 bytes.
    """
    digest = _blake2b(key=key, digest_size=MAC_SIZE)
    for part in data:
        digest.update(part)
    return digest.digest()


def fingerprint(data: bytes) -> str:
    """The BLAKE2b-256 of *data*, in hex: a name or fingerprint kept in the state directory."""
    return _blake2b(data, digest_size=32).hexdigest()
