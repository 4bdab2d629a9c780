"""The signature memo: a later load skips the cryptography for signatures that verified, and nothing else.

Attacks: a memo forged without the host's key, a memo entry for a key that was removed or revoked since, a memo
for other envelope bytes. Plus the memo's own contract: round trip, bound, unreadable and unwritable files.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from securehost import PrivateKey, ReasonCode
from securehost._digests import fingerprint
from securehost._fileio import SealedFile
from securehost._signing import memo as memo_module
from securehost._signing.keys import PublicKey
from securehost._signing.memo import SignatureMemo
from tests.hostkit import GOOD, Lab, lab_fixtures
from tests.wheelfactory import trust, trusted

R = ReasonCode
KEY = PrivateKey.generate()
OTHER = PrivateKey.generate()
PAYLOAD = "5" * 64  # the SHA-256 a parsed mark keeps of the payload
STORE = trust(trusted(KEY, label="release"))


good_wheel, lab = lab_fixtures(KEY, STORE)  # the signed example plugin and a lab that installs it


def no_crypto(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make signature verification fail loudly; return the list of key ids it was asked about."""
    asked: list[str] = []

    def refuse(self: PublicKey, signature: bytes, data: bytes) -> bool:
        asked.append(self.key_id)
        return False

    monkeypatch.setattr(PublicKey, "is_valid_signature", refuse)
    return asked


def load_once(lab: Lab) -> None:
    """Load with a host and close it again (its modules leave sys.modules), filling the memo."""
    host = lab.host()
    assert host.load()[GOOD].status == "accepted"
    host.close()


def envelope_path(lab: Lab) -> Path:
    (found,) = lab.site.glob("*.dist-info/securehost.dsse.json")
    return found


