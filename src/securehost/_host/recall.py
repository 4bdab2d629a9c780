"""A plugin's statement recalled by its envelope file's identity, so that a warm start-up neither reads nor parses it.

On a full check (:func:`securehost._trust.verify.check_statement`) of an envelope that at least one key verified
and whose statement parsed, the host's :class:`~securehost._installed.filerecord.FileRecord` keeps, under the
envelope file's path and its ``lstat`` identity taken before it was read, what parsing gave: the envelope and the
statement in a compact form, the payload's SHA-256 and the key ids whose signatures verified. The next load that
finds the file with the same identity rebuilds both from the record and judges them again
(:func:`~securehost._trust.verify.recheck_statement`): keys still in the store, revocation, validity windows, name
scopes, thresholds, ceilings and expiry are decided afresh on every load, exactly as for an envelope read from disk.

What this trusts is what the record trusts for every installed file: that a file's content does not change while its
device, inode, size, ``mtime`` and ``ctime`` stay the same (see :mod:`securehost._installed.filerecord`). The record is
authenticated with the host's key and its entries hold for this version of securehost only. ``Host(paranoid=True)``
turns it off with the rest of the record: every envelope is then read, parsed and judged on every load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from securehost._digests import fingerprint
from securehost._signing.envelope import compact_envelope, expand_envelope
from securehost._signing.statement import compact_statement, expand_statement
from securehost._trust.verify import recheck_statement
from securehost._version import __version__

if TYPE_CHECKING:
    import datetime as dt
    import os

    from securehost._installed.filerecord import FileRecord
    from securehost._trust.store import TrustStore
    from securehost._trust.verify import StatementCheck

__all__ = ["recall_statement", "remember_statement"]

#: What a recalled statement depends on besides the file: the parser and the compact form of this version.
_FINGERPRINT: Final = fingerprint(f"statement\0{__version__}\0".encode())


def recall_statement(record: FileRecord, path: str, store: TrustStore, now: dt.datetime) -> StatementCheck | None:
    """The check of the envelope file *path* judged for *store* at *now*, from *record*; ``None`` if it must be read.

    ``None`` when the record holds nothing for *path*, the file's identity changed (one ``lstat``), or the entry has
    another shape.
    """
    outcome = record.recheck(path, _FINGERPRINT)
    if not isinstance(outcome, tuple) or len(outcome) != 4:
        return None
    envelope_data, statement_data, payload_sha256, verified = outcome
    envelope = expand_envelope(envelope_data)
    statement = expand_statement(statement_data)
    if envelope is None or statement is None or not isinstance(payload_sha256, str) or not isinstance(verified, tuple):
        return None
    return recheck_statement(envelope, statement, payload_sha256, frozenset(verified), store, now=now)


def remember_statement(record: FileRecord, path: str, st: os.stat_result, check: StatementCheck) -> bool:
    """Keep in *record* what checking the envelope file *path* (``fstat`` *st*, taken before the read) parsed.

    Returns:
        Whether it was kept: not for an envelope whose statement was not parsed (nothing verified it, or it is
        malformed), nor for a file changed within the record's racy interval.
    """
    if check.statement is None or check.envelope is None:
        return False
    payload_sha256 = str(check.evidence["payload_sha256"])  # every check that parsed a statement carries it
    outcome = (compact_envelope(check.envelope), compact_statement(check.statement), payload_sha256, check.verified)
    return record.remember_check(path, _FINGERPRINT, [(path, st)], outcome)
