"""verify_wheel end to end: every rejection reason it can give, provoked through a real signed wheel.

Each test signs a small wheel (``tests.wheelfactory.make_wheel``), breaks exactly one thing, and asserts the exact set
of reason codes and a falsy verdict. Statements the signer would refuse (wrong name, a forbidden file, ...) are built
with the model classes, signed by hand and injected (``tests.wheelfactory.forge``), so that the one reason left is
the one under test.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from securehost import PAYLOAD_TYPE, EnvelopeLimits, ReasonCode, Signature, TrustStore, Verdict
from securehost._trust.verify import MAX_CLOCK_SKEW
from securehost._wheel.record import Record
from securehost._wheel.wheelfile import describe_wheel, require_verified_wheel, sign_wheel, verify_wheel
from securehost._wheel.zipsafe import ZipLimits, read_archive
from securehost.exceptions import EnvelopeFormatError, PluginRejectedError, SigningError, WheelFormatError
from tests import strategies_wheel as sw
from tests import wheelmaker as wm
from tests.strategies_envelope import private_key
from tests.wheelfactory import (
    CANONICAL,
    DIST_INFO,
    ENVELOPE,
    GROUP,
    ISSUED,
    NOW,
    RECORD,
    envelope_of,
    forge,
    inject_envelope,
    make_wheel,
    read_members,
    rewrite,
    sign_by_hand,
    trust,
    trusted,
    wheel_statement,
)

R = ReasonCode
KEY = private_key("ed25519")
SECOND = private_key("ecdsa-p256")
STRANGER = private_key("ed25519", 1)
PERMISSION = "fs.read:/srv/data/**"


def verify(wheel: Path, store: TrustStore, **kwargs: Any) -> Verdict:
    kwargs.setdefault("now", NOW)
    return verify_wheel(wheel, store, **kwargs)


def rejected(wheel: Path, store: TrustStore, *codes: ReasonCode, **kwargs: Any) -> Verdict:
    """Verify, and check that the verdict is falsy with exactly *codes*."""
    verdict = verify(wheel, store, **kwargs)
    assert not verdict
    assert not verdict.accepted
    assert verdict.codes == set(codes), verdict.summary()
    return verdict


@pytest.fixture
def unsigned(tmp_path: Path) -> Path:
    return make_wheel(tmp_path / "wheel")


@pytest.fixture
def signed(unsigned: Path) -> Path:
    return sign_wheel(unsigned, KEY, issued_at=ISSUED)


# --- acceptance ---------------------------------------------------------------------------------


def test_signed_wheel_is_accepted_with_its_facts(unsigned: Path) -> None:
    sign_wheel(unsigned, KEY, permissions=[PERMISSION], issued_at=ISSUED)
    verdict = verify(unsigned, trust(KEY, max_permissions=["fs.read:/srv/**"]))
    assert verdict
    assert verdict.reasons == ()
    assert (verdict.name, verdict.version) == (CANONICAL, "1.0")
    assert verdict.signers == (KEY.key_id,)
    assert verdict.permissions == (PERMISSION,)
    payload = envelope_of(unsigned).payload
    assert verdict.evidence["payload_sha256"] == hashlib.sha256(payload).hexdigest()
    assert verdict.evidence["issued_at"] == ISSUED.isoformat()
    assert require_verified_wheel(unsigned, trust(KEY, max_permissions=["fs.read:/srv/**"]), now=NOW) == verdict


def test_require_verified_wheel_raises_with_the_verdict(unsigned: Path) -> None:
    with pytest.raises(PluginRejectedError) as info:
        require_verified_wheel(unsigned, trust(KEY), now=NOW)
    assert info.value.verdict.codes == {R.ENVELOPE_MISSING}
    assert "envelope-missing" in str(info.value)


def test_naive_now_is_a_caller_mistake(signed: Path) -> None:
    with pytest.raises(TypeError):
        verify_wheel(signed, trust(KEY), now=dt.datetime(2026, 1, 2))


# --- the envelope -------------------------------------------------------------------------------


def test_unsigned_wheel_is_envelope_missing(unsigned: Path) -> None:
    rejected(unsigned, trust(KEY), R.ENVELOPE_MISSING)


def test_envelope_over_the_default_limit_is_too_large_and_not_read(signed: Path) -> None:
    limit = EnvelopeLimits().max_envelope_bytes
    rewrite(signed, {ENVELOPE: b" " * (limit + 1)}, method=0)  # stored: no compression-ratio reason
    verdict = rejected(signed, trust(KEY), R.ENVELOPE_TOO_LARGE)
    assert str(limit + 1) in verdict.reasons[0].message


def test_envelope_over_a_configured_limit_is_too_large(signed: Path) -> None:
    size = len(read_members(signed)[ENVELOPE])
    rejected(signed, trust(KEY), R.ENVELOPE_TOO_LARGE, envelope_limits=EnvelopeLimits(max_envelope_bytes=size - 1))
    assert verify(signed, trust(KEY), envelope_limits=EnvelopeLimits(max_envelope_bytes=size))


def _envelope_json(signed: Path) -> dict[str, object]:
    return json.loads(read_members(signed)[ENVELOPE])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda doc, raw: b"not json",
        lambda doc, raw: b"",
        lambda doc, raw: raw[:-1],
        lambda doc, raw: json.dumps({k: v for k, v in doc.items() if k != "signatures"}).encode(),
        lambda doc, raw: json.dumps({**doc, "extra": 1}).encode(),
        lambda doc, raw: json.dumps({**doc, "payload": doc["payload"][:-1]}).encode(),
        lambda doc, raw: json.dumps({**doc, "payload": 7}).encode(),
        lambda doc, raw: json.dumps({**doc, "payloadType": ""}).encode(),
        lambda doc, raw: json.dumps({**doc, "signatures": [{"keyid": "k"}]}).encode(),
        lambda doc, raw: raw.replace(b'{"payload"', b'{"payload":"","payload"', 1),  # duplicate key
        lambda doc, raw: json.dumps([doc]).encode(),
    ],
    ids=[
        "not-json",
        "empty",
        "truncated",
        "no-signatures",
        "extra-key",
        "base64-length",
        "payload-not-string",
        "empty-payload-type",
        "signature-without-sig",
        "duplicate-key",
        "array",
    ],
)
def test_malformed_envelope_is_rejected(signed: Path, mangle: object) -> None:
    raw = read_members(signed)[ENVELOPE]
    inject_envelope(signed, mangle(json.loads(raw), raw))  # type: ignore[operator]
    rejected(signed, trust(KEY), R.ENVELOPE_MALFORMED)


def test_trusted_signature_over_another_payload_type_is_payload_type_mismatch(signed: Path) -> None:
    statement = wheel_statement(signed)
    inject_envelope(signed, sign_by_hand(statement, KEY, payload_type="application/json"))
    rejected(signed, trust(KEY), R.PAYLOAD_TYPE_MISMATCH)


@pytest.mark.parametrize(
    ("signed_type", "claimed_type"),
    [(PAYLOAD_TYPE, "application/json"), ("application/json", PAYLOAD_TYPE), (PAYLOAD_TYPE, PAYLOAD_TYPE + " ")],
)
def test_payload_type_is_bound_into_the_signature(signed: Path, signed_type: str, claimed_type: str) -> None:
    """Swapping the payload type after signing breaks every signature over the PAE, so the payload is never parsed."""
    envelope = sign_by_hand(wheel_statement(signed), KEY, payload_type=signed_type)
    inject_envelope(signed, attrs.evolve(envelope, payload_type=claimed_type))
    verdict = rejected(signed, trust(KEY), R.SIGNATURE_INVALID, R.THRESHOLD_NOT_MET)
    assert "payload not parsed" in verdict.reasons[-1].message


def test_trusted_signature_over_non_canonical_json_is_statement_malformed(signed: Path) -> None:
    statement = json.loads(wheel_statement(signed).to_json_bytes())
    inject_envelope(signed, sign_by_hand(json.dumps(statement, indent=1).encode(), KEY))
    rejected(signed, trust(KEY), R.STATEMENT_MALFORMED)


@pytest.mark.parametrize(
    "change",
    [
        lambda doc: {**doc, "_type": "https://in-toto.io/Statement/v0.1"},
        lambda doc: {k: v for k, v in doc.items() if k != "subject"},
        lambda doc: {**doc, "predicate": {**doc["predicate"], "name": "Demo_Plugin"}},
        lambda doc: {**doc, "predicate": {**doc["predicate"], "extra": True}},
        lambda doc: {**doc, "subject": []},
        lambda doc: [doc],
    ],
    ids=["statement-type", "no-subject", "non-canonical-name", "unknown-field", "no-subjects", "array"],
)
def test_trusted_signature_over_a_malformed_statement_is_statement_malformed(signed: Path, change: object) -> None:
    doc = change(json.loads(wheel_statement(signed).to_json_bytes()))  # type: ignore[operator]
    payload = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    inject_envelope(signed, sign_by_hand(payload, KEY))
    rejected(signed, trust(KEY), R.STATEMENT_MALFORMED)


def test_trusted_signature_over_another_predicate_type_is_predicate_type_mismatch(signed: Path) -> None:
    doc = json.loads(wheel_statement(signed).to_json_bytes())
    doc["predicateType"] = "https://slsa.dev/provenance/v1"
    payload = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    inject_envelope(signed, sign_by_hand(payload, KEY))
    rejected(signed, trust(KEY), R.PREDICATE_TYPE_MISMATCH)


def test_payload_is_not_parsed_without_a_trusted_signature(signed: Path) -> None:
    """Garbage signed by an unknown key is reported as an unknown key, never as a malformed statement."""
    inject_envelope(signed, sign_by_hand(b"\x00not a statement", STRANGER))
    verdict = rejected(signed, trust(KEY), R.KEY_UNKNOWN, R.THRESHOLD_NOT_MET)
    assert verdict.permissions == ()
    assert verdict.signers == ()


# --- time ---------------------------------------------------------------------------------------


def test_expired_statement_is_rejected(unsigned: Path) -> None:
    expiry = ISSUED + dt.timedelta(hours=1)
    sign_wheel(unsigned, KEY, issued_at=ISSUED, expires_at=expiry)
    verdict = rejected(unsigned, trust(KEY), R.STATEMENT_EXPIRED)
    assert verdict.evidence["expires_at"] == expiry.isoformat()
    rejected(unsigned, trust(KEY), R.STATEMENT_EXPIRED, now=expiry)  # the expiry instant is already too late
    assert verify(unsigned, trust(KEY), now=expiry - dt.timedelta(seconds=1))


def test_statement_issued_in_the_future_is_not_yet_valid(unsigned: Path) -> None:
    sign_wheel(unsigned, KEY, issued_at=NOW + MAX_CLOCK_SKEW + dt.timedelta(seconds=1))
    rejected(unsigned, trust(KEY), R.STATEMENT_NOT_YET_VALID)
    assert verify(unsigned, trust(KEY), now=NOW + dt.timedelta(seconds=1))  # within the allowed clock skew


# --- the statement against the wheel ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"name": "other-plugin"}, R.NAME_MISMATCH),
        ({"version": "1.0.1"}, R.VERSION_MISMATCH),
        ({"version": "1.0.0"}, R.VERSION_MISMATCH),  # equal as versions, but the signed string differs
        ({"tags": ("py2-none-any",)}, R.TAGS_MISMATCH),
        ({"tags": ("py2-none-any", "py3-none-any")}, R.TAGS_MISMATCH),
        ({"entry_points": {GROUP: {"demo": "os:system"}}}, R.ENTRY_POINTS_MISMATCH),
        ({"entry_points": {}}, R.ENTRY_POINTS_MISMATCH),
        ({"entry_points": {GROUP: {"demo": "demo_plugin.plugin:Plugin", "x": "demo_plugin"}}}, R.ENTRY_POINTS_MISMATCH),
    ],
)
def test_statement_that_does_not_describe_the_wheel_is_rejected(
    signed: Path, changes: dict[str, object], code: ReasonCode
) -> None:
    forge(signed, KEY, **changes)
    rejected(signed, trust(KEY), code)


def test_changed_entry_points_file_is_a_digest_and_entry_point_mismatch(signed: Path) -> None:
    rewrite(signed, {f"{DIST_INFO}/entry_points.txt": f"[{GROUP}]\ndemo = os:system\n".encode()})
    rejected(signed, trust(KEY), R.DIGEST_MISMATCH, R.ENTRY_POINTS_MISMATCH)


def test_added_member_listed_in_record_is_not_signed(signed: Path) -> None:
    rewrite(signed, {"demo_plugin/extra.py": b"import os\n"})
    verdict = rejected(signed, trust(KEY), R.FILE_NOT_SIGNED)
    assert verdict.reasons[0].subject == "demo_plugin/extra.py"


def test_removed_member_is_a_missing_signed_file(signed: Path) -> None:
    rewrite(signed, {"demo_plugin/data/table.csv": None})
    verdict = rejected(signed, trust(KEY), R.SIGNED_FILE_MISSING)
    assert verdict.reasons[0].subject == "demo_plugin/data/table.csv"


@pytest.mark.parametrize("name", ["demo_plugin/plugin.py", f"{DIST_INFO}/METADATA", f"{DIST_INFO}/WHEEL"])
def test_changed_member_is_a_digest_mismatch(signed: Path, name: str) -> None:
    data = read_members(signed)[name]
    rewrite(signed, {name: data + b"\n"})
    verdict = rejected(signed, trust(KEY), R.DIGEST_MISMATCH)
    assert verdict.reasons[0].subject == name


def test_changed_member_without_record_update_is_also_a_record_mismatch(signed: Path) -> None:
    rewrite(signed, {"demo_plugin/plugin.py": b"import os\n"}, update_record=False)
    rejected(signed, trust(KEY), R.RECORD_MISMATCH, R.DIGEST_MISMATCH)


def test_record_that_lies_about_a_size_is_a_record_mismatch(signed: Path) -> None:
    record = read_members(signed)[RECORD].decode()
    line = next(x for x in record.splitlines() if x.startswith("demo_plugin/plugin.py,"))
    path, digest, size = line.split(",")
    rewrite(signed, {RECORD: record.replace(line, f"{path},{digest},{int(size) + 1}").encode()}, update_record=False)
    rejected(signed, trust(KEY), R.RECORD_MISMATCH)


def test_record_listing_a_file_that_is_not_there_is_a_record_mismatch(signed: Path) -> None:
    record = read_members(signed)[RECORD] + f"demo_plugin/ghost.py,{wm.record_hash(b'x')},1\n".encode()
    rewrite(signed, {RECORD: record}, update_record=False)
    rejected(signed, trust(KEY), R.RECORD_MISMATCH)


def test_unparsable_record_is_record_invalid(signed: Path) -> None:
    rewrite(signed, {RECORD: b"demo_plugin/plugin.py,md5=abc,3\n"}, update_record=False)
    rejected(signed, trust(KEY), R.RECORD_INVALID)


@pytest.mark.parametrize(
    "name",
    [
        "evil.pth",
        "sitecustomize.py",
        "usercustomize.py",
        "__pycache__/sitecustomize.cpython-311.pyc",
        "demo_plugin-1.0.data/purelib/evil.pth",
        "demo_plugin-1.0.data/data/lib/python3.11/site-packages/evil.pth",
    ],
)
def test_signed_start_up_hook_is_a_forbidden_file(signed: Path, name: str) -> None:
    """A trusted key signed the file, RECORD lists it: it is still refused, because Python would run it."""
    rewrite(signed, {name: b"import os; os.system('id')\n"})
    forge(signed, KEY)
    verdict = rejected(signed, trust(KEY), R.FORBIDDEN_FILE)
    assert verdict.reasons[0].subject == name


def test_wheel_metadata_that_contradicts_the_file_name_is_rejected(signed: Path) -> None:
    metadata = read_members(signed)[f"{DIST_INFO}/METADATA"].replace(b"Version: 1.0", b"Version: 2.0")
    rewrite(signed, {f"{DIST_INFO}/METADATA": metadata})
    forge(signed, KEY)  # even signed, the wheel contradicts itself
    rejected(signed, trust(KEY), R.WHEEL_METADATA_INVALID)


def test_renamed_wheel_is_rejected(signed: Path) -> None:
    renamed = signed.with_name("demo_plugin-1.0-py3-none-any.zip")
    shutil.copy(signed, renamed)
    rejected(renamed, trust(KEY), R.WHEEL_FILENAME_INVALID)
    other = signed.with_name("other_plugin-1.0-py3-none-any.whl")
    shutil.copy(signed, other)
    rejected(other, trust(KEY), R.WHEEL_METADATA_INVALID)


# --- signatures and keys ------------------------------------------------------------------------


def _with_signatures(wheel: Path, *signatures: Signature) -> None:
    inject_envelope(wheel, attrs.evolve(envelope_of(wheel), signatures=signatures))


def test_corrupted_signature_is_invalid(signed: Path) -> None:
    (sig,) = envelope_of(signed).signatures
    _with_signatures(signed, attrs.evolve(sig, sig=bytes([sig.sig[0] ^ 1]) + sig.sig[1:]))
    rejected(signed, trust(KEY), R.SIGNATURE_INVALID, R.THRESHOLD_NOT_MET)


def test_signature_by_a_key_the_store_does_not_hold_is_key_unknown(signed: Path) -> None:
    verdict = rejected(signed, trust(STRANGER), R.KEY_UNKNOWN, R.THRESHOLD_NOT_MET)
    assert verdict.reasons[0].subject == KEY.key_id


def test_key_is_never_taken_from_the_envelope(signed: Path) -> None:
    """A signature that names the trusted key id but was made by another key fails, even if that key is trusted."""
    envelope = envelope_of(signed)
    forged = Signature(keyid=KEY.key_id, sig=STRANGER.sign(envelope.pae()))
    _with_signatures(signed, forged)
    rejected(signed, trust(KEY), R.SIGNATURE_INVALID, R.THRESHOLD_NOT_MET)
    rejected(signed, trust(KEY, STRANGER), R.SIGNATURE_INVALID, R.THRESHOLD_NOT_MET)


def test_key_id_that_is_the_public_key_text_is_unknown(signed: Path) -> None:
    envelope = envelope_of(signed)
    keyid = KEY.public_key.to_openssh()
    _with_signatures(signed, Signature(keyid=keyid, sig=KEY.sign(envelope.pae())))
    rejected(signed, trust(KEY), R.KEY_UNKNOWN, R.THRESHOLD_NOT_MET)


def test_revocation_beats_a_valid_signature(signed: Path) -> None:
    verdict = rejected(signed, trust(KEY, revoked=[KEY.key_id]), R.KEY_REVOKED, R.THRESHOLD_NOT_MET)
    assert verdict.signers == ()
    assert verdict.reasons[0].subject == KEY.key_id
    assert verdict.permissions == ()  # the statement of a revoked key is not trusted


def test_payload_signed_only_by_a_revoked_key_is_not_parsed(signed: Path) -> None:
    """A revoked key may be in an attacker's hands: its signature must not expose the statement parser."""
    inject_envelope(signed, sign_by_hand(b"[not a statement", KEY))
    rejected(signed, trust(KEY, revoked=[KEY.key_id]), R.KEY_REVOKED, R.THRESHOLD_NOT_MET)
    rejected(signed, trust(KEY), R.STATEMENT_MALFORMED)  # the control: a trusted key's payload is parsed


