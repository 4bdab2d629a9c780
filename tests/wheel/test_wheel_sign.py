"""sign_wheel: what it writes, what it refuses, adding signatures, determinism, and a sign->verify round trip."""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import PAYLOAD_TYPE, Statement
from securehost._wheel.info import forbidden_files
from securehost._wheel.record import Record
from securehost._wheel.wheelfile import sign_wheel, verify_wheel
from securehost.exceptions import PermissionFormatError, SigningError
from tests import strategies_wheel as sw
from tests import wheelmaker as wm
from tests.strategies_envelope import private_key
from tests.wheelfactory import (
    CANONICAL,
    DIST_INFO,
    ENTRY_POINTS,
    ENVELOPE,
    EXAMPLES,
    FILES,
    GROUP,
    ISSUED,
    NOW,
    RECORD,
    copy_wheel,
    envelope_of,
    forge,
    inject_envelope,
    make_wheel,
    read_members,
    rewrite,
    trust,
)

KEY = private_key("ed25519")
SECOND = private_key("ecdsa-p256")
PERMISSION = "fs.read:/srv/data/**"


@pytest.fixture
def unsigned(tmp_path: Path) -> Path:
    return make_wheel(tmp_path / "wheel")


def statement_of(wheel: Path) -> Statement:
    return Statement.from_envelope(envelope_of(wheel))


# --- what signing writes ------------------------------------------------------------------------


def test_signing_adds_the_envelope_and_lists_it_in_record(unsigned: Path) -> None:
    before = read_members(unsigned)
    assert sign_wheel(unsigned, KEY, issued_at=ISSUED) == unsigned
    after = read_members(unsigned)
    # Every original file is kept byte for byte and in order; the envelope and then RECORD come last.
    assert list(after) == [*(n for n in before if n != RECORD), ENVELOPE, RECORD]
    assert all(after[n] == data for n, data in before.items() if n != RECORD)
    record = Record.from_bytes(after[RECORD])
    rows = {e.path: e for e in record.entries}
    envelope = after[ENVELOPE]
    assert rows[ENVELOPE].hexdigest == hashlib.sha256(envelope).hexdigest()
    assert rows[ENVELOPE].size == len(envelope)
    assert rows[RECORD].digest is None
    assert list(rows) == list(after)  # one row per member, in member order


def test_statement_describes_every_file_and_the_wheel(unsigned: Path) -> None:
    sign_wheel(unsigned, KEY, permissions=["net.connect:api.example.com:443", PERMISSION], issued_at=ISSUED)
    envelope = envelope_of(unsigned)
    assert envelope.payload_type == PAYLOAD_TYPE
    assert [s.keyid for s in envelope.signatures] == [KEY.key_id]
    statement = Statement.from_envelope(envelope)
    members = read_members(unsigned)
    assert statement.subject_map() == {
        n: hashlib.sha256(d).hexdigest() for n, d in members.items() if n not in (RECORD, ENVELOPE)
    }
    predicate = statement.predicate
    assert (predicate.name, predicate.version, predicate.tags) == (CANONICAL, "1.0", ("py3-none-any",))
    assert predicate.permissions == (PERMISSION, "net.connect:api.example.com:443")
    assert predicate.entry_points == {GROUP: {"demo": "demo_plugin.plugin:Plugin"}}
    assert (predicate.issued_at, predicate.expires_at) == (ISSUED, None)
    assert statement.to_json_bytes() == envelope.payload  # canonical JSON


def test_wheel_without_entry_points_signs_and_verifies(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, entry_points=None)
    sign_wheel(wheel, KEY, issued_at=ISSUED)
    assert statement_of(wheel).predicate.entry_points == {}
    assert verify_wheel(wheel, trust(KEY), now=NOW)


