"""The trust store as last parsed: a warm start reads the store's file but does not parse its TOML again.

:class:`~securehost.Host` reads its trust-store file on every start-up. When the file's bytes have the SHA-256 that
this memo recorded, under the same path and this version of securehost, the store is rebuilt from the parts the
strict loader produced last time (through the models' own constructors and validators), without ``tomllib`` and
without re-reading the keys' text. Any other content is parsed in full, and the result replaces the memo.

What is remembered is what the file said, not whether it is trusted: the file is read, and its mode checked (not
writable by every user), on every start-up; the keys, scopes, windows and thresholds are applied afresh to every
signature. The memo lives in the host's state directory, authenticated with a key derived from the host's private
cache key like the signature memo; a memo whose MAC does not check out is ignored, audited
(``trust_store.memo_tampered``) and rewritten. Only a store whose keys are all Ed25519 is remembered (the other key
types are parsed by ``cryptography``, which such a store imports anyway).
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, final

from securehost._digests import sha256
from securehost._fileio import SealedFile, SealedState
from securehost._permissions import Permission
from securehost._signing.keys import ed25519_from_spki, ed25519_spki
from securehost._trust.load import MAX_STORE_BYTES, check_not_world_writable, read_limited
from securehost._trust.model import Threshold, TrustedKey
from securehost._trust.policy import permission_set
from securehost._trust.store import TrustStore, parse_store
from securehost._version import __version__
from securehost.exceptions import KeyFormatError, PermissionFormatError, TrustStoreError

if TYPE_CHECKING:
    from pathlib import Path

    from securehost._audit import AuditLog

__all__ = ["TrustStoreMemo", "store_digest"]

_MAGIC: Final = b"SHTS\x00\x02\r\n"
_MAX_FILE: Final = 8 * 1024 * 1024  # a store is at most 4 MiB of TOML; its parts take less
#: The parts were produced by this version's loader: another version parses the store again.
_CONTEXT: Final = __version__.encode() + b"\0"


def store_digest(text: str) -> str:
    """The SHA-256 (hex) of a trust store's text, as its file holds it (UTF-8)."""
    return sha256(text.encode("utf-8")).hexdigest()


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parts(store: TrustStore) -> dict[str, Any] | None:
    keys = []
    for trusted in store.keys.values():
        der = ed25519_spki(trusted.key)
        if der is None:
            return None
        keys.append(
            [
                der.hex(),
                trusted.label,
                list(trusted.names),
                list(trusted.max_permissions.strings()),
                list(trusted.capabilities),
                _time(trusted.valid_after),
                _time(trusted.valid_before),
                trusted.source,
            ]
        )
    return {
        "keys": keys,
        "revoked": sorted(store.revoked),
        "thresholds": [[t.pattern, t.count] for t in store.thresholds],
    }


def _rebuild(parts: dict[str, Any], source: str) -> TrustStore:
    keys = [
        TrustedKey(
            key=ed25519_from_spki(bytes.fromhex(der)),
            label=label,
            names=names,
            max_permissions=permission_set(Permission.parse(text) for text in permissions),
            capabilities=capabilities,
            valid_after=None if after is None else datetime.fromisoformat(after),
            valid_before=None if before is None else datetime.fromisoformat(before),
            source=where,
        )
        for der, label, names, permissions, capabilities, after, before, where in parts["keys"]
    ]
    thresholds = [Threshold(pattern=pattern, count=count) for pattern, count in parts["thresholds"]]
    return TrustStore.from_keys(keys, revoked=parts["revoked"], thresholds=thresholds, source=source)


@final
class TrustStoreMemo(SealedState):
    """The parts of the trust store last parsed, with the digest and path of its text.

    Args:
        path: the memo file (in the host's private state directory).
        key: the MAC key (32 bytes or more, private to the host).
        audit: where a ``trust_store.memo_tampered`` event goes.
    """

    __slots__ = ("_entry",)

    def __init__(self, path: Path, key: bytes, audit: AuditLog | None = None) -> None:
        sealed = SealedFile(path, key, _MAGIC, context=_CONTEXT, limit=_MAX_FILE)
        super().__init__(sealed, audit, tampered_event="trust_store.memo_tampered", prefix=".trust-")
        self._entry: tuple[str, str, dict[str, Any]] | None = None

    def _decode(self, payload: bytes) -> None:
        digest, source, parts = json.loads(payload)
        if not isinstance(digest, str) or not isinstance(source, str) or not isinstance(parts, dict):
            raise ValueError("not a trust store memo")
        self._entry = (digest, source, parts)

    def _encode(self) -> bytes:
        return json.dumps(self._entry, separators=(",", ":")).encode()

    def _clear(self) -> None:
        self._entry = None

    def load(self, path: str | os.PathLike[str]) -> TrustStore:
        """Read the trust store file at *path* as :meth:`TrustStore.load` does; rebuild it if it is the one remembered.

        Text with another SHA-256, or from another path, is parsed in full and remembered in its place.

        Raises:
            TrustStoreError: as :meth:`TrustStore.load`: the file cannot be read, is not a regular file, is writable
                by every user, is larger than 4 MiB, is not UTF-8, or is invalid.
        """
        source = os.fspath(path)
        text = read_limited(path, limit=MAX_STORE_BYTES, error=TrustStoreError, what="trust store")
        check_not_world_writable(path, source)
        digest = store_digest(text)
        store = self.recall(digest, source)
        if store is None:
            store = parse_store(text, source=source)
            self.remember(digest, source, store)
            self.save()
        return store

    def recall(self, digest: str, source: str) -> TrustStore | None:
        """Return the store whose text has SHA-256 *digest* and came from *source*, if it is the one remembered."""
        with self._lock:
            self._ensure_loaded()
            entry = self._entry
        if entry is None or entry[0] != digest or entry[1] != source:
            return None
        try:
            return _rebuild(entry[2], source)
        except (KeyError, IndexError, TypeError, ValueError, TrustStoreError, KeyFormatError, PermissionFormatError):
            return None  # parts this version cannot rebuild (written by hand with the key): parse the text

    def remember(self, digest: str, source: str, store: TrustStore) -> None:
        """Remember *store*, parsed from the text with SHA-256 *digest* from *source* (not if a key needs parsing)."""
        parts = _parts(store)
        if parts is None:
            return
        with self._lock:
            self._ensure_loaded()
            entry = (digest, source, parts)
            if entry != self._entry:
                self._entry, self._dirty = entry, True