def test_revoked_extra_signer_is_ignored_when_enough_others_sign(signed: Path) -> None:
    sign_wheel(signed, SECOND)
    verdict = verify(signed, trust(KEY, SECOND, revoked=[SECOND.key_id]))
    assert verdict
    assert verdict.signers == (KEY.key_id,)
    assert [r["code"] for r in verdict.evidence["ignored_signatures"]] == ["key-revoked"]
    rejected(
        signed,
        trust(KEY, SECOND, revoked=[SECOND.key_id], thresholds={"demo-*": 2}),
        R.KEY_REVOKED,
        R.THRESHOLD_NOT_MET,
    )


def test_key_before_its_window_is_not_yet_valid(signed: Path) -> None:
    store = trust(KEY, valid_after=NOW + dt.timedelta(seconds=1))
    rejected(signed, store, R.KEY_NOT_YET_VALID, R.THRESHOLD_NOT_MET)
    assert verify(signed, store, now=NOW + dt.timedelta(seconds=1))


def test_key_after_its_window_is_expired(signed: Path) -> None:
    store = trust(KEY, valid_before=NOW)
    rejected(signed, store, R.KEY_EXPIRED, R.THRESHOLD_NOT_MET)
    assert verify(signed, store, now=NOW - dt.timedelta(seconds=1))