def test_a_second_load_does_not_verify_a_known_signature_again(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    load_once(lab)
    assert (lab.state / "signatures.memo").is_file()
    asked = no_crypto(monkeypatch)
    assert lab.host().load()[GOOD].status == "accepted"
    assert asked == []


def test_without_the_memo_the_cryptography_runs(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control for the test above: the patched verification does reject when it is asked."""
    load_once(lab)
    (lab.state / "signatures.memo").unlink()
    asked = no_crypto(monkeypatch)
    report = lab.host().load()[GOOD]
    assert report.status == "rejected"
    assert R.SIGNATURE_INVALID in report.verdict.codes
    assert asked == [KEY.key_id]


def test_a_memo_forged_without_the_hosts_key_is_ignored_and_audited(lab: Lab) -> None:
    path = envelope_path(lab)
    envelope = json.loads(path.read_bytes())
    envelope["signatures"][0]["sig"] = base64.b64encode(b"\x01" * 64).decode()  # a trusted key id, a bad signature
    path.write_text(json.dumps(envelope))
    digest = fingerprint(path.read_bytes())
    payload = json.dumps([[digest, [KEY.key_id]]]).encode()
    lab.state.mkdir(mode=0o700, parents=True, exist_ok=True)
    forged = SealedFile(
        lab.state / "signatures.memo", os.urandom(32), memo_module._MAGIC, context=memo_module._CONTEXT, limit=1 << 20
    )
    forged.write(payload, prefix=".t-")  # this version's header, a MAC under another key
    report = lab.host().load()[GOOD]
    assert report.status == "rejected"
    assert {R.SIGNATURE_INVALID, R.THRESHOLD_NOT_MET} <= report.verdict.codes
    assert any(e["event"] == "signatures.memo_tampered" for e in lab.events())


def test_a_remembered_signature_of_a_removed_key_counts_nothing(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    load_once(lab)
    no_crypto(monkeypatch)
    report = lab.host(trust_store=trust(trusted(OTHER))).load()[GOOD]
    assert report.status == "rejected"
    assert {R.KEY_UNKNOWN, R.THRESHOLD_NOT_MET} <= report.verdict.codes


def test_a_remembered_signature_of_a_revoked_key_counts_nothing(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    load_once(lab)
    no_crypto(monkeypatch)
    report = lab.host(trust_store=trust(trusted(KEY), revoked=[KEY.key_id])).load()[GOOD]
    assert report.status == "rejected"
    assert R.KEY_REVOKED in report.verdict.codes


def test_other_envelope_bytes_are_verified_again(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo is keyed by the whole envelope: the same signature in reformatted JSON is a new question."""
    load_once(lab)
    path = envelope_path(lab)
    path.write_text(json.dumps(json.loads(path.read_bytes()), indent=1))
    asked = no_crypto(monkeypatch)
    assert lab.host().load()[GOOD].status == "rejected"
    assert asked == [KEY.key_id]


def strict_parser_refuses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the strict statement parser fail loudly; return the sizes of the payloads it was asked about."""
    import securehost._signing.statement as statement_module
    from securehost.exceptions import EnvelopeFormatError

    asked: list[int] = []

    def refuse(data: bytes, **_: object) -> dict[str, Any]:
        asked.append(len(data))
        raise EnvelopeFormatError("the strict parser was asked")

    monkeypatch.setattr(statement_module, "loads_strict", refuse)
    return asked


def test_a_statement_that_parsed_strictly_before_is_not_parsed_strictly_again(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_once(lab)
    asked = strict_parser_refuses(monkeypatch)
    report = lab.host().load()[GOOD]
    assert report.status == "accepted"
    assert asked == []
    assert report.verdict.evidence["files_verified"] == 6  # the statement's subjects were read all the same


def test_without_the_memo_the_statement_is_parsed_strictly(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control for the test above: the patched parser does reject when it is asked."""
    load_once(lab)
    (lab.state / "signatures.memo").unlink()
    asked = strict_parser_refuses(monkeypatch)
    report = lab.host().load()[GOOD]
    assert report.status == "rejected"
    assert R.STATEMENT_MALFORMED in report.verdict.codes
    assert len(asked) == 1


def test_a_statement_that_failed_the_strict_parser_is_never_remembered_as_parsed(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rejected statement is parsed strictly on every load, whatever the memo says about its signatures."""
    first = strict_parser_refuses(monkeypatch)
    assert lab.host().load()[GOOD].status == "rejected"
    monkeypatch.undo()
    memo = SignatureMemo(lab.state / "signatures.memo", lab.host().importer.derive_key(b"signature memo"))
    digest = fingerprint(envelope_path(lab).read_bytes())
    assert memo.valid_keyids(digest) == {KEY.key_id}  # the signature is remembered ...
    assert not memo.parsed(digest)  # ... the statement is not
    again = strict_parser_refuses(monkeypatch)
    assert lab.host().load()[GOOD].status == "rejected"
    assert len(first) == len(again) == 1


def test_stricter_limits_than_the_defaults_always_parse_strictly(tmp_path: Path, good_wheel: Path) -> None:
    """What "parsed before" means holds for the default limits only; a caller's own limits get the strict parser."""
    import zipfile

    import attrs

    from securehost._signing.envelope import DEFAULT_LIMITS
    from securehost._trust.verify import check_statement

    with zipfile.ZipFile(good_wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("securehost.dsse.json")]
        data = archive.read(name)
    memo = SignatureMemo(tmp_path / "memo", b"k" * 32)
    assert check_statement(data, STORE, memo=memo).statement is not None
    payload = base64.b64decode(json.loads(data)["payload"])
    assert memo.parsed(fingerprint(data)) == hashlib.sha256(payload).hexdigest()
    shallow = attrs.evolve(DEFAULT_LIMITS, max_depth=3)  # the envelope nests 3 deep, the statement deeper
    check = check_statement(data, STORE, memo=memo, limits=shallow)
    assert check.statement is None
    assert R.STATEMENT_MALFORMED in {r.code for r in check.reasons}


def test_the_parsed_mark_round_trips_and_leaves_with_its_entry(tmp_path: Path) -> None:
    memo = SignatureMemo(tmp_path / "memo", b"k" * 32, max_entries=2)
    memo.remember_parsed("z" * 64, PAYLOAD)  # no entry for it: nothing to mark
    memo.remember("a" * 64, ["k1"])
    memo.remember_parsed("a" * 64, PAYLOAD)
    memo.remember("b" * 64, ["k1"])
    memo.save()
    again = SignatureMemo(tmp_path / "memo", b"k" * 32, max_entries=2)
    assert again.parsed("a" * 64) == PAYLOAD
    assert not again.parsed("b" * 64)
    assert not again.parsed("z" * 64)
    again.remember("c" * 64, ["k1"])
    again.remember("d" * 64, ["k1"])  # "a" and "b" go, and the mark with "a"
    again.remember("a" * 64, ["k1"])
    assert not again.parsed("a" * 64)


def test_a_memo_of_another_securehost_version_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What "parsed strictly" says holds for this version's parser: another version starts afresh, and says nothing.

    An upgrade is not an attack: the other version's memo is read as no memo, without a ``memo_tampered`` event.
    """
    memo = SignatureMemo(tmp_path / "memo", b"k" * 32)
    memo.remember("a" * 64, ["k1"])
    memo.remember_parsed("a" * 64, PAYLOAD)
    memo.save()
    other = memo_module._CONTEXT.replace(memo_module.__version__.encode(), b"0.0.0-other")
    assert other != memo_module._CONTEXT
    sealed = SealedFile(tmp_path / "memo", b"k" * 32, memo_module._MAGIC, context=other, limit=1 << 20)
    assert sealed.read() is None
    monkeypatch.setattr(memo_module, "_CONTEXT", other)
    events: list[str] = []

    class Audit:
        def emit(self, event: str, **_data: object) -> None:
            events.append(event)

    upgraded = SignatureMemo(tmp_path / "memo", b"k" * 32, Audit())  # type: ignore[arg-type]
    assert not upgraded.parsed("a" * 64)
    assert upgraded.valid_keyids("a" * 64) == frozenset()
    assert events == []


# --- the memo itself ---------------------------------------------------------------------------------------------


def test_round_trip_and_bound(tmp_path: Path) -> None:
    memo = SignatureMemo(tmp_path / "memo", b"k" * 32, max_entries=2)
    memo.remember("a" * 64, ["k1"])
    memo.remember("b" * 64, ["k1", "k2"])
    memo.remember("a" * 64, ["k3"])  # used again: now the newest
    memo.remember("c" * 64, ["k1"])  # "b" is the oldest and goes
    memo.save()
    again = SignatureMemo(tmp_path / "memo", b"k" * 32)
    assert again.valid_keyids("a" * 64) == {"k1", "k3"}
    assert again.valid_keyids("b" * 64) == frozenset()
    assert again.valid_keyids("c" * 64) == {"k1"}


def test_another_key_reads_an_empty_memo(tmp_path: Path) -> None:
    memo = SignatureMemo(tmp_path / "memo", b"k" * 32)
    memo.remember("a" * 64, ["k1"])
    memo.save()
    assert SignatureMemo(tmp_path / "memo", b"x" * 32).valid_keyids("a" * 64) == frozenset()


_HEADER = memo_module._MAGIC + len(memo_module._CONTEXT).to_bytes(2, "big") + memo_module._CONTEXT


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"SHSM",
        b"not a memo at all",
        _HEADER,
        _HEADER + b"\0" * 32 + b"[]",
        b"SHSM\x00\x01\r\n" + b"\0" * 32 + b"[]",
    ],
)
def test_a_damaged_memo_is_empty(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "memo").write_bytes(content)
    assert SignatureMemo(tmp_path / "memo", b"k" * 32).valid_keyids("a" * 64) == frozenset()


def test_a_symlinked_memo_is_not_followed(tmp_path: Path) -> None:
    real = SignatureMemo(tmp_path / "real", b"k" * 32)
    real.remember("a" * 64, ["k1"])
    real.save()
    (tmp_path / "memo").symlink_to(tmp_path / "real")
    assert SignatureMemo(tmp_path / "memo", b"k" * 32).valid_keyids("a" * 64) == frozenset()


def test_an_unwritable_memo_is_skipped(tmp_path: Path) -> None:
    memo = SignatureMemo(tmp_path / "missing-dir" / "memo", b"k" * 32)
    memo.remember("a" * 64, ["k1"])
    memo.save()  # no directory: nothing written, nothing raised
    assert not (tmp_path / "missing-dir").exists()
    assert memo.valid_keyids("a" * 64) == {"k1"}


def test_an_envelope_that_is_not_bytes_is_named_with_a_memo_too(tmp_path: Path) -> None:
    """With a memo, the wrong type still gets the parser's message, which names the argument (not hashlib's)."""
    from securehost._trust.verify import check_statement

    memo = SignatureMemo(tmp_path / "memo", b"k" * 32)
    with pytest.raises(TypeError, match=r"^data must be bytes, not str$"):
        check_statement("{}", STORE, memo=memo)  # type: ignore[arg-type]


@pytest.mark.parametrize("payload", [b"not json", b'{"a": 1}', b"[[1]]", b'[["a", 5, true]]'])
def test_a_memo_of_another_format_is_treated_as_empty_and_rewritten(tmp_path: Path, payload: bytes) -> None:
    """Authenticated, but not rows this version writes (another securehost's memo): start afresh, rewrite it."""

    path = tmp_path / "memo"
    sealed = SealedFile(path, b"k" * 32, memo_module._MAGIC, context=memo_module._CONTEXT, limit=1 << 20)
    sealed.write(payload, prefix=".t-")
    memo = SignatureMemo(path, b"k" * 32)
    assert memo.valid_keyids("a" * 64) == frozenset()
    memo.save()  # nothing was added: only the unreadable content makes it write
    assert sealed.read() == b"[]"


def test_remembering_what_is_known_writes_nothing(tmp_path: Path) -> None:
    memo = SignatureMemo(tmp_path / "memo", b"k" * 32)
    memo.remember("a" * 64, ["k1", "k2"])
    memo.remember_parsed("a" * 64, PAYLOAD)
    memo.save()
    again = SignatureMemo(tmp_path / "memo", b"k" * 32)
    again.remember("a" * 64, ["k2"])  # a subset of what is known, or all of it: nothing new
    again.remember("a" * 64, ["k1", "k2"])
    again.remember_parsed("a" * 64, PAYLOAD)
    assert not again._dirty
    again.remember("a" * 64, ["k3"])
    assert again._dirty


def test_a_parsed_mark_needs_a_remembered_envelope_first(tmp_path: Path) -> None:
    """``check_statement`` marks an envelope parsed only after remembering its signatures; a mark before is void."""
    memo = SignatureMemo(tmp_path / "memo", b"k" * 32)
    memo.remember_parsed("a" * 64, PAYLOAD)
    assert not memo._dirty
    memo.remember("a" * 64, ["k1"])
    assert not memo.parsed("a" * 64)


@pytest.mark.parametrize("bad", ["A" * 64, "5" * 63, "g" * 64, 5, None])
def test_a_parsed_mark_takes_only_a_sha256(tmp_path: Path, bad: object) -> None:
    memo = SignatureMemo(tmp_path / "memo", b"k" * 32)
    memo.remember("a" * 64, ["k1"])
    with pytest.raises(ValueError, match="payload_sha256 must be 64 lowercase hex digits"):
        memo.remember_parsed("a" * 64, bad)  # type: ignore[arg-type]
    assert memo.parsed("a" * 64) is None


@pytest.mark.parametrize("mark", [True, "5" * 63, "X" * 64, 1, ["5" * 64]])
def test_an_authenticated_row_with_another_parsed_mark_is_not_parsed(tmp_path: Path, mark: object) -> None:
    """A row of another shape (``true``, this format's earlier mark, say) leaves the statement to the strict parser."""
    path = tmp_path / "memo"
    sealed = SealedFile(path, b"k" * 32, memo_module._MAGIC, context=memo_module._CONTEXT, limit=1 << 20)
    sealed.write(json.dumps([["a" * 64, ["k1"], mark]]).encode(), prefix=".t-")
    memo = SignatureMemo(path, b"k" * 32)
    assert memo.valid_keyids("a" * 64) == {"k1"}
    assert memo.parsed("a" * 64) is None


def test_a_warm_check_takes_the_payload_digest_from_the_memo(
    tmp_path: Path, good_wheel: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement parsed before reports the payload's SHA-256 the memo kept: nothing of the envelope is hashed."""
    from securehost._trust import verify
    from tests.wheelfactory import envelope_of

    data = envelope_of(good_wheel).to_bytes()
    memo = SignatureMemo(tmp_path / "memo", b"k" * 32)
    cold = verify.check_statement(data, STORE, memo=memo)
    assert cold.statement is not None

    def no_sha256(data: bytes) -> object:
        raise AssertionError("hashed on a warm check")

    monkeypatch.setattr(verify, "sha256", no_sha256)
    warm = verify.check_statement(data, STORE, memo=memo)
    assert warm == cold
    assert warm.evidence["payload_sha256"] == hashlib.sha256(cold.envelope.payload).hexdigest()  # type: ignore[union-attr]