def test_issued_at_defaults_to_source_date_epoch(unsigned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    sign_wheel(unsigned, KEY)
    assert statement_of(unsigned).predicate.issued_at == dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("value", ["soon", "-1", "1.5", "99999999999999999999", "\u0661"])
def test_invalid_source_date_epoch_is_refused(unsigned: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", value)
    with pytest.raises(SigningError, match="SOURCE_DATE_EPOCH"):
        sign_wheel(unsigned, KEY)
    sign_wheel(unsigned, KEY, issued_at=ISSUED)  # an explicit time does not read it


@pytest.mark.parametrize(
    ("issued_at", "expires_at"),
    [
        (ISSUED.replace(microsecond=5), None),
        (ISSUED, ISSUED.replace(microsecond=5) + dt.timedelta(days=1)),
        (ISSUED, dt.datetime(2027, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))),
        (ISSUED, dt.datetime(2027, 1, 1)),  # naive on purpose
    ],
)
def test_times_must_be_utc_whole_seconds(unsigned: Path, issued_at: dt.datetime, expires_at: dt.datetime) -> None:
    with pytest.raises(SigningError, match="cannot build the statement"):
        sign_wheel(unsigned, KEY, issued_at=issued_at, expires_at=expires_at)


def test_issued_at_defaults_to_now_in_whole_seconds(unsigned: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    sign_wheel(unsigned, KEY)
    after = dt.datetime.now(dt.timezone.utc)
    assert before <= statement_of(unsigned).predicate.issued_at <= after


def test_expiry_is_signed(unsigned: Path) -> None:
    expiry = ISSUED + dt.timedelta(days=365)
    sign_wheel(unsigned, KEY, issued_at=ISSUED, expires_at=expiry)
    assert statement_of(unsigned).predicate.expires_at == expiry


# --- where it writes ----------------------------------------------------------------------------


def test_output_into_a_directory_leaves_the_source_alone(unsigned: Path, tmp_path: Path) -> None:
    original = unsigned.read_bytes()
    (tmp_path / "out").mkdir()
    out = sign_wheel(unsigned, KEY, output=tmp_path / "out", issued_at=ISSUED)
    assert out == tmp_path / "out" / unsigned.name
    assert unsigned.read_bytes() == original
    assert verify_wheel(out, trust(KEY), now=NOW)


def test_output_with_a_trailing_separator_is_a_new_directory(unsigned: Path, tmp_path: Path) -> None:
    out = sign_wheel(unsigned, KEY, output=f"{tmp_path}/new/dir/", issued_at=ISSUED)
    assert out == tmp_path / "new" / "dir" / unsigned.name
    assert verify_wheel(out, trust(KEY), now=NOW)


def test_output_file_must_keep_the_wheel_name(unsigned: Path, tmp_path: Path) -> None:
    out = sign_wheel(unsigned, KEY, output=tmp_path / "elsewhere" / unsigned.name, issued_at=ISSUED)
    assert verify_wheel(out, trust(KEY), now=NOW)
    with pytest.raises(SigningError, match="file name"):
        sign_wheel(unsigned, KEY, output=tmp_path / "signed")
    assert not (tmp_path / "signed").exists()
    with pytest.raises(SigningError, match="file name"):
        sign_wheel(unsigned, KEY, output=tmp_path / "other_plugin-1.0-py3-none-any.whl")


# --- what it refuses ----------------------------------------------------------------------------


def _no_leftovers(directory: Path) -> None:
    assert not [p.name for p in directory.iterdir() if p.name.startswith(".securehost-")]


def test_refuses_files_that_do_not_match_their_record(unsigned: Path) -> None:
    rewrite(unsigned, {"demo_plugin/plugin.py": b"import os\n"}, update_record=False)
    before = unsigned.read_bytes()
    with pytest.raises(SigningError, match="record-mismatch"):
        sign_wheel(unsigned, KEY)
    assert unsigned.read_bytes() == before
    _no_leftovers(unsigned.parent)


def test_refuses_a_member_missing_from_record(unsigned: Path) -> None:
    members = read_members(unsigned)
    rewrite(unsigned, {RECORD: members[RECORD].replace(b"demo_plugin/plugin.py,", b"demo_plugin/gone.py,")},
            update_record=False)  # fmt: skip
    with pytest.raises(SigningError, match="record-mismatch"):
        sign_wheel(unsigned, KEY)


def test_refuses_an_unsound_zip(unsigned: Path) -> None:
    entries = [wm.Entry(n, d) for n, d in read_members(unsigned).items()]
    unsigned.write_bytes(wm.build(entries, prefix=b"MZ\x90\x00", adjust_offsets=True))
    with pytest.raises(SigningError, match=r"not a sound zip archive.*zip-extra-data"):
        sign_wheel(unsigned, KEY)
    entries.append(wm.Entry("demo_plugin/plugin.py", b"evil"))
    unsigned.write_bytes(wm.build(entries))
    with pytest.raises(SigningError, match="zip-duplicate-name"):
        sign_wheel(unsigned, KEY)
    _no_leftovers(unsigned.parent)


def test_refuses_what_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "demo_plugin-1.0-py3-none-any.whl"
    path.write_bytes(b"not a zip")
    with pytest.raises(SigningError, match="zip-unreadable"):
        sign_wheel(path, KEY)
    with pytest.raises(SigningError, match="zip-unreadable"):
        sign_wheel(tmp_path / "missing-1.0-py3-none-any.whl", KEY)


@pytest.mark.parametrize("name", ["evil.pth", "sitecustomize.py"])
def test_refuses_start_up_hooks(unsigned: Path, name: str) -> None:
    rewrite(unsigned, {name: b"import os\n"})
    with pytest.raises(SigningError, match="forbidden-file"):
        sign_wheel(unsigned, KEY)


def test_refuses_a_wheel_whose_name_contradicts_its_metadata(unsigned: Path) -> None:
    renamed = unsigned.with_name("other_plugin-1.0-py3-none-any.whl")
    unsigned.rename(renamed)
    with pytest.raises(SigningError, match="wheel-metadata-invalid"):
        sign_wheel(renamed, KEY)


def test_refuses_malformed_permissions_and_empty_keys(unsigned: Path) -> None:
    with pytest.raises(PermissionFormatError):
        sign_wheel(unsigned, KEY, permissions=["fs.read:relative/path"])
    with pytest.raises(TypeError):
        sign_wheel(unsigned, KEY, permissions="fs.read:/srv/**")
    with pytest.raises(ValueError, match="signing key"):
        sign_wheel(unsigned, [])
    assert "securehost.dsse.json" not in str(read_members(unsigned))


def test_refuses_an_expiry_before_the_issue_time(unsigned: Path) -> None:
    with pytest.raises(SigningError, match="cannot build the statement"):
        sign_wheel(unsigned, KEY, issued_at=ISSUED, expires_at=ISSUED)


def test_permissions_that_sort_differently_as_objects_and_as_text(unsigned: Path) -> None:
    """``proc.spawn`` (no scope) next to ``proc.spawn:/usr/bin/git``: the statement sorts them as text."""
    wanted = ["proc.spawn:/usr/bin/git", "proc.spawn", PERMISSION, PERMISSION]
    sign_wheel(unsigned, KEY, permissions=wanted, issued_at=ISSUED)
    assert statement_of(unsigned).predicate.permissions == (PERMISSION, "proc.spawn", "proc.spawn:/usr/bin/git")
    sign_wheel(unsigned, SECOND, permissions=reversed(wanted))  # the same set: no change, a second signature
    assert len(envelope_of(unsigned).signatures) == 2


# --- signing a signed wheel ---------------------------------------------------------------------


def test_second_key_adds_a_signature_to_the_same_statement(unsigned: Path) -> None:
    sign_wheel(unsigned, KEY, permissions=[PERMISSION], issued_at=ISSUED)
    first = envelope_of(unsigned)
    sign_wheel(unsigned, SECOND, issued_at=ISSUED + dt.timedelta(days=9))  # issued_at of a new statement: unused
    second = envelope_of(unsigned)
    assert second.payload == first.payload
    assert [s.keyid for s in second.signatures] == [KEY.key_id, SECOND.key_id]
    assert second.signatures[0] == first.signatures[0]
    store = trust(KEY, SECOND, max_permissions=[PERMISSION], thresholds={"demo-plugin": 2})
    verdict = verify_wheel(unsigned, store, now=NOW)
    assert verdict
    assert verdict.signers == (KEY.key_id, SECOND.key_id)


def test_signing_again_with_the_same_key_changes_nothing(unsigned: Path) -> None:
    sign_wheel(unsigned, KEY, issued_at=ISSUED)
    once = unsigned.read_bytes()
    sign_wheel(unsigned, KEY)
    assert unsigned.read_bytes() == once


def test_refuses_changing_permissions_or_expiry_without_replace_statement(unsigned: Path) -> None:
    sign_wheel(unsigned, KEY, permissions=[PERMISSION], issued_at=ISSUED)
    before = unsigned.read_bytes()
    with pytest.raises(SigningError, match="replace_statement"):
        sign_wheel(unsigned, SECOND, permissions=["fs.read:/etc/**"])
    with pytest.raises(SigningError, match="replace_statement"):
        sign_wheel(unsigned, SECOND, expires_at=ISSUED + dt.timedelta(days=1))
    assert unsigned.read_bytes() == before
    sign_wheel(unsigned, SECOND, permissions=[PERMISSION])  # the same permissions are no change
    sign_wheel(unsigned, SECOND, permissions=iter(()))  # nor is asking for none
    assert statement_of(unsigned).predicate.permissions == (PERMISSION,)


def test_replace_statement_starts_over_with_only_the_new_signatures(unsigned: Path) -> None:
    sign_wheel(unsigned, [KEY, SECOND], permissions=[PERMISSION], issued_at=ISSUED)
    sign_wheel(unsigned, SECOND, permissions=["fs.read:/etc/**"], issued_at=NOW, replace_statement=True)
    envelope = envelope_of(unsigned)
    assert [s.keyid for s in envelope.signatures] == [SECOND.key_id]
    predicate = Statement.from_envelope(envelope).predicate
    assert (predicate.permissions, predicate.issued_at) == (("fs.read:/etc/**",), NOW)


def test_refuses_to_add_a_signature_to_a_statement_of_other_files(unsigned: Path) -> None:
    sign_wheel(unsigned, KEY, issued_at=ISSUED)
    rewrite(unsigned, {"demo_plugin/plugin.py": b"import os\n"})  # RECORD is consistent again
    with pytest.raises(SigningError, match=r"does not describe the wheel.*digest-mismatch"):
        sign_wheel(unsigned, SECOND)
    sign_wheel(unsigned, SECOND, replace_statement=True, issued_at=ISSUED)
    assert verify_wheel(unsigned, trust(SECOND), now=NOW)


def test_refuses_to_co_sign_a_statement_with_another_name(unsigned: Path) -> None:
    forge(unsigned, KEY, name="acme-csv")
    with pytest.raises(SigningError, match="name-mismatch"):
        sign_wheel(unsigned, SECOND)


def test_refuses_to_co_sign_a_statement_that_hides_an_entry_point(unsigned: Path) -> None:
    forge(unsigned, KEY, entry_points={})
    with pytest.raises(SigningError, match="entry-points-mismatch"):
        sign_wheel(unsigned, SECOND)


@pytest.mark.parametrize("envelope", [b"{}", b"not json"])
def test_existing_malformed_envelope_needs_replace_statement(unsigned: Path, envelope: bytes) -> None:
    inject_envelope(unsigned, envelope)
    with pytest.raises(SigningError, match="replace_statement"):
        sign_wheel(unsigned, KEY)
    sign_wheel(unsigned, KEY, replace_statement=True, issued_at=ISSUED)
    assert verify_wheel(unsigned, trust(KEY), now=NOW)


def test_existing_envelope_of_another_payload_type_needs_replace_statement(unsigned: Path) -> None:
    sign_wheel(unsigned, KEY, issued_at=ISSUED)
    envelope = envelope_of(unsigned)
    inject_envelope(unsigned, type(envelope)(payload=envelope.payload, payload_type="text/plain"))
    with pytest.raises(SigningError, match=r"malformed.*replace_statement"):
        sign_wheel(unsigned, SECOND)


# --- determinism --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256", "ecdsa-p384"])
def test_signing_is_deterministic(unsigned: Path, tmp_path: Path, kind: str) -> None:
    copy = copy_wheel(unsigned, tmp_path / "copy")
    key = private_key(kind)
    first = sign_wheel(unsigned, key, permissions=[PERMISSION], issued_at=ISSUED)
    second = sign_wheel(copy, key, permissions=[PERMISSION], issued_at=ISSUED)
    assert first.read_bytes() == second.read_bytes()


def test_rsa_pss_signatures_are_randomised_but_verify(unsigned: Path, tmp_path: Path) -> None:
    copy = copy_wheel(unsigned, tmp_path / "copy")
    key = private_key("rsa-3072")
    first = sign_wheel(unsigned, key, issued_at=ISSUED)
    second = sign_wheel(copy, key, issued_at=ISSUED)
    assert envelope_of(first).payload == envelope_of(second).payload
    assert envelope_of(first).signatures != envelope_of(second).signatures
    assert verify_wheel(first, trust(key), now=NOW)
    assert verify_wheel(second, trust(key), now=NOW)


def test_different_issue_times_give_different_wheels(unsigned: Path, tmp_path: Path) -> None:
    copy = copy_wheel(unsigned, tmp_path / "copy")
    sign_wheel(unsigned, KEY, issued_at=ISSUED)
    sign_wheel(copy, KEY, issued_at=ISSUED + dt.timedelta(seconds=1))
    assert unsigned.read_bytes() != copy.read_bytes()


# --- real wheels and round trips ----------------------------------------------------------------


@pytest.mark.parametrize("example", ["csv", "skill", "github"])
def test_example_wheels_built_by_python_build_sign_and_verify(
    example_wheels: dict[str, Path], tmp_path: Path, example: str
) -> None:
    wheel = copy_wheel(example_wheels[example], tmp_path)
    before = read_members(wheel)
    sign_wheel(wheel, [KEY, SECOND], permissions=[PERMISSION], issued_at=ISSUED)
    verdict = verify_wheel(wheel, trust(KEY, SECOND, max_permissions=["fs.read:/srv/**"]), now=NOW)
    assert verdict, verdict.summary()
    assert verdict.name == EXAMPLES[example][1]
    assert verdict.signers == (KEY.key_id, SECOND.key_id)
    after = read_members(wheel)
    assert {n: d for n, d in after.items() if not n.endswith(("/RECORD", ".dsse.json"))} == {
        n: d for n, d in before.items() if not n.endswith("/RECORD")
    }


def _installable(name: str) -> bool:
    """Names a hand-made wheel can carry next to ``demo_plugin-1.0.dist-info`` without breaking a wheel rule."""
    head = unicodedata.normalize("NFC", name.split("/")[0]).casefold()
    return not head.endswith((".dist-info", ".data")) and not forbidden_files([name])


file_sets = sw.member_sets(max_size=6).map(lambda files: {n: d for n, d in files.items() if _installable(n)})


@given(files=file_sets, permissions=st.lists(st.sampled_from([PERMISSION, "proc.spawn", "env.read:HOME"])))
def test_sign_then_verify_round_trip_over_arbitrary_files(files: dict[str, bytes], permissions: list[str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        wheel = make_wheel(Path(directory), files, entry_points=ENTRY_POINTS if len(files) % 2 else None)
        sign_wheel(wheel, KEY, permissions=permissions, issued_at=ISSUED)
        store = trust(KEY, max_permissions=[PERMISSION, "proc.spawn", "env.read:*"])
        verdict = verify_wheel(wheel, store, now=NOW)
        assert verdict, verdict.summary()
        assert verdict.permissions == tuple(sorted(set(permissions)))
        members = read_members(wheel)
        assert {n: members[n] for n in files} == files
        assert statement_of(wheel).subject_map() == {
            n: hashlib.sha256(d).hexdigest() for n, d in members.items() if n not in (RECORD, ENVELOPE)
        }


def test_default_demo_files_are_all_signed(unsigned: Path) -> None:
    sign_wheel(unsigned, KEY, issued_at=ISSUED)
    assert set(FILES) < set(statement_of(unsigned).subject_map())
    assert f"{DIST_INFO}/RECORD" not in statement_of(unsigned).subject_map()
    assert ENVELOPE not in statement_of(unsigned).subject_map()