def test_key_scoped_to_other_names_is_out_of_scope(signed: Path) -> None:
    rejected(signed, trust(KEY, names=["acme-*"]), R.KEY_OUT_OF_SCOPE, R.THRESHOLD_NOT_MET)
    text = f'version = 1\n[[key]]\nlabel = "k"\npublic_key = "{KEY.public_key.to_openssh()}"\nnames = ["Demo_*"]\n'
    assert verify(signed, TrustStore.from_toml(text, source="store.toml"))  # patterns match canonical names


def test_same_key_twice_does_not_meet_a_threshold_of_two(signed: Path) -> None:
    (sig,) = envelope_of(signed).signatures
    _with_signatures(signed, sig, sig)
    rejected(signed, trust(KEY, thresholds={"demo-plugin": 2}), R.DUPLICATE_SIGNATURE, R.THRESHOLD_NOT_MET)
    verdict = verify(signed, trust(KEY))
    assert verdict
    assert [r["code"] for r in verdict.evidence["ignored_signatures"]] == ["duplicate-signature"]


def test_forged_signature_put_before_the_real_one_does_not_reject(signed: Path) -> None:
    """The key id is a hint (DSSE): a forged signature under the release key's id does not hide its real one."""
    (sig,) = envelope_of(signed).signatures
    forged = attrs.evolve(sig, sig=bytes(64))
    _with_signatures(signed, forged, sig)
    verdict = verify(signed, trust(KEY))
    assert verdict
    assert verdict.signers == (KEY.key_id,)
    assert [r["code"] for r in verdict.evidence["ignored_signatures"]] == ["signature-invalid"]
    rejected(signed, trust(KEY, thresholds={"demo-plugin": 2}), R.SIGNATURE_INVALID, R.THRESHOLD_NOT_MET)


