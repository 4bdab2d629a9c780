from __future__ import annotations

import json

from securehost import Reason, ReasonCode, Verdict


def test_verdict_truthiness_follows_reasons() -> None:
    ok = Verdict(subject="w.whl", name="acme", version="1.0", signers=("k",))
    assert ok
    assert ok.accepted
    bad = ok.with_reasons([Reason(code=ReasonCode.DIGEST_MISMATCH, message="x differs", subject="x")])
    assert not bad
    assert bad.codes == {ReasonCode.DIGEST_MISMATCH}
    assert "REJECTED" in bad.summary()
    assert "[digest-mismatch] x differs" in bad.summary()


def test_verdict_json_is_serialisable_and_stable() -> None:
    v = Verdict(subject="s", reasons=(Reason(code=ReasonCode.KEY_REVOKED, message="m", subject="k"),))
    data = json.loads(json.dumps(v.to_json()))
    assert data["accepted"] is False
    assert data["reasons"] == [{"code": "key-revoked", "message": "m", "subject": "k"}]


def test_reason_codes_are_unique_kebab_case() -> None:
    values = [c.value for c in ReasonCode]
    assert len(values) == len(set(values))
    assert all(v == v.lower() and " " not in v and "_" not in v for v in values)
