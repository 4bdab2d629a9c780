"""``recheck_statement``: a statement parsed before, judged again for today's trust store and clock.

The host recalls a parsed statement from its file record instead of reading and parsing the envelope again; only the
parsing may be skipped. Each case checks an envelope once with one store at one time (what the record keeps), then
judges it again under a changed store or clock, and asserts that the answer is exactly what a full
``check_statement`` of the same bytes gives under the changed store and clock: reasons, signers, vouched permissions,
evidence, and no statement at all when no trusted key signs it any more.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import PermissionSet, PrivateKey, ReasonCode
from securehost._signing.envelope import Envelope, compact_envelope, expand_envelope
from securehost._signing.statement import Statement, compact_statement, expand_statement
from securehost._trust.model import Threshold, TrustedKey
from securehost._trust.store import TrustStore
from securehost._trust.verify import check_statement, recheck_statement
from tests.strategies_envelope import envelopes, statements
from tests.trust.test_check_statement import ISSUED, KEY, NOW, OTHER, signed, statement, store

R = ReasonCode
LATER_KEY = PrivateKey.generate()


def _trusted(key: PrivateKey, label: str, **changes: Any) -> TrustedKey:
    fields: dict[str, Any] = {
        "key": key.public_key,
        "label": label,
        "names": ["acme-*"],
        "max_permissions": PermissionSet.parse(["fs.read:/srv/**"]),
        "capabilities": ("data.*",),
    }
    fields.update(changes)
    return TrustedKey(**fields)


def _both() -> TrustStore:
    return TrustStore.from_keys([_trusted(KEY, "release"), _trusted(OTHER, "second")])


def _recheck(data: bytes, first: TrustStore, then: TrustStore, now: dt.datetime) -> Any:
    """Check *data* with *first* at ``NOW``, then judge what that parsed again with *then* at *now*."""
    check = check_statement(data, first, now=NOW)
    assert check.statement is not None
    assert check.envelope is not None
    return recheck_statement(
        check.envelope,
        check.statement,
        check.evidence["payload_sha256"],
        frozenset(check.verified),
        then,
        now=now,
    )


CASES = {
    "unchanged": (signed(KEY), store(), store(), NOW),
    "expired since": (
        signed(KEY, expires_at=ISSUED + dt.timedelta(days=2)),
        store(),
        store(),
        NOW + dt.timedelta(days=5),
    ),
    "the clock went back": (signed(KEY), store(), store(), ISSUED - dt.timedelta(hours=1)),
    "the key revoked since": (signed(KEY), store(), store(revoked=(KEY.public_key.key_id,)), NOW),
    "the key removed since": (signed(KEY), store(), TrustStore.from_keys([_trusted(OTHER, "other")]), NOW),
    "the capability scope narrowed": (signed(KEY), store(), store(capabilities=("net.*",)), NOW),
    "the ceiling lowered": (
        signed(KEY),
        store(),
        TrustStore.from_keys([_trusted(KEY, "release", max_permissions=PermissionSet.parse(["fs.read:/tmp/**"]))]),
        NOW,
    ),
    "the name scope narrowed": (
        signed(KEY),
        store(),
        TrustStore.from_keys([_trusted(KEY, "x", names=["other-*"])]),
        NOW,
    ),
    "a threshold of two raised since": (
        signed(KEY, OTHER),
        _both(),
        TrustStore.from_keys(
            [_trusted(KEY, "release"), _trusted(OTHER, "second")], thresholds=[Threshold(pattern="acme-*", count=3)]
        ),
        NOW,
    ),
    "a second signer's key added since (verified now)": (signed(KEY, OTHER), store(), _both(), NOW),
    "a second signer's key removed since": (signed(KEY, OTHER), _both(), store(), NOW),
    "a signature by a key trusted since, by another key id": (signed(KEY, LATER_KEY), store(), _both(), NOW),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_judging_again_gives_what_a_full_check_gives_under_the_new_store_and_clock(case: str) -> None:
    data, first, then, now = CASES[case]
    assert _recheck(data, first, then, now) == check_statement(data, then, now=now)


def test_the_cases_change_the_answer_each_way() -> None:
    """The cases are not all the same answer: each changed store or clock changes what the check says."""
    answers = {case: check_statement(data, then, now=now) for case, (data, _, then, now) in CASES.items()}
    assert answers["unchanged"].reasons == ()
    assert R.STATEMENT_EXPIRED in {r.code for r in answers["expired since"].reasons}
    assert R.STATEMENT_NOT_YET_VALID in {r.code for r in answers["the clock went back"].reasons}
    assert answers["the key revoked since"].statement is None
    assert R.KEY_REVOKED in {r.code for r in answers["the key revoked since"].reasons}
    assert answers["the key removed since"].statement is None
    assert R.THRESHOLD_NOT_MET in {r.code for r in answers["a threshold of two raised since"].reasons}
    assert set(answers["a second signer's key added since (verified now)"].signers) == {
        KEY.public_key.key_id,
        OTHER.public_key.key_id,
    }
    assert answers["a second signer's key removed since"].signers == (KEY.public_key.key_id,)
    assert [r.code for r in answers["the capability scope narrowed"].reasons] == [R.CAPABILITY_NOT_VOUCHED]
    assert answers["the ceiling lowered"].reasons
    assert answers["the name scope narrowed"].reasons


def test_a_signature_that_never_verified_is_verified_again_not_taken_as_valid() -> None:
    """Only the key ids handed in as verified skip the cryptography: a forged signature by a trusted key fails."""
    envelope = Envelope.from_bytes(signed(KEY))
    forged = envelope.sign(OTHER)
    sigs = list(forged.signatures)
    sigs[-1] = type(sigs[-1])(keyid=sigs[-1].keyid, sig=bytes(64))  # OTHER's key id, a signature that is no signature
    bad = Envelope(payload=forged.payload, payload_type=forged.payload_type, signatures=tuple(sigs))
    check = check_statement(bad.to_bytes(), store(), now=NOW)
    assert check.verified == (KEY.public_key.key_id,)
    assert check.statement is not None
    again = recheck_statement(
        bad, check.statement, check.evidence["payload_sha256"], frozenset(check.verified), _both(), now=NOW
    )
    assert OTHER.public_key.key_id not in again.signers
    assert again == check_statement(bad.to_bytes(), _both(), now=NOW)


def test_verified_lists_the_key_ids_whose_signatures_verified_counted_or_not() -> None:
    check = check_statement(signed(KEY, OTHER), store(), now=NOW)
    assert check.verified == (KEY.public_key.key_id,)  # OTHER's key is not in the store: nothing to verify with
    both = check_statement(signed(KEY, OTHER), _both(), now=NOW)
    assert set(both.verified) == {KEY.public_key.key_id, OTHER.public_key.key_id}
    revoked = check_statement(signed(KEY), store(revoked=(KEY.public_key.key_id,)), now=NOW)
    assert revoked.statement is None


def test_a_naive_now_is_refused() -> None:
    check = check_statement(signed(KEY), store(), now=NOW)
    assert check.statement is not None
    assert check.envelope is not None
    with pytest.raises(TypeError, match="timezone-aware"):
        recheck_statement(check.envelope, check.statement, "0" * 64, frozenset(), store(), now=dt.datetime(2026, 1, 2))


# --- the compact forms the record keeps -----------------------------------------------------------


@given(statements())
def test_a_compact_statement_expands_to_an_equal_statement(value: Statement) -> None:
    expanded = expand_statement(compact_statement(value))
    assert expanded == value
    assert expanded is not None
    assert expanded.to_json_bytes() == value.to_json_bytes()


def test_a_compact_statement_with_capabilities_config_and_expiry_expands_equal() -> None:
    from securehost._signing.predicate import ConfigDeclaration

    config = ConfigDeclaration(schema_json='{"type":"object"}', defaults_json='{"a":1}')
    value = statement(expires_at=ISSUED + dt.timedelta(days=3), config=config)
    assert expand_statement(compact_statement(value)) == value


@given(envelopes)
def test_a_compact_envelope_expands_to_an_equal_envelope(value: Envelope) -> None:
    assert expand_envelope(compact_envelope(value)) == value


@pytest.mark.parametrize(
    "data",
    [
        None,
        (),
        "text",
        (1, 2, 3),
        (b"payload", 5, ()),
        (b"payload", "type", ((1, b"sig"),)),
        (b"p", "t", (("k", "s"),)),
    ],
)
def test_an_envelope_of_another_shape_expands_to_none(data: object) -> None:
    assert expand_envelope(data) is None


@pytest.mark.parametrize(
    "change",
    [
        lambda c: None,
        lambda c: c[:-1],
        lambda c: (*c, None),
        lambda c: ((("only-a-name",),), *c[1:]),
        lambda c: (*c[:6], "not a time", *c[7:]),
        lambda c: (*c[:6], 2**70, *c[7:]),
        lambda c: (*c[:9], ("schema only",)),
    ],
    ids=["none", "short", "long", "subject", "time-type", "time-range", "config"],
)
def test_a_statement_of_another_shape_expands_to_none(change: Any) -> None:
    assert expand_statement(change(compact_statement(statement()))) is None


@given(st.text(max_size=5))
def test_text_expands_to_no_statement(text: str) -> None:
    assert expand_statement(text) is None


def test_signatures_remembered_as_verified_are_not_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a warm load saves: no cryptography for a key id that verified in exactly this envelope."""
    from securehost._signing import envelope as envelope_module

    data = signed(KEY, OTHER)
    check = check_statement(data, _both(), now=NOW)
    assert check.statement is not None
    assert check.envelope is not None
    verified: list[str] = []
    real = envelope_module._verify
    monkeypatch.setattr(
        envelope_module, "_verify", lambda sig, key, message: verified.append(sig.keyid) or real(sig, key, message)
    )
    only_key = frozenset({KEY.public_key.key_id})
    again = recheck_statement(
        check.envelope, check.statement, check.evidence["payload_sha256"], only_key, _both(), now=NOW
    )
    assert verified == [OTHER.public_key.key_id]  # KEY was remembered; OTHER was not, so it is verified now
    assert again == check