def test_threshold_of_two_with_one_key_is_not_met(signed: Path) -> None:
    verdict = rejected(signed, trust(KEY, SECOND, thresholds={"demo-*": 2}), R.THRESHOLD_NOT_MET)
    assert "1 of 2" in verdict.reasons[0].message


def test_threshold_of_two_is_met_by_two_keys(unsigned: Path) -> None:
    sign_wheel(unsigned, [KEY, SECOND], issued_at=ISSUED)
    verdict = verify(unsigned, trust(KEY, SECOND, thresholds={"demo-*": 2}))
    assert verdict
    assert verdict.signers == (KEY.key_id, SECOND.key_id)


def test_threshold_of_two_is_met_when_a_second_signer_adds_a_signature(signed: Path) -> None:
    sign_wheel(signed, SECOND)
    assert verify(signed, trust(KEY, SECOND, thresholds={"demo-plugin": 2}))
    rejected(signed, trust(KEY, SECOND, thresholds={"demo-plugin": 3}), R.THRESHOLD_NOT_MET)


def test_envelope_without_signatures_meets_no_threshold(signed: Path) -> None:
    _with_signatures(signed)
    rejected(signed, trust(KEY), R.THRESHOLD_NOT_MET)


def test_permission_nobody_vouches_for_is_rejected(unsigned: Path) -> None:
    sign_wheel(unsigned, KEY, permissions=[PERMISSION], issued_at=ISSUED)
    verdict = rejected(unsigned, trust(KEY), R.PERMISSION_NOT_VOUCHED)
    assert verdict.reasons[0].subject == PERMISSION
    rejected(unsigned, trust(KEY, max_permissions=["fs.read:/srv/other/**"]), R.PERMISSION_NOT_VOUCHED)
    assert verify(unsigned, trust(KEY, max_permissions=["fs.read:/srv/**"]))


