"""Verifying a signed statement: the part shared by wheel verification and installed-distribution verification.

Order of checks, following the DSSE protocol: parse the envelope; verify its signatures against the trust store
(pure cryptography, keys and algorithms from the store); parse the payload **only** if at least one trusted,
unrevoked key verified it; then apply trust policy (revocation, validity windows, name scopes, thresholds,
permission vouching) and time (expiry, issue date not in the future).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Final, final

from securehost._digests import fingerprint, sha256
from securehost._permissions import NO_PERMISSIONS, PermissionSet
from securehost._records import Record, setfield
from securehost._signing.envelope import DEFAULT_LIMITS, Envelope, EnvelopeLimits, SignatureCheck, check_signatures
from securehost._signing.statement import Statement
from securehost._verdict import Reason, ReasonCode
from securehost.exceptions import EnvelopeFormatError, PermissionFormatError

if TYPE_CHECKING:
    from collections.abc import Set

    from securehost._signing.memo import SignatureMemo
    from securehost._trust.store import TrustStore

__all__ = ["ENVELOPE_FILENAME", "MAX_CLOCK_SKEW", "StatementCheck", "check_statement", "recheck_statement"]

ENVELOPE_FILENAME: Final = "securehost.dsse.json"
MAX_CLOCK_SKEW: Final = dt.timedelta(minutes=5)


@final
class StatementCheck(Record):
    """What :func:`check_statement` found.

    Attributes:
        statement: the verified statement, or ``None`` when the envelope or its payload could not be trusted.
        envelope: the parsed envelope, or ``None`` when it was malformed.
        signers: key ids whose signatures counted.
        verified: key ids whose signatures verified (counted or not: the policy may refuse a key that verifies).
        requested: the permissions the trusted statement requests (empty when it is not trusted).
        vouched: the requested permissions that enough signers vouched for.
        reasons: every reason against the statement; empty when it is trusted.
        evidence: facts for the audit trail (payload digest, ignored signatures, times).
    """

    __slots__ = ("envelope", "evidence", "reasons", "requested", "signers", "statement", "verified", "vouched")
    statement: Statement | None
    envelope: Envelope | None
    signers: tuple[str, ...]
    verified: tuple[str, ...]
    requested: PermissionSet
    vouched: PermissionSet
    reasons: tuple[Reason, ...]
    evidence: dict[str, Any]

    def __init__(
        self,
        *,
        statement: Statement | None,
        envelope: Envelope | None,
        signers: tuple[str, ...] = (),
        verified: tuple[str, ...] = (),
        requested: PermissionSet = NO_PERMISSIONS,
        vouched: PermissionSet = NO_PERMISSIONS,
        reasons: tuple[Reason, ...] = (),
        evidence: dict[str, Any] | None = None,
    ) -> None:
        setfield(self, "statement", statement)
        setfield(self, "envelope", envelope)
        setfield(self, "signers", signers)
        setfield(self, "verified", verified)
        setfield(self, "requested", requested)
        setfield(self, "vouched", vouched)
        setfield(self, "reasons", reasons)
        setfield(self, "evidence", {} if evidence is None else evidence)


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.timezone.utc)
    if now.tzinfo is None:
        raise TypeError("now must be timezone-aware")
    return now


def check_statement(
    envelope_bytes: bytes | None,
    store: TrustStore,
    *,
    now: dt.datetime | None = None,
    limits: EnvelopeLimits = DEFAULT_LIMITS,
    memo: SignatureMemo | None = None,
) -> StatementCheck:
    """Verify an untrusted envelope against *store*; never raises for bad input.

    Args:
        envelope_bytes: the untrusted envelope file, or ``None`` when there is none.
        store: the trust store that supplies keys and policy.
        now: the time to judge validity windows and expiry at (default: the current UTC time).
        limits: hard limits for parsing.
        memo: signatures of this envelope that verified before are not verified again; the ones that verify now
            are remembered. Policy and the statement are always judged afresh.

    Returns:
        The check, with every reason against the statement.

    Raises:
        TypeError: *now* is a naive datetime.
    """
    when = _now(now)
    if envelope_bytes is None:
        return StatementCheck(
            statement=None,
            envelope=None,
            reasons=(Reason(code=ReasonCode.ENVELOPE_MISSING, message=f"no {ENVELOPE_FILENAME} in the .dist-info"),),
        )
    # bytes that are not bytes get Envelope.from_bytes's TypeError, which names the argument, not the hash's
    digest = fingerprint(envelope_bytes) if memo is not None and isinstance(envelope_bytes, bytes) else None
    # the memo's "parsed strictly" holds for the default limits only (a caller may pass stricter ones)
    remembers = memo is not None and digest is not None and limits == DEFAULT_LIMITS
    payload_sha256 = memo.parsed(digest) if remembers else None  # type: ignore[union-attr,arg-type]
    parsed_before = payload_sha256 is not None
    try:
        envelope = Envelope.from_bytes(envelope_bytes, limits=limits, parsed_before=parsed_before)
    except EnvelopeFormatError as exc:
        return StatementCheck(statement=None, envelope=None, reasons=(Reason(code=exc.code, message=str(exc)),))
    if payload_sha256 is None:
        payload_sha256 = sha256(envelope.payload).hexdigest()
    evidence: dict[str, Any] = {"payload_sha256": payload_sha256}
    if memo is None or digest is None:
        checks = check_signatures(envelope, store.lookup)
    else:
        checks = check_signatures(envelope, store.lookup, known_valid=memo.valid_keyids(digest))
        memo.remember(digest, (c.keyid for c in checks if c.valid))
    untrusted = _untrusted(envelope, checks, store, evidence)
    if untrusted is not None:
        return untrusted
    try:
        statement = Statement.from_envelope(envelope, limits=limits, parsed_before=parsed_before)
        if remembers and not parsed_before:
            memo.remember_parsed(digest, payload_sha256)  # type: ignore[union-attr,arg-type]
    except EnvelopeFormatError as exc:
        return StatementCheck(
            statement=None, envelope=envelope, reasons=(Reason(code=exc.code, message=str(exc)),), evidence=evidence
        )
    return _judge(envelope, statement, checks, store, when, evidence)


def recheck_statement(
    envelope: Envelope,
    statement: Statement,
    payload_sha256: str,
    verified: Set[str],
    store: TrustStore,
    *,
    now: dt.datetime | None = None,
) -> StatementCheck:
    """Judge again, for *store* at *now*, a statement that :func:`check_statement` parsed before from *envelope*.

    Only the parsing is taken as done: the signatures of the key ids in *verified* count without the cryptography
    when *store* still holds their keys (as with the signature memo), any other signature is verified now, and
    revocation, validity windows, name scopes, thresholds, ceilings and expiry are judged afresh.

    Args:
        envelope: the envelope :func:`check_statement` parsed.
        statement: the statement it parsed from *envelope*.
        payload_sha256: the SHA-256 (hex) of the envelope's payload.
        verified: key ids whose signatures in *envelope* verified (:attr:`StatementCheck.verified`).
        store: the trust store that supplies keys and policy now.
        now: the time to judge at (default: the current UTC time).

    Returns:
        The check, as :func:`check_statement` would give it for the same bytes.

    Raises:
        TypeError: *now* is a naive datetime.
    """
    when = _now(now)
    evidence: dict[str, Any] = {"payload_sha256": payload_sha256}
    checks = check_signatures(envelope, store.lookup, known_valid=verified)
    untrusted = _untrusted(envelope, checks, store, evidence)
    if untrusted is not None:
        return untrusted
    return _judge(envelope, statement, checks, store, when, evidence)


def _untrusted(
    envelope: Envelope, checks: tuple[SignatureCheck, ...], store: TrustStore, evidence: dict[str, Any]
) -> StatementCheck | None:
    """The check of an envelope that no trusted, unrevoked key signed; ``None`` when one did."""
    # A revoked key never counts and may be in an attacker's hands: its signature does not unlock the parser.
    if any(check.valid and check.keyid not in store.revoked for check in checks):
        return None
    reasons = [
        Reason(
            code=ReasonCode.KEY_REVOKED if c.keyid in store.revoked else c.reason_code or ReasonCode.SIGNATURE_INVALID,
            message=_describe(c.keyid, "revoked" if c.keyid in store.revoked else c.status),
            subject=c.keyid,
        )
        for c in checks
    ]
    reasons.append(
        Reason(
            code=ReasonCode.THRESHOLD_NOT_MET,
            message=f"no signature by a trusted key ({len(checks)} signature(s) present); payload not parsed",
        )
    )
    return StatementCheck(statement=None, envelope=envelope, reasons=tuple(reasons), evidence=evidence)


def _judge(  # noqa: PLR0917 - private: the two callers pass the same six values
    envelope: Envelope,
    statement: Statement,
    checks: tuple[SignatureCheck, ...],
    store: TrustStore,
    when: dt.datetime,
    evidence: dict[str, Any],
) -> StatementCheck:
    """Apply the trust policy and time to a statement parsed from *envelope*, signed as *checks* say."""
    verified = tuple(c.keyid for c in checks if c.valid)
    predicate = statement.predicate
    try:
        requested = PermissionSet.parse(predicate.permissions)
    except PermissionFormatError as exc:  # pragma: no cover - the predicate validates permissions already
        return StatementCheck(
            statement=None,
            envelope=envelope,
            verified=verified,
            reasons=(Reason(code=ReasonCode.STATEMENT_MALFORMED, message=str(exc)),),
            evidence=evidence,
        )
    decision = store.evaluate(
        name=predicate.name, requested=requested, checks=checks, now=when, capabilities=predicate.capabilities
    )
    reasons = list(decision.reasons)
    if decision.ignored:
        evidence["ignored_signatures"] = [r.to_json() for r in decision.ignored]
    evidence["issued_at"] = predicate.issued_at.isoformat()
    if predicate.expires_at is not None:
        evidence["expires_at"] = predicate.expires_at.isoformat()
        if predicate.expires_at <= when:
            reasons.append(
                Reason(code=ReasonCode.STATEMENT_EXPIRED, message=f"statement expired at {predicate.expires_at}")
            )
    if predicate.issued_at > when + MAX_CLOCK_SKEW:
        reasons.append(
            Reason(
                code=ReasonCode.STATEMENT_NOT_YET_VALID,
                message=f"statement issued in the future ({predicate.issued_at})",
            )
        )
    return StatementCheck(
        statement=statement,
        envelope=envelope,
        signers=decision.counted,
        verified=verified,
        requested=requested,
        vouched=decision.vouched,
        reasons=tuple(reasons),
        evidence=evidence,
    )


def _describe(keyid: str, status: str) -> str:
    return {
        "invalid": f"signature by key {keyid[:16]}... does not verify",
        "unknown-key": f"signature by key {keyid[:16]}... that the trust store does not hold",
        "duplicate": f"second signature by key {keyid[:16]}... (counted once)",
        "revoked": f"signature by key {keyid[:16]}..., which is revoked",
    }.get(status, f"signature by key {keyid[:16]}...: {status}")
