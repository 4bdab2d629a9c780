"""``check_statement`` itself: every path through it, each reason with its code and its message, and what an
accepted check carries (statement, envelope, signers, vouched permissions, evidence).

The wheel verifier and the host drive it too; here the envelope is built in memory so that each case is one call.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from securehost import PermissionSet, PrivateKey, Reason, ReasonCode
from securehost._digests import fingerprint
from securehost._signing.envelope import DEFAULT_LIMITS, Envelope
from securehost._signing.memo import SignatureMemo
from securehost._signing.predicate import PluginPredicate, Subject
from securehost._signing.statement import Statement
from securehost._trust.model import TrustedKey
from securehost._trust.store import TrustStore
from securehost._trust.verify import ENVELOPE_FILENAME, check_statement

R = ReasonCode
KEY = PrivateKey.generate()
OTHER = PrivateKey.generate()
ISSUED = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
NOW = ISSUED + dt.timedelta(days=1)


def statement(**changes: object) -> Statement:
    fields: dict[str, object] = {
        "name": "acme-csv",
        "version": "1.0",
        "tags": ["py3-none-any"],
        "permissions": ["fs.read:/srv/data/**"],
        "entry_points": {"demo.plugins": {"csv": "acme_csv.plugin"}},
        "issued_at": ISSUED,
        "capabilities": ["data.transform"],
    }
    fields.update(changes)
    subjects = [Subject(name="acme_csv/__init__.py", sha256=hashlib.sha256(b"").hexdigest())]
    return Statement(subjects=subjects, predicate=PluginPredicate(**fields))  # type: ignore[arg-type]


def signed(*keys: PrivateKey, **changes: object) -> bytes:
    envelope = statement(**changes).to_envelope()
    for key in keys:
        envelope = envelope.sign(key)
    return envelope.to_bytes()


def store(*, capabilities: tuple[str, ...] = ("data.*",), revoked: tuple[str, ...] = ()) -> TrustStore:
    trusted = TrustedKey(
        key=KEY.public_key,
        label="release",
        names=["acme-*"],
        max_permissions=PermissionSet.parse(["fs.read:/srv/**"]),
        capabilities=capabilities,
    )
    return TrustStore.from_keys([trusted], revoked=revoked)


def test_an_accepted_check_carries_statement_envelope_signers_vouched_permissions_and_evidence() -> None:
    data = signed(KEY, expires_at=ISSUED + dt.timedelta(days=30))
    check = check_statement(data, store(), now=NOW)
    assert check.reasons == ()
    assert check.statement == statement(expires_at=ISSUED + dt.timedelta(days=30))
    assert check.envelope == Envelope.from_bytes(data)
    assert check.signers == (KEY.public_key.key_id,)
    assert check.requested == PermissionSet.parse(["fs.read:/srv/data/**"])
    assert check.vouched == PermissionSet.parse(["fs.read:/srv/data/**"])
    assert check.evidence == {
        "payload_sha256": hashlib.sha256(check.envelope.payload).hexdigest(),
        "issued_at": ISSUED.isoformat(),
        "expires_at": (ISSUED + dt.timedelta(days=30)).isoformat(),
    }


def test_with_a_memo_the_same_check_comes_out() -> None:
    """The memo spares the cryptography and the strict parser; the check it gives is the same, twice over."""
    data = signed(KEY)
    expected = check_statement(data, store(), now=NOW)
    memo = SignatureMemo(__import__("pathlib").Path("/nonexistent/memo"), b"k" * 32)
    assert check_statement(data, store(), now=NOW, memo=memo) == expected
    digest = fingerprint(data)  # the memo's name for the envelope: BLAKE2b-256, never shown
    assert memo.valid_keyids(digest) == {KEY.public_key.key_id}
    assert memo.parsed(digest) == expected.evidence["payload_sha256"]  # what a warm check reports, without hashing
    again = check_statement(data, store(), now=NOW, memo=memo)
    assert again == expected
    assert again.evidence == expected.evidence


def test_no_envelope() -> None:
    check = check_statement(None, store(), now=NOW)
    assert (check.statement, check.envelope) == (None, None)
    assert check.reasons == (Reason(code=R.ENVELOPE_MISSING, message=f"no {ENVELOPE_FILENAME} in the .dist-info"),)


def test_a_malformed_envelope_names_what_is_wrong() -> None:
    check = check_statement(b"{}", store(), now=NOW)
    assert (check.statement, check.envelope) == (None, None)
    (reason,) = check.reasons
    assert reason == Reason(
        code=R.ENVELOPE_MALFORMED,
        message="the envelope must have exactly the keys payload, payloadType, signatures: missing "
        "['payload', 'payloadType', 'signatures'], unknown []",
    )


def test_the_parser_limits_apply() -> None:
    data = signed(KEY)
    limits = DEFAULT_LIMITS.__class__(max_envelope_bytes=len(data) - 1)
    (reason,) = check_statement(data, store(), now=NOW, limits=limits).reasons
    assert reason.code == R.ENVELOPE_TOO_LARGE
    assert str(len(data)) in reason.message


@pytest.mark.parametrize(
    ("keys", "revoked", "code", "message"),
    [
        ((OTHER,), (), R.KEY_UNKNOWN, "signature by key {other}... that the trust store does not hold"),
        ((KEY,), ("key",), R.KEY_REVOKED, "signature by key {key}..., which is revoked"),
    ],
)
def test_without_a_trusted_signature_the_payload_is_not_parsed(
    keys: tuple[PrivateKey, ...], revoked: tuple[str, ...], code: ReasonCode, message: str
) -> None:
    data = signed(*keys)
    trusted = store(revoked=tuple(KEY.public_key.key_id for _ in revoked))
    check = check_statement(data, trusted, now=NOW)
    assert check.statement is None
    assert check.envelope == Envelope.from_bytes(data)
    assert check.evidence == {"payload_sha256": hashlib.sha256(check.envelope.payload).hexdigest()}
    keyid = keys[0].public_key.key_id
    text = message.format(other=keyid[:16], key=keyid[:16])
    assert check.reasons == (
        Reason(code=code, message=text, subject=keyid),
        Reason(
            code=R.THRESHOLD_NOT_MET,
            message="no signature by a trusted key (1 signature(s) present); payload not parsed",
        ),
    )


def test_a_signature_that_does_not_verify_is_described() -> None:
    envelope = Envelope.from_bytes(signed(KEY))
    forged = Envelope(payload=envelope.payload + b" ", payload_type=envelope.payload_type).add_signature(
        envelope.signatures[0].keyid, envelope.signatures[0].sig
    )
    check = check_statement(forged.to_bytes(), store(), now=NOW)
    keyid = KEY.public_key.key_id
    assert check.reasons[0] == Reason(
        code=R.SIGNATURE_INVALID, message=f"signature by key {keyid[:16]}... does not verify", subject=keyid
    )


def test_a_payload_that_is_no_statement_is_malformed_with_the_envelope_kept() -> None:
    envelope = Envelope(payload=b"{}", payload_type=statement().to_envelope().payload_type).sign(KEY)
    check = check_statement(envelope.to_bytes(), store(), now=NOW)
    assert check.statement is None
    assert check.envelope == envelope
    assert check.evidence == {"payload_sha256": hashlib.sha256(b"{}").hexdigest()}
    (reason,) = check.reasons
    assert reason.code == R.STATEMENT_MALFORMED
    assert reason.message.startswith("statement ")


def test_an_expired_statement() -> None:
    expires = ISSUED + dt.timedelta(hours=1)
    check = check_statement(signed(KEY, expires_at=expires), store(), now=NOW)
    assert check.statement is not None
    assert check.reasons == (Reason(code=R.STATEMENT_EXPIRED, message=f"statement expired at {expires}"),)


def test_a_statement_issued_in_the_future_beyond_the_clock_skew() -> None:
    check = check_statement(signed(KEY), store(), now=ISSUED - dt.timedelta(minutes=6))
    assert check.reasons == (
        Reason(code=R.STATEMENT_NOT_YET_VALID, message=f"statement issued in the future ({ISSUED})"),
    )
    assert check_statement(signed(KEY), store(), now=ISSUED - dt.timedelta(minutes=5)).reasons == ()


def test_capabilities_outside_the_keys_scope_are_not_vouched_for() -> None:
    check = check_statement(signed(KEY), store(capabilities=("net.*",)), now=NOW)
    assert [r.code for r in check.reasons] == [R.CAPABILITY_NOT_VOUCHED]
    assert check.reasons[0].subject == "data.transform"


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(TypeError, match=r"^now must be timezone-aware$"):
        check_statement(signed(KEY), store(), now=dt.datetime(2026, 1, 2))


def test_a_repeated_signature_by_an_unknown_key_is_described_once_as_a_duplicate() -> None:
    once = Envelope.from_bytes(signed(OTHER))
    twice = Envelope(payload=once.payload, payload_type=once.payload_type, signatures=once.signatures * 2)
    check = check_statement(twice.to_bytes(), store(), now=NOW)
    keyid = OTHER.public_key.key_id
    assert check.reasons[:2] == (
        Reason(code=R.KEY_UNKNOWN, message=f"signature by key {keyid[:16]}... that the trust store does not hold",
               subject=keyid),
        Reason(code=R.DUPLICATE_SIGNATURE, message=f"second signature by key {keyid[:16]}... (counted once)",
               subject=keyid),
    )  # fmt: skip
    assert check.reasons[2].code == R.THRESHOLD_NOT_MET
    assert check.reasons[2].message == "no signature by a trusted key (2 signature(s) present); payload not parsed"


def test_the_requested_permissions_are_the_trusted_statements_and_none_without_one() -> None:
    """The judge takes the requested set from the check (parsed once), so an untrusted statement requests nothing."""
    asking = signed(KEY, permissions=["fs.read:/srv/data/**", "net.connect:example.org"])
    check = check_statement(asking, store(), now=NOW)
    assert check.requested == PermissionSet.parse(["fs.read:/srv/data/**", "net.connect:example.org"])
    assert check.vouched == PermissionSet.parse(["fs.read:/srv/data/**"])  # above the key's ceiling: not vouched
    unsigned = check_statement(signed(permissions=["fs.read:/srv/data/**"]), store(), now=NOW)
    assert unsigned.statement is None
    assert len(unsigned.requested) == 0