def test_permission_needs_threshold_many_vouchers(unsigned: Path) -> None:
    sign_wheel(unsigned, [KEY, SECOND], permissions=[PERMISSION], issued_at=ISSUED)
    only_one = trust(trusted(KEY, max_permissions=[PERMISSION]), trusted(SECOND), thresholds={"demo-plugin": 2})
    rejected(unsigned, only_one, R.PERMISSION_NOT_VOUCHED)
    both = trust(KEY, SECOND, max_permissions=[PERMISSION], thresholds={"demo-plugin": 2})
    assert verify(unsigned, both).permissions == (PERMISSION,)


def test_every_problem_is_reported_at_once(signed: Path) -> None:
    rewrite(signed, {"demo_plugin/plugin.py": b"evil\n", "demo_plugin/extra.py": b"", "evil.pth": b""})
    verdict = verify(signed, trust(KEY, revoked=[KEY.key_id]))
    assert verdict.codes == {R.FORBIDDEN_FILE, R.KEY_REVOKED, R.THRESHOLD_NOT_MET}
    verdict = verify(signed, trust(KEY))
    assert verdict.codes == {R.FORBIDDEN_FILE, R.DIGEST_MISMATCH, R.FILE_NOT_SIGNED}
    assert len(verdict.reasons) == 4  # two unsigned files


