"""Which envelope signatures already verified: a host-owned memo that spares the cryptography on the next start-up.

Whether the signature that key id *K* made in an envelope is valid depends only on the envelope's bytes and on the
key: a key id is the SHA-256 of the key's SubjectPublicKeyInfo and the scheme is fixed by the key type, so the
answer for (digest of the envelope, *K*) never changes. The envelope's digest is its BLAKE2b-256
(:func:`securehost._digests.fingerprint`): it never leaves the state directory. The memo keeps the pairs that
verified, in the host's state directory, authenticated with a key derived from the host's private cache key.
Everything else is judged afresh on every load: whether *K* is still in the trust store (a removed key verifies
nothing), revocation, validity windows, name scopes, thresholds, permission ceilings, expiry, and the statement's
content.

The memo also keeps which envelopes' statements passed the strict parser (strict JSON, the canonical form and the
validation of every field) under this version of securehost: the same bytes pass them again, so the envelope and
the statement remembered here are rebuilt from the standard JSON decoder's output without validating again. With
that mark it keeps the SHA-256 of the envelope's payload, which a check reports: the same bytes, the same digest.
Whether the statement is trusted (keys, scopes, windows, ceilings, expiry) is still judged afresh on every load.

A memo that cannot be read or whose MAC does not check out is treated as empty (and audited when tampered); a
memo that cannot be written is skipped. It never makes a signature count that has not verified on this machine
with this key, unless someone holds the state directory's key, who can already run code through the bytecode cache.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Final, final

from securehost._fileio import SealedFile, SealedState
from securehost._version import __version__

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from securehost._audit import AuditLog

__all__ = ["SignatureMemo"]

_MAGIC: Final = b"SHSM\x00\x02\r\n"
_MAX_FILE: Final = 16 * 1024 * 1024
#: The scheme rules the verdicts were reached under; a securehost that changes them starts a new memo.
_SCHEMES: Final = b"ed25519;ecdsa-p256-sha256;ecdsa-p384-sha384;rsassa-pss-sha256-mgf1-sha256-salt32"
MAX_ENTRIES: Final = 4096
#: Rows record "parsed strictly" under the parser of this version only: another version starts a new memo.
_CONTEXT: Final = _SCHEMES + b"\0" + __version__.encode() + b"\0"


def _is_sha256(value: object) -> bool:
    """Whether *value* is a SHA-256 in lowercase hex (no pattern to compile on a warm start-up)."""
    return isinstance(value, str) and len(value) == 64 and not value.strip("0123456789abcdef")


@final
class SignatureMemo(SealedState):
    """Remembers the (envelope digest, key id) pairs whose signature verified.

    Args:
        path: the memo file (in the host's private state directory).
        key: the MAC key (32 bytes or more, private to the host).
        audit: where a ``signatures.memo_tampered`` event goes.
        max_entries: envelopes remembered; the oldest are forgotten first.
    """

    __slots__ = ("_entries", "_max", "_parsed")

    def __init__(
        self, path: Path, key: bytes, audit: AuditLog | None = None, *, max_entries: int = MAX_ENTRIES
    ) -> None:
        sealed = SealedFile(path, key, _MAGIC, context=_CONTEXT, limit=_MAX_FILE)
        super().__init__(sealed, audit, tampered_event="signatures.memo_tampered", prefix=".memo-")
        self._max = max_entries
        self._entries: dict[str, frozenset[str]] = {}
        #: envelope digest -> SHA-256 of its payload, for the envelopes whose statement parsed strictly
        self._parsed: dict[str, str] = {}

    def _decode(self, payload: bytes) -> None:
        rows = json.loads(payload)
        entries = {str(row[0]): frozenset(str(k) for k in row[1]) for row in rows}
        parsed = {str(row[0]): row[2] for row in rows if _is_sha256(row[2])}
        self._entries, self._parsed = entries, parsed

    def _encode(self) -> bytes:
        rows = [[digest, sorted(keyids), self._parsed.get(digest)] for digest, keyids in self._entries.items()]
        return json.dumps(rows, separators=(",", ":")).encode()

    def _clear(self) -> None:
        self._entries, self._parsed = {}, {}

    def valid_keyids(self, digest: str) -> frozenset[str]:
        """Return the key ids whose signature in the envelope with digest *digest* verified before."""
        with self._lock:
            self._ensure_loaded()
            return self._entries.get(digest, frozenset())

    def parsed(self, digest: str) -> str | None:
        """The payload's SHA-256 (hex) if the statement of the envelope *digest* passed the strict parser before."""
        with self._lock:
            self._ensure_loaded()
            return self._parsed.get(digest) if digest in self._entries else None

    def remember_parsed(self, digest: str, payload_sha256: str) -> None:
        """Record that the statement of the envelope *digest* (already remembered) parsed strictly.

        Args:
            digest: the envelope's digest.
            payload_sha256: the SHA-256 (hex) of its payload, which :meth:`parsed` gives back.

        Raises:
            ValueError: *payload_sha256* is not 64 lowercase hex digits.
        """
        if not _is_sha256(payload_sha256):
            raise ValueError("payload_sha256 must be 64 lowercase hex digits")
        with self._lock:
            self._ensure_loaded()
            if digest in self._entries and self._parsed.get(digest) != payload_sha256:
                self._parsed[digest] = payload_sha256
                self._dirty = True

    def remember(self, digest: str, keyids: Iterable[str]) -> None:
        """Record that the signatures of *keyids* in the envelope with digest *digest* verified."""
        new = frozenset(keyids)
        with self._lock:
            self._ensure_loaded()
            old = self._entries.pop(digest, frozenset())
            self._entries[digest] = old | new  # most recently used last
            self._dirty = self._dirty or not new <= old
            while len(self._entries) > self._max:
                self._parsed.pop(oldest := next(iter(self._entries)), None)
                del self._entries[oldest]