# --- the zip container --------------------------------------------------------------------------


def _rebuild(wheel: Path, entries: list[wm.Entry], **options: object) -> None:
    wheel.write_bytes(wm.build(entries, **options))  # type: ignore[arg-type]


def test_prepended_data_is_rejected(signed: Path) -> None:
    entries = [wm.Entry(n, d) for n, d in read_members(signed).items()]
    _rebuild(signed, entries, prefix=b'#!/bin/sh\nexec python3 "$0"\n', adjust_offsets=True)
    rejected(signed, trust(KEY), R.ZIP_EXTRA_DATA)


def test_duplicate_member_name_is_rejected(signed: Path) -> None:
    entries = [wm.Entry(n, d) for n, d in read_members(signed).items()]
    entries.append(wm.Entry("demo_plugin/plugin.py", b"import os\n"))  # readers that take the last copy see this
    _rebuild(signed, entries)
    rejected(signed, trust(KEY), R.ZIP_DUPLICATE_NAME)


def test_case_colliding_member_name_is_rejected(signed: Path) -> None:
    entries = [wm.Entry(n, d) for n, d in read_members(signed).items()]
    entries.append(wm.Entry("demo_plugin/Plugin.py", b"import os\n"))
    _rebuild(signed, entries)
    rejected(signed, trust(KEY), R.ZIP_DUPLICATE_NAME)


def test_symlink_member_is_rejected(signed: Path) -> None:
    entries = [
        wm.Entry(n, b"/etc/passwd" if n == "demo_plugin/plugin.py" else d, external_attr=wm.SYMLINK)
        if n == "demo_plugin/plugin.py"
        else wm.Entry(n, d)
        for n, d in read_members(signed).items()
    ]
    _rebuild(signed, entries)
    # The link is left out of the verified members, so RECORD and the statement miss it too.
    rejected(signed, trust(KEY), R.ZIP_SYMLINK, R.RECORD_MISMATCH, R.SIGNED_FILE_MISSING)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04", b"not a zip at all" * 100])
def test_unreadable_file_is_zip_unreadable(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "demo_plugin-1.0-py3-none-any.whl"
    path.write_bytes(content)
    # The archive gave nothing, so there is no .dist-info either.
    rejected(path, trust(KEY), R.ZIP_UNREADABLE, R.WHEEL_METADATA_INVALID)


def test_missing_file_or_directory_is_zip_unreadable(tmp_path: Path) -> None:
    rejected(tmp_path / "demo_plugin-1.0-py3-none-any.whl", trust(KEY), R.ZIP_UNREADABLE)
    (tmp_path / "dir-1.0-py3-none-any.whl").mkdir()
    rejected(tmp_path / "dir-1.0-py3-none-any.whl", trust(KEY), R.ZIP_UNREADABLE)


def test_envelope_changed_on_disk_after_the_scan_is_a_verdict_not_an_exception(
    signed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a tiny capture size the envelope is read again from disk; swapping it in between is a rejection."""
    import securehost._wheel.wheelfile as wheel_module

    rewrite(signed, {}, method=0)  # stored, so the envelope bytes can be overwritten in place
    original = signed.read_bytes()
    envelope = read_members(signed)[ENVELOPE]
    at = original.index(envelope)
    real_inspect = wheel_module.inspect_wheel

    def inspect_then_tamper(name: str, scan: object) -> object:
        result = real_inspect(name, scan)  # type: ignore[arg-type]
        data = bytearray(original)
        data[at + 20] ^= 1
        signed.write_bytes(bytes(data))
        return result

    monkeypatch.setattr(wheel_module, "inspect_wheel", inspect_then_tamper)
    verdict = rejected(signed, trust(KEY), R.ZIP_UNREADABLE, limits=ZipLimits(capture_size=16))
    assert "changed since the archive was scanned" in verdict.reasons[0].message


# --- describe_wheel -----------------------------------------------------------------------------


def test_describe_shows_statement_and_signers_without_trust(unsigned: Path) -> None:
    sign_wheel(unsigned, [KEY, SECOND], permissions=[PERMISSION], issued_at=ISSUED)
    info = describe_wheel(unsigned)
    assert info["predicate"]["name"] == CANONICAL
    assert info["predicate"]["permissions"] == [PERMISSION]
    assert info["signatures"] == [KEY.key_id, SECOND.key_id]
    members = read_members(unsigned)
    assert info["subjects"] == {
        n: hashlib.sha256(d).hexdigest() for n, d in members.items() if n not in (RECORD, ENVELOPE)
    }
    assert info["problems"] == []


def test_describe_reports_problems_of_an_unsound_wheel(signed: Path) -> None:
    rewrite(signed, {"evil.pth": b""})
    info = describe_wheel(signed)
    assert [p["code"] for p in info["problems"]] == ["forbidden-file"]


def test_describe_refuses_unsigned_and_malformed(unsigned: Path, tmp_path: Path) -> None:
    with pytest.raises(WheelFormatError, match="not signed"):
        describe_wheel(unsigned)
    inject_envelope(unsigned, b"{}")
    with pytest.raises(EnvelopeFormatError):
        describe_wheel(unsigned)
    junk = tmp_path / "demo_plugin-1.0-py3-none-any.whl"
    junk.write_bytes(b"junk")
    with pytest.raises(WheelFormatError):
        describe_wheel(junk)


# --- properties ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, dict[str, bytes]]:
    """A signed wheel (bytes) and its members, shared by the property tests (each works on a copy)."""
    wheel = make_wheel(tmp_path_factory.mktemp("template"))
    sign_wheel(wheel, KEY, permissions=[PERMISSION], issued_at=ISSUED)
    return wheel.read_bytes(), read_members(wheel)


STORE = trust(KEY, max_permissions=[PERMISSION])
_PROPERTY = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


def _scratch(data: bytes, directory: str) -> Path:
    path = Path(directory) / "demo_plugin-1.0-py3-none-any.whl"
    path.write_bytes(data)
    return path


def test_template_is_accepted(template: tuple[bytes, dict[str, bytes]]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        assert verify(_scratch(template[0], directory), STORE)


def _flip(data: st.DataObject, content: bytes) -> bytes:
    flipped = bytearray(content)
    at = data.draw(st.integers(0, len(content) - 1), label="offset")
    flipped[at] ^= data.draw(st.integers(1, 255), label="xor")
    return bytes(flipped)


@_PROPERTY
@given(data=st.data(), update_record=st.booleans())
def test_flipping_any_byte_of_any_signed_member_is_rejected(
    template: tuple[bytes, dict[str, bytes]], data: st.DataObject, update_record: bool
) -> None:
    """Every member but RECORD is signed (the envelope by its signatures), with or without a RECORD to match."""
    raw, members = template
    name = data.draw(st.sampled_from(sorted(n for n, d in members.items() if d and n != RECORD)), label="member")
    with tempfile.TemporaryDirectory() as directory:
        wheel = _scratch(raw, directory)
        rewrite(wheel, {name: _flip(data, members[name])}, update_record=update_record)
        verdict = verify(wheel, STORE)
    assert not verdict
    assert verdict.reasons


@_PROPERTY
@given(data=st.data())
def test_flipping_a_byte_of_record_is_rejected_unless_it_reads_the_same(
    template: tuple[bytes, dict[str, bytes]], data: st.DataObject
) -> None:
    """RECORD cannot be signed (it lists the envelope's hash); it is checked against the members instead."""
    raw, members = template
    flipped = _flip(data, members[RECORD])
    with tempfile.TemporaryDirectory() as directory:
        wheel = rewrite(_scratch(raw, directory), {RECORD: flipped}, update_record=False)
        verdict = verify(wheel, STORE)
    if verdict:
        assert Record.from_bytes(flipped) == Record.from_bytes(members[RECORD])


def test_record_with_a_lone_carriage_return_is_rejected(signed: Path) -> None:
    record = read_members(signed)[RECORD]
    rewrite(signed, {RECORD: record[:-1] + b"\r"}, update_record=False)
    rejected(signed, trust(KEY), R.RECORD_INVALID)


@_PROPERTY
@given(data=st.data())
def test_flipping_any_byte_of_the_envelope_is_rejected_even_with_a_fixed_record(
    template: tuple[bytes, dict[str, bytes]], data: st.DataObject
) -> None:
    raw, members = template
    with tempfile.TemporaryDirectory() as directory:
        wheel = inject_envelope(_scratch(raw, directory), _flip(data, members[ENVELOPE]))
        verdict = verify(wheel, STORE)
    assert not verdict
    assert verdict.codes & {
        R.ENVELOPE_MALFORMED,
        R.SIGNATURE_INVALID,
        R.KEY_UNKNOWN,
        R.THRESHOLD_NOT_MET,
        R.PAYLOAD_TYPE_MISMATCH,
    }


def _content(path: Path) -> dict[str, bytes]:
    scan = read_archive(path)
    return {m.name: scan.read(m.name, max_size=1 << 24) for m in scan.members}


@_PROPERTY
@given(data=st.data())
def test_flipping_a_byte_anywhere_in_the_file_never_accepts_other_content(
    template: tuple[bytes, dict[str, bytes]], data: st.DataObject
) -> None:
    """A flip at any offset of the .whl is rejected or unreadable, unless it hit zip bookkeeping that carries no
    content (a time stamp, a "version made by" field, unused bits of a deflate stream): then every member still
    reads back byte-identical to what was signed.
    """
    raw, members = template
    with tempfile.TemporaryDirectory() as directory:
        wheel = _scratch(_flip(data, raw), directory)
        verdict = verify(wheel, STORE)  # never raises
        if verdict:
            assert _content(wheel) == members


@given(
    content=st.one_of(
        st.binary(max_size=2000),
        sw.mutated_archives(),
        st.builds(lambda files: wm.build_wheel(wm.wheel_files(files=files)), sw.member_sets(max_size=3)),
    )
)
def test_arbitrary_bytes_give_a_verdict_and_only_securehost_errors(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        wheel = _scratch(content, directory)
        verdict = verify(wheel, STORE)
        assert not verdict  # nothing here carries a trusted signature
        assert verdict.reasons
        with contextlib.suppress(WheelFormatError, EnvelopeFormatError):
            describe_wheel(wheel)
        try:
            sign_wheel(wheel, KEY, issued_at=ISSUED)
        except SigningError:
            pass
        else:  # only a sound wheel can be signed, and then it verifies
            assert verify(wheel, trust(KEY))


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p384"])
def test_signature_bytes_are_checked_with_the_stored_key_type(signed: Path, kind: str) -> None:
    """An ECDSA signature under an Ed25519 key id (or vice versa) is simply invalid: nothing selects an algorithm."""
    other = private_key(kind, 2)
    envelope = envelope_of(signed)
    claimed = SECOND if kind == "ed25519" else KEY
    _with_signatures(signed, Signature(keyid=claimed.key_id, sig=other.sign(envelope.pae())))
    rejected(signed, trust(claimed), R.SIGNATURE_INVALID, R.THRESHOLD_NOT_MET)


@pytest.mark.parametrize(
    "recode",
    [
        lambda text: text.rstrip("="),
        lambda text: "-" + text[1:],
        lambda text: text[:10] + "\n" + text[10:],
        lambda text: text + "==",
    ],
    ids=["unpadded", "url-safe-character", "line-break", "extra-padding"],
)
def test_signature_in_another_base64_form_is_malformed(signed: Path, recode: object) -> None:
    doc = json.loads(read_members(signed)[ENVELOPE])
    doc["signatures"][0]["sig"] = recode(doc["signatures"][0]["sig"])  # type: ignore[operator]
    inject_envelope(signed, json.dumps(doc).encode())
    rejected(signed, trust(KEY), R.ENVELOPE_MALFORMED)


def test_envelope_json_with_keys_in_another_order_still_verifies(signed: Path) -> None:
    """The verifier parses the envelope JSON; only the payload bytes are signed, not the envelope layout."""
    doc = json.loads(read_members(signed)[ENVELOPE])
    inject_envelope(signed, json.dumps(dict(reversed(doc.items())), indent=2).encode())
    assert verify(signed, trust(KEY))
