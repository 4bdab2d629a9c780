"""The trust store model, its strict loader and the signer policy (``TrustStore.evaluate``)."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import json
import os
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given
from hypothesis import strategies as st

from securehost import PermissionSet, PrivateKey, PublicKey, Reason, ReasonCode
from securehost._trust.load import MAX_STORE_BYTES
from securehost._trust.model import Threshold, TrustedKey, canonical_name_pattern
from securehost._trust.store import SignerDecision, TrustStore
from securehost.exceptions import TrustStoreError
from tests.strategies_trust import (
    KEY_POOL,
    distribution_names,
    near_valid_documents,
    permission_sets,
    private_keys,
)

ALICE, BOB, CAROL = KEY_POOL[0], KEY_POOL[3], KEY_POOL[1]  # ed25519, ecdsa-p256, ed25519
NOW = datetime(2027, 6, 1, 12, 0, tzinfo=timezone.utc)


def entry(key: PrivateKey | PublicKey | str, label: str = "alice", *lines: str, names=("acme-*",)) -> str:
    public = key if isinstance(key, str) else getattr(key, "public_key", key).to_openssh()
    head = ["[[key]]", f"label = {json.dumps(label)}", f"public_key = {json.dumps(public)}"]
    if names is not None:
        head.append(f"names = {json.dumps(list(names))}")
    return "\n".join([*head, *lines]) + "\n"


def document(*parts: str, head: str = "version = 1\n") -> str:
    return head + "\n".join(parts)


def load(text: str) -> TrustStore:
    return TrustStore.from_toml(text, source="store.toml")


@attrs.frozen
class Check:
    keyid: str
    status: str


def valid(key: PrivateKey) -> Check:
    return Check(key.key_id, "valid")


def perms(*texts: str) -> PermissionSet:
    return PermissionSet.parse(texts)


# --- loading ----------------------------------------------------------------------------------


def test_loads_a_complete_store() -> None:
    text = document(
        f'revoked = ["{CAROL.key_id}"]\n',
        entry(
            ALICE,
            "Acme release key",
            'max_permissions = ["fs.read:/srv/data/**", "net.connect:api.acme.example:443"]',
            "valid_after = 2026-01-01T00:00:00Z",
            "valid_before = 2028-01-01T02:00:00+02:00",
            f'key_id = "{ALICE.key_id}"',
            names=["Acme_*", "other.Thing"],
        ),
        entry(BOB.public_key.to_pem().decode(), "bob"),
        '[[threshold]]\npattern = "ACME.*"\ncount = 2\n',
    )
    store = load(text)
    alice = store.keys[ALICE.key_id]
    assert alice.label == "Acme release key"
    assert alice.names == ("acme-*", "other-thing")
    assert alice.max_permissions == perms("fs.read:/srv/data/**", "net.connect:api.acme.example:443")
    assert alice.valid_after == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert alice.valid_before == datetime(2028, 1, 1, tzinfo=timezone.utc)
    assert alice.valid_before.tzinfo is timezone.utc
    assert alice.source == 'store.toml: key[0] ("Acme release key")'
    assert store.keys[BOB.key_id].max_permissions == PermissionSet()
    assert list(store.keys) == [ALICE.key_id, BOB.key_id]
    assert store.revoked == frozenset({CAROL.key_id})
    assert store.thresholds == (Threshold(pattern="acme-*", count=2),)
    assert store.threshold_for("Acme.CSV") == 2
    assert store.threshold_for("other") == 1
    assert store.source == "store.toml"


def test_the_example_in_the_architecture_document_loads() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Trust store") :]
    start = section.index("```toml\n") + len("```toml\n")
    example = section[start : section.index("\n```", start)]
    example = example.replace('revoked = ["<key id>"]', f'revoked = ["{CAROL.key_id}"]')
    example = example.replace('key_id = "<key id>"', f'key_id = "{ALICE.key_id}"')
    example = re.sub(r'public_key = "[^"]*"', f'public_key = "{ALICE.public_key.to_openssh()}"', example)
    store = load(example)
    assert store.keys[ALICE.key_id].label == "Acme release key"
    assert store.threshold_for("acme-csv") == 2


def test_an_empty_store_is_valid_and_trusts_nothing() -> None:
    store = load("version = 1\n")
    assert not store.keys
    decision = store.evaluate(name="acme", requested=PermissionSet(), checks=[], now=NOW)
    assert [r.code for r in decision.reasons] == [ReasonCode.THRESHOLD_NOT_MET]


_RSA_2048 = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .public_key()
    .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    .decode()
)
BOB_AT_1 = 'store.toml: key[1] ("bob"): '
LOAD_ERRORS = {
    # document level
    "not toml": ("version = = 1", "store.toml: not valid TOML"),
    "toml duplicate key": ("version = 1\nversion = 1", "store.toml: not valid TOML"),
    "unknown top-level field": ("version = 1\nextra = 1", 'store.toml: unknown field "extra"'),
    "version missing": ("revoked = []", "store.toml: version: missing"),
    "version 2": ("version = 2", "store.toml: version: unsupported version 2"),
    "version string": ('version = "1"', "store.toml: version: unsupported version '1'"),
    "version bool": ("version = true", "store.toml: version: unsupported version True"),
    "revoked not array": ('version = 1\nrevoked = "x"', "store.toml: revoked: must be an array"),
    "revoked short": (
        'version = 1\nrevoked = ["abc"]',
        "store.toml: revoked[0]: 'abc' is not a key id",
    ),
    "revoked upper": (f'version = 1\nrevoked = ["{"A" * 64}"]', "store.toml: revoked[0]: "),
    "revoked int": ("version = 1\nrevoked = [1]", "store.toml: revoked[0]: 1 is not a key id"),
    "revoked twice": (
        f'version = 1\nrevoked = ["{"a" * 64}", "{"a" * 64}"]',
        f"store.toml: revoked[1]: {'a' * 64} is listed twice",
    ),
    "key not tables": ('version = 1\nkey = ["x"]', "store.toml: key: must be an array of tables"),
    "threshold table": (
        "version = 1\n[threshold]\ncount = 1",
        "store.toml: threshold: must be an array of tables",
    ),
    # key entries: key[1] ("bob") is the bad one, key[0] is valid
    "unknown key field": (entry(BOB, "bob", "colour = 1"), BOB_AT_1 + 'unknown field "colour"'),
    "public_key_file": (
        entry(BOB, "bob", 'public_key_file = "bob.pub"'),
        BOB_AT_1 + 'unknown field "public_key_file" (keys are stored inline',
    ),
    "label missing": (
        f'[[key]]\npublic_key = "{BOB.public_key.to_openssh()}"\nnames = ["a"]\n',
        "store.toml: key[1]: label: missing",
    ),
    "label not string": (
        f'[[key]]\nlabel = 7\npublic_key = "{BOB.public_key.to_openssh()}"\nnames = ["a"]\n',
        "store.toml: key[1]: label must be a string",
    ),
    "label empty": (entry(BOB, ""), 'store.toml: key[1] (""): label '),
    "label control": (entry(BOB, "b\tob"), 'store.toml: key[1] ("b\\tob"): label '),
    "label key id": (entry(BOB, "f" * 64), "looks like a key id"),
    "public key missing": (
        '[[key]]\nlabel = "bob"\nnames = ["a"]\n',
        BOB_AT_1 + "public_key: missing",
    ),
    "public key garbage": (
        entry("ssh-ed25519 AAAAnope", "bob"),
        BOB_AT_1 + "public_key: not a valid",
    ),
    "public key weak rsa": (entry(_RSA_2048, "bob"), BOB_AT_1 + "public_key: RSA key of 2048 bits"),
    "public key pem garbage": (
        entry("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "bob"),
        BOB_AT_1 + "public_key: not a valid PEM",
    ),
    "two pem blocks": (
        entry(BOB.public_key.to_pem().decode() * 2, "bob"),
        BOB_AT_1 + "public_key: a PEM value must be exactly one PUBLIC KEY block",
    ),
    "pem trailing text": (
        entry(BOB.public_key.to_pem().decode() + "x", "bob"),
        BOB_AT_1 + "public_key: a PEM value must be exactly one PUBLIC KEY block",
    ),
    "pem private key": (
        entry(BOB.to_pem().decode(), "bob"),
        BOB_AT_1 + "public_key: a PEM value must be exactly one PUBLIC KEY block",
    ),
    "key id mismatch": (entry(BOB, "bob", f'key_id = "{"0" * 64}"'), BOB_AT_1 + "key_id: "),
    "duplicate key other encoding": (
        entry(ALICE.public_key.to_pem().decode(), "bob"),
        BOB_AT_1 + 'duplicate key: store.toml: key[0] ("alice") has the same key id',
    ),
    "duplicate label": (entry(BOB, "alice"), 'store.toml: key[1] ("alice"): duplicate label'),
    "names missing": (entry(BOB, "bob", names=None), BOB_AT_1 + "names: missing"),
    "names empty": (entry(BOB, "bob", names=[]), BOB_AT_1 + "names: empty"),
    "names not array": (
        entry(BOB, "bob", names=None) + 'names = "acme-*"\n',
        BOB_AT_1 + "names: must be an array of strings",
    ),
    "names int": (entry(BOB, "bob", names=None) + "names = [1]\n", BOB_AT_1 + "names: must be an"),
    "pattern slash": (
        entry(BOB, "bob", names=["acme/*"]),
        BOB_AT_1 + "names: invalid name pattern",
    ),
    "pattern question": (
        entry(BOB, "bob", names=["acme-?"]),
        BOB_AT_1 + "names: invalid name pattern",
    ),
    "pattern trailing sep": (entry(BOB, "bob", names=["acme-"]), BOB_AT_1 + "names: invalid name"),
    "pattern leading sep": (entry(BOB, "bob", names=["_acme"]), BOB_AT_1 + "names: invalid name"),
    "pattern empty": (entry(BOB, "bob", names=[""]), BOB_AT_1 + "names: invalid name pattern"),
    "pattern repeated": (
        entry(BOB, "bob", names=["a-b", "A_B"]),
        BOB_AT_1 + "names: 'A_B' repeats",
    ),
    "permission invalid": (
        entry(BOB, "bob", 'max_permissions = ["fs.read:relative"]'),
        BOB_AT_1 + "max_permissions: fs.read scope must be an absolute path",
    ),
    "permission not array": (
        entry(BOB, "bob", 'max_permissions = "fs.read:/x"'),
        BOB_AT_1 + "max_permissions: must be an array of strings",
    ),
    "permission twice": (
        entry(BOB, "bob", 'max_permissions = ["db.write", "db.write"]'),
        BOB_AT_1 + "max_permissions: 'db.write' is listed twice",
    ),
    "valid_after string": (
        entry(BOB, "bob", 'valid_after = "2026-01-01T00:00:00Z"'),
        BOB_AT_1 + "valid_after: must be a TOML offset date-time",
    ),
    "valid_after naive": (
        entry(BOB, "bob", "valid_after = 2026-01-01T00:00:00"),
        BOB_AT_1 + "valid_after: 2026-01-01T00:00:00 has no time zone",
    ),
    "valid_before date": (
        entry(BOB, "bob", "valid_before = 2026-01-01"),
        BOB_AT_1 + "valid_before: must be a TOML offset date-time",
    ),
    "window equal": (
        entry(
            BOB,
            "bob",
            "valid_after = 2026-01-01T00:00:00Z",
            "valid_before = 2026-01-01T01:00:00+01:00",
        ),
        BOB_AT_1 + "valid_after (2026-01-01 00:00:00+00:00) must be earlier than valid_before",
    ),
    "window reversed": (
        entry(BOB, "bob", "valid_after = 2027-01-01T00:00:00Z", "valid_before = 2026-01-01T00:00:00Z"),
        BOB_AT_1 + "valid_after (2027-01-01 00:00:00+00:00) must be earlier",
    ),
    "window overflow": (
        entry(BOB, "bob", "valid_after = 0001-01-01T00:00:00+01:00"),
        BOB_AT_1 + "valid_after: 0001-01-01T00:00:00+01:00 cannot be converted to UTC",
    ),
    # thresholds
    "threshold unknown field": (
        '[[threshold]]\npattern = "acme-*"\ncount = 1\nnames = "x"\n',
        'store.toml: threshold[0] ("acme-*"): unknown field "names"',
    ),
    "threshold pattern missing": (
        "[[threshold]]\ncount = 1\n",
        "store.toml: threshold[0]: pattern: missing",
    ),
    "threshold pattern invalid": (
        '[[threshold]]\npattern = "a b"\ncount = 1\n',
        'store.toml: threshold[0] ("a b"): pattern: invalid name pattern',
    ),
    "threshold pattern int": (
        "[[threshold]]\npattern = 3\ncount = 1\n",
        "store.toml: threshold[0]: pattern: a name pattern must be a string",
    ),
    "threshold count zero": (
        '[[threshold]]\npattern = "acme-*"\ncount = 0\n',
        'store.toml: threshold[0] ("acme-*"): count: must be an integer of at least 1, not 0',
    ),
    "threshold count negative": (
        '[[threshold]]\npattern = "a"\ncount = -2\n',
        "count: must be an integer",
    ),
    "threshold count missing": (
        '[[threshold]]\npattern = "a"\n',
        "count: must be an integer of at least 1",
    ),
    "threshold count float": (
        '[[threshold]]\npattern = "a"\ncount = 2.0\n',
        "count: must be an integer",
    ),
    "threshold count bool": ('[[threshold]]\npattern = "a"\ncount = true\n', "not True"),
    "threshold duplicate": (
        '[[threshold]]\npattern = "acme-*"\ncount = 1\n[[threshold]]\npattern = "ACME_*"\ncount = 2\n',
        'store.toml: threshold[1] ("acme-*"): duplicate threshold pattern',
    ),
}


@pytest.mark.parametrize("case", list(LOAD_ERRORS), ids=list(LOAD_ERRORS))
def test_load_error_names_file_and_entry(case: str) -> None:
    body, expected = LOAD_ERRORS[case]
    if body.startswith("[[key]]"):
        text = document(entry(ALICE, "alice"), body)
    elif body.startswith("[["):
        text = document(body)
    else:
        text = body
    with pytest.raises(TrustStoreError) as caught:
        load(text)
    message = str(caught.value)
    assert message.startswith("store.toml"), message
    assert expected in message, message


def test_label_shaped_like_a_key_id_names_the_entry() -> None:
    with pytest.raises(TrustStoreError, match=r'^store.toml: key\[0\] \("f{64}"\): label .* looks like a key id'):
        load(document(entry(BOB, "f" * 64)))


def test_foreign_errors_are_chained() -> None:
    with pytest.raises(TrustStoreError) as caught:
        load("version = = 1")
    assert isinstance(caught.value.__cause__, ValueError)


def test_rejects_oversized_text() -> None:
    text = "version = 1\n" + "#" * MAX_STORE_BYTES
    with pytest.raises(TrustStoreError, match=r"^store\.toml: trust store is larger than 4194304 bytes$"):
        load(text)


def test_rejects_text_that_is_not_utf8_encodable() -> None:
    with pytest.raises(TrustStoreError, match="not encodable as UTF-8"):
        load("version = 1\n# \ud800\n")


def test_load_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "store.toml"
    path.write_text(document(entry(ALICE)))
    store = TrustStore.load(path)
    assert store.source == str(path)
    assert store.keys[ALICE.key_id].source == f'{path}: key[0] ("alice")'


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        (lambda p: None, "cannot open trust store"),
        (lambda p: p.mkdir(), "not a regular file"),
        (os.mkfifo, "not a regular file"),
        (lambda p: p.write_bytes(b"version = 1\n# \xff\n"), "not valid UTF-8"),
        (lambda p: p.write_bytes(b"#" * (MAX_STORE_BYTES + 1)), "larger than 4194304 bytes"),
        (lambda p: (p.write_text("version = 1\n"), p.chmod(0o666)), "writable by every user"),
        (lambda p: p.write_text("version = 3\n"), "version: unsupported version 3"),
    ],
    ids=["missing", "directory", "fifo", "not-utf8", "too-large", "world-writable", "invalid"],
)
def test_load_file_errors_name_the_file(tmp_path: Path, prepare, expected: str) -> None:
    path = tmp_path / "store.toml"
    prepare(path)
    with pytest.raises(TrustStoreError) as caught:
        TrustStore.load(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


@given(st.text(max_size=300))
def test_loader_raises_only_trust_store_error_on_arbitrary_text(text: str) -> None:
    with contextlib.suppress(TrustStoreError):
        load(text)


@given(near_valid_documents())
def test_loader_raises_only_trust_store_error_on_mutated_documents(text: str) -> None:
    try:
        store = load(text)
    except TrustStoreError as exc:
        message = str(exc)
    else:
        message = "store.toml"
        assert all(k.names for k in store.keys.values())
    assert message.startswith("store.toml")


# --- the model --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("acme-*", "acme-*"),
        ("Acme_.-CSV", "acme-csv"),
        ("a**b", "a*b"),
        ("*", "*"),
        ("X.*.y", "x-*-y"),
    ],
)
def test_canonical_name_pattern(text: str, canonical: str) -> None:
    assert canonical_name_pattern(text) == canonical


def test_trusted_key_validates_itself() -> None:
    key = ALICE.public_key
    with pytest.raises(TrustStoreError, match="names may not be empty"):
        TrustedKey(key=key, label="a", names=[])
    with pytest.raises(TrustStoreError, match="not canonical"):
        TrustedKey(key=key, label="a", names=["Acme"])
    with pytest.raises(TrustStoreError, match="duplicate pattern"):
        TrustedKey(key=key, label="a", names=["a", "a"])
    with pytest.raises(TrustStoreError, match="no time zone"):
        TrustedKey(key=key, label="a", names=["a"], valid_after=datetime(2026, 1, 1))
    with pytest.raises(TrustStoreError, match="earlier than"):
        TrustedKey(key=key, label="a", names=["a"], valid_after=NOW, valid_before=NOW)
    with pytest.raises(TrustStoreError, match="label"):
        TrustedKey(key=key, label=" a", names=["a"])
    with pytest.raises(TypeError):
        TrustedKey(key="ssh-ed25519 AAAA", label="a", names=["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        TrustedKey(key=key, label="a", names=["a"], valid_after="2026-01-01")  # type: ignore[arg-type]
    local = timezone(timedelta(hours=2))
    trusted = TrustedKey(key=key, label="a", names=["a"], valid_after=datetime(2026, 1, 1, 2, tzinfo=local))
    assert trusted.valid_after == datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_store_constructor_validates() -> None:
    alice = TrustedKey(key=ALICE.public_key, label="a", names=["a"])
    with pytest.raises(TrustStoreError, match="map key ids"):
        TrustStore(keys={"0" * 64: alice})
    with pytest.raises(TrustStoreError, match="same pattern"):
        TrustStore(thresholds=[Threshold(pattern="a", count=1), Threshold(pattern="a", count=2)])
    with pytest.raises(TrustStoreError, match="not a key id"):
        TrustStore(revoked=["A" * 64])
    with pytest.raises(TrustStoreError, match="listed twice"):
        TrustStore.from_keys([alice, alice])
    with pytest.raises(TrustStoreError, match="label"):
        TrustStore.from_keys([alice, TrustedKey(key=BOB.public_key, label="a", names=["a"])])
    with pytest.raises(TrustStoreError, match="integer >= 1"):
        Threshold(pattern="a", count=True)
    with pytest.raises(TrustStoreError, match="not canonical"):
        Threshold(pattern="Acme", count=1)
    with pytest.raises(TypeError):
        TrustStore.from_toml(b"version = 1", source="s")  # type: ignore[arg-type]
    store = TrustStore.from_keys([alice], revoked=[BOB.key_id])
    assert store.find("a") is alice
    assert store.find(ALICE.key_id) is alice
    assert store.find("nobody") is None
    with pytest.raises(TypeError):
        store.keys["x"] = alice  # type: ignore[index]


def test_lookup_returns_revoked_keys_so_their_signatures_are_checked() -> None:
    store = load(document(f'revoked = ["{ALICE.key_id}"]\n', entry(ALICE)))
    assert store.lookup(ALICE.key_id) == ALICE.public_key
    assert store.lookup(BOB.key_id) is None


# --- the policy ---------------------------------------------------------------------------------


def store_of(*keys: TrustedKey, revoked=(), thresholds=()) -> TrustStore:
    return TrustStore.from_keys(keys, revoked=revoked, thresholds=thresholds)


def trusted(key: PrivateKey, label: str, *, names=("acme-*",), permissions=(), **window) -> TrustedKey:
    return TrustedKey(key=key.public_key, label=label, names=names, max_permissions=perms(*permissions), **window)


def codes(decision: SignerDecision) -> list[ReasonCode]:
    return [r.code for r in decision.reasons]


def evaluate(store: TrustStore, *checks: Check, requested=(), name="acme-csv", now=NOW) -> SignerDecision:
    return store.evaluate(name=name, requested=perms(*requested), checks=checks, now=now)


def test_accepts_one_valid_signature_and_vouches_its_permissions() -> None:
    store = store_of(trusted(ALICE, "alice", permissions=["fs.read:/srv/**"]))
    decision = evaluate(store, valid(ALICE), requested=["fs.read:/srv/data/*"], name="Acme_CSV")
    assert decision
    assert decision.accepted
    assert decision.name == "acme-csv"
    assert decision.counted == (ALICE.key_id,)
    assert decision.threshold == 1
    assert decision.vouched == perms("fs.read:/srv/data/*")
    assert decision.reasons == decision.ignored == ()


def test_revocation_beats_a_valid_signature() -> None:
    store = store_of(trusted(ALICE, "alice", permissions=["db.write"]), revoked=[ALICE.key_id])
    decision = evaluate(store, valid(ALICE), requested=["db.write"])
    assert not decision
    assert codes(decision) == [
        ReasonCode.KEY_REVOKED,
        ReasonCode.THRESHOLD_NOT_MET,
        ReasonCode.PERMISSION_NOT_VOUCHED,
    ]
    assert decision.reasons[0].subject == ALICE.key_id
    assert decision.counted == ()


@pytest.mark.parametrize("status", ["valid", "invalid", "unknown-key", "duplicate", "???"])
def test_revocation_wins_over_every_status_window_and_scope(status: str) -> None:
    expired = trusted(ALICE, "alice", names=["other"], valid_before=NOW - timedelta(days=1))
    store = store_of(expired, revoked=[ALICE.key_id, BOB.key_id])
    for key in (ALICE, BOB):  # BOB is revoked without being in the store
        decision = evaluate(store, Check(key.key_id, status))
        assert codes(decision) == [ReasonCode.KEY_REVOKED, ReasonCode.THRESHOLD_NOT_MET]


def test_a_revoked_signature_is_ignored_when_the_threshold_is_met_by_others() -> None:
    store = store_of(trusted(ALICE, "alice"), trusted(BOB, "bob"), revoked=[ALICE.key_id])
    decision = evaluate(store, valid(ALICE), valid(BOB))
    assert decision.accepted
    assert decision.counted == (BOB.key_id,)
    assert [r.code for r in decision.ignored] == [ReasonCode.KEY_REVOKED]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("invalid", ReasonCode.SIGNATURE_INVALID),
        ("unknown-key", ReasonCode.KEY_UNKNOWN),
        ("duplicate", ReasonCode.DUPLICATE_SIGNATURE),
        ("bogus", ReasonCode.SIGNATURE_INVALID),
    ],
)
def test_per_signature_status_reasons(status: str, code: ReasonCode) -> None:
    store = store_of(trusted(ALICE, "alice"))
    decision = evaluate(store, Check(ALICE.key_id, status))
    assert codes(decision) == [code, ReasonCode.THRESHOLD_NOT_MET]
    assert decision.reasons[0].subject == ALICE.key_id


def test_a_valid_status_for_a_key_outside_the_store_is_unknown() -> None:
    decision = evaluate(store_of(trusted(ALICE, "alice")), valid(BOB))
    assert codes(decision) == [ReasonCode.KEY_UNKNOWN, ReasonCode.THRESHOLD_NOT_MET]


def test_a_str_enum_status_works() -> None:
    class Status(str, enum.Enum):
        VALID = "valid"

    @attrs.frozen
    class EnumCheck:
        keyid: str
        status: Status

    decision = evaluate(store_of(trusted(ALICE, "alice")), EnumCheck(ALICE.key_id, Status.VALID))
    assert decision.accepted


def test_an_enum_status_is_read_by_its_value() -> None:
    class Status(enum.Enum):  # not a str: only its value says "valid"
        VALID = "valid"
        INVALID = "invalid"

    @attrs.frozen
    class EnumCheck:
        keyid: str
        status: Status

    store = store_of(trusted(ALICE, "alice"))
    assert evaluate(store, EnumCheck(ALICE.key_id, Status.VALID)).accepted
    assert codes(evaluate(store, EnumCheck(ALICE.key_id, Status.INVALID)))[0] is ReasonCode.SIGNATURE_INVALID


def test_key_out_of_scope() -> None:
    store = store_of(trusted(ALICE, "alice", names=["acme-*"]))
    decision = evaluate(store, valid(ALICE), name="evil-csv")
    assert codes(decision) == [ReasonCode.KEY_OUT_OF_SCOPE, ReasonCode.THRESHOLD_NOT_MET]
    assert "evil-csv" in decision.reasons[0].message


def test_a_name_that_is_not_a_valid_distribution_name_is_out_of_every_scope() -> None:
    store = store_of(trusted(ALICE, "alice", names=["*"]))
    assert evaluate(store, valid(ALICE), name="acme").accepted
    for name in ("../acme", "acme csv", "", "-acme"):
        assert ReasonCode.KEY_OUT_OF_SCOPE in codes(evaluate(store, valid(ALICE), name=name))


def test_window_is_inclusive_at_valid_after_and_exclusive_at_valid_before() -> None:
    after, before = NOW, NOW + timedelta(days=30)
    store = store_of(trusted(ALICE, "alice", valid_after=after, valid_before=before))
    tick = timedelta(microseconds=1)
    assert evaluate(store, valid(ALICE), now=after).accepted
    assert evaluate(store, valid(ALICE), now=before - tick).accepted
    assert codes(evaluate(store, valid(ALICE), now=after - tick)) == [
        ReasonCode.KEY_NOT_YET_VALID,
        ReasonCode.THRESHOLD_NOT_MET,
    ]
    assert codes(evaluate(store, valid(ALICE), now=before)) == [
        ReasonCode.KEY_EXPIRED,
        ReasonCode.THRESHOLD_NOT_MET,
    ]
    # The comparison is between instants, whatever the zone of `now`.
    tokyo = timezone(timedelta(hours=9))
    assert evaluate(store, valid(ALICE), now=after.astimezone(tokyo)).accepted


def test_an_expired_out_of_scope_key_reports_both() -> None:
    store = store_of(trusted(ALICE, "alice", names=["x"], valid_before=NOW))
    assert codes(evaluate(store, valid(ALICE))) == [
        ReasonCode.KEY_EXPIRED,
        ReasonCode.KEY_OUT_OF_SCOPE,
        ReasonCode.THRESHOLD_NOT_MET,
    ]


def test_duplicate_signatures_by_one_key_count_once() -> None:
    store = store_of(
        trusted(ALICE, "alice"),
        trusted(BOB, "bob"),
        thresholds=[Threshold(pattern="acme-*", count=2)],
    )
    decision = evaluate(store, valid(ALICE), valid(ALICE))
    assert not decision
    assert decision.counted == (ALICE.key_id,)
    assert codes(decision) == [ReasonCode.DUPLICATE_SIGNATURE, ReasonCode.THRESHOLD_NOT_MET]
    assert "1 of 2" in decision.reasons[-1].message


def test_two_different_keys_meet_a_threshold_of_two() -> None:
    store = store_of(
        trusted(ALICE, "alice"),
        trusted(BOB, "bob"),
        thresholds=[Threshold(pattern="acme-*", count=2)],
    )
    decision = evaluate(store, valid(ALICE), valid(BOB), valid(ALICE))
    assert decision.accepted
    assert decision.threshold == 2
    assert decision.counted == (ALICE.key_id, BOB.key_id)
    assert [r.code for r in decision.ignored] == [ReasonCode.DUPLICATE_SIGNATURE]


def test_extra_bad_signatures_are_ignored_once_the_threshold_is_met() -> None:
    store = store_of(trusted(ALICE, "alice"))
    decision = evaluate(store, Check("f" * 64, "unknown-key"), Check(ALICE.key_id, "invalid"), valid(ALICE))
    assert decision.accepted
    assert [r.code for r in decision.ignored] == [
        ReasonCode.KEY_UNKNOWN,
        ReasonCode.SIGNATURE_INVALID,
    ]


def test_threshold_is_the_highest_matching_count() -> None:
    thresholds = [
        Threshold(pattern="acme-*", count=2),
        Threshold(pattern="*-csv", count=3),
        Threshold(pattern="other", count=5),
    ]
    store = store_of(trusted(ALICE, "alice"), trusted(BOB, "bob"), trusted(CAROL, "carol"), thresholds=thresholds)
    assert store.threshold_for("acme-csv") == 3
    assert store.threshold_for("acme-json") == 2
    assert store.threshold_for("unrelated") == 1
    assert not evaluate(store, valid(ALICE), valid(BOB))
    assert evaluate(store, valid(ALICE), valid(BOB), valid(CAROL))
    assert evaluate(store, valid(ALICE), valid(BOB), name="acme-json")


def test_no_signatures_does_not_meet_the_threshold() -> None:
    decision = evaluate(store_of(trusted(ALICE, "alice")))
    assert codes(decision) == [ReasonCode.THRESHOLD_NOT_MET]
    assert decision.reasons[0].subject == "acme-csv"


def test_permission_must_be_vouched_by_threshold_many_keys() -> None:
    alice = trusted(ALICE, "alice", permissions=["fs.read:/srv/**", "net.connect:*.acme.example"])
    bob = trusted(BOB, "bob", permissions=["fs.read:/srv/data/**"])
    store = store_of(alice, bob, thresholds=[Threshold(pattern="acme-*", count=2)])
    requested = ["fs.read:/srv/data/x", "net.connect:api.acme.example:443"]
    decision = evaluate(store, valid(ALICE), valid(BOB), requested=requested)
    assert not decision
    assert codes(decision) == [ReasonCode.PERMISSION_NOT_VOUCHED]
    assert decision.reasons[0].subject == "net.connect:api.acme.example:443"
    assert "1 of 2" in decision.reasons[0].message
    assert decision.vouched == perms("fs.read:/srv/data/x")
    assert evaluate(store, valid(ALICE), valid(BOB), requested=requested[:1]).accepted


def test_a_rejection_for_permissions_also_reports_signature_problems() -> None:
    alice = trusted(ALICE, "alice")
    bob = trusted(BOB, "bob", permissions=["db.write"])
    decision = evaluate(store_of(alice, bob), valid(ALICE), Check(BOB.key_id, "invalid"), requested=["db.write"])
    assert codes(decision) == [ReasonCode.SIGNATURE_INVALID, ReasonCode.PERMISSION_NOT_VOUCHED]
    assert decision.ignored == ()


def test_a_key_without_max_permissions_vouches_for_none() -> None:
    store = store_of(trusted(ALICE, "alice"))
    decision = evaluate(store, valid(ALICE), requested=["proc.spawn"])
    assert codes(decision) == [ReasonCode.PERMISSION_NOT_VOUCHED]
    assert decision.vouched == PermissionSet()
    assert evaluate(store, valid(ALICE)).accepted


def test_evaluate_rejects_caller_mistakes() -> None:
    store = store_of(trusted(ALICE, "alice"))
    with pytest.raises(ValueError, match="timezone-aware"):
        store.evaluate(name="a", requested=PermissionSet(), checks=[], now=datetime(2026, 1, 1))
    with pytest.raises(TypeError):
        store.evaluate(name="a", requested=["db.write"], checks=[], now=NOW)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.evaluate(name="a", requested=PermissionSet(), checks=[], now="2026")  # type: ignore[arg-type]


_statuses = st.sampled_from(["valid", "invalid", "unknown-key", "duplicate", "weird"])


@given(
    keys=st.lists(private_keys, unique_by=lambda k: k.key_id, min_size=1, max_size=4),
    raw_checks=st.lists(st.tuples(st.integers(0, 5), _statuses, st.text(max_size=70)), max_size=8),
    count=st.integers(1, 4),
    revoked_mask=st.lists(st.booleans(), min_size=4, max_size=4),
    requested=permission_sets,
    granted=permission_sets,
    name=distribution_names,
)
def test_evaluate_never_raises_and_is_consistent(
    keys, raw_checks, count, revoked_mask, requested, granted, name
) -> None:
    store = store_of(
        *(
            trusted(k, f"k{i}", names=["*"], permissions=[str(p) for p in granted.permissions])
            for i, k in enumerate(keys)
        ),
        revoked=[k.key_id for k, r in zip(keys, revoked_mask[: len(keys)], strict=True) if r],
        thresholds=[Threshold(pattern="*", count=count)],
    )
    checks = [Check(keys[i].key_id if i < len(keys) else junk, status) for i, status, junk in raw_checks]
    decision = store.evaluate(name=name, requested=requested, checks=checks, now=NOW)
    assert len(set(decision.counted)) == len(decision.counted)
    assert not set(decision.counted) & store.revoked
    met = len(decision.counted) >= count
    assert (ReasonCode.THRESHOLD_NOT_MET in codes(decision)) == (not met)
    assert decision.accepted == (met and decision.vouched == requested)
    assert decision.vouched.permissions <= requested.permissions
    assert not (decision.reasons and decision.ignored)
    unvouched = [r.subject for r in decision.reasons if r.code is ReasonCode.PERMISSION_NOT_VOUCHED]
    assert sorted(unvouched) == sorted(str(p) for p in requested.permissions - decision.vouched.permissions)
    if decision.accepted:
        assert decision.counted


# --- real keys from ssh-keygen ------------------------------------------------------------------

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="needs ssh-keygen")
SSH_KEY_TYPES = [
    ("ed25519", []),
    ("ecdsa", ["-b", "256"]),
    ("ecdsa", ["-b", "384"]),
    ("rsa", ["-b", "3072"]),
]


def ssh_keygen(tmp_path: Path, key_type: str, extra: list[str], name: str = "key") -> Path:
    path = tmp_path / name
    subprocess.run(
        [
            "ssh-keygen",
            "-q",
            "-t",
            key_type,
            *extra,
            "-N",
            "",
            "-C",
            f"{name}@example.com",
            "-f",
            str(path),
        ],
        check=True,
        capture_output=True,
    )
    return path


@needs_ssh_keygen
@pytest.mark.parametrize(("key_type", "extra"), SSH_KEY_TYPES, ids=["ed25519", "ecdsa-256", "ecdsa-384", "rsa-3072"])
def test_keys_made_by_ssh_keygen_load_into_a_store(tmp_path: Path, key_type: str, extra: list[str]) -> None:
    path = ssh_keygen(tmp_path, key_type, extra)
    line = path.with_suffix(".pub").read_text().strip()
    store_path = tmp_path / "store.toml"
    store_path.write_text(document(entry(line, "from ssh-keygen")))
    store = TrustStore.load(store_path)
    (trusted_key,) = store.keys.values()
    assert trusted_key.key == PrivateKey.load(path.read_bytes()).public_key
    if key_type != "ed25519":  # ssh-keygen cannot export Ed25519 keys as PKCS#8
        pem = subprocess.run(
            ["ssh-keygen", "-e", "-m", "PKCS8", "-f", str(path.with_suffix(".pub"))],
            check=True,
            capture_output=True,
        ).stdout
        if shutil.which("openssl"):
            der = subprocess.run(
                ["openssl", "pkey", "-pubin", "-outform", "DER"],
                input=pem,
                check=True,
                capture_output=True,
            ).stdout
            assert hashlib.sha256(der).hexdigest() == trusted_key.key_id
        # The same key as PEM is the same key id: a second entry is a duplicate, whatever the label.
        duplicate = document(entry(line, "a"), entry(pem.decode(), "b"))
        with pytest.raises(TrustStoreError, match=r'key\[1\] \("b"\): duplicate key'):
            load(duplicate)


# --- the exact reasons: code, message and subject of each per-signature and decisive problem -------


def test_every_policy_reason_names_its_key_and_says_why() -> None:
    after, before = NOW + timedelta(days=1), NOW - timedelta(days=1)
    store = store_of(
        trusted(ALICE, "alice", names=("acme-*", "other-*")),
        trusted(BOB, "bob", valid_after=after),
        trusted(CAROL, "carol", valid_before=before),
        revoked=["e" * 64],
    )
    a, b, c, e = (repr(k) for k in (ALICE.key_id, BOB.key_id, CAROL.key_id, "e" * 64))
    long_id = "k" * 80  # repr is 82 characters: shown as its first 69 and "..."
    decision = evaluate(
        store,
        Check("e" * 64, "valid"),
        Check(long_id, "unknown-key"),
        Check(ALICE.key_id, "invalid"),
        Check(ALICE.key_id, "bogus"),
        valid(BOB),
        valid(CAROL),
        requested=["db.write"],
        name="evil-csv",
    )
    valid_alice = evaluate(store, valid(ALICE), valid(ALICE), name="acme-csv")
    scope = evaluate(store, valid(ALICE), name="evil-csv")
    R, K = Reason, ReasonCode
    assert decision.reasons == (
        R(code=K.KEY_REVOKED, message=f"signature by key {e}: the key is revoked", subject="e" * 64),
        R(
            code=K.KEY_UNKNOWN,
            message=f"signature by key '{'k' * 68}... was made by a key that is not in the trust store",
            subject=long_id,
        ),
        R(code=K.SIGNATURE_INVALID, message=f"signature by key {a} is not valid", subject=ALICE.key_id),
        R(
            code=K.SIGNATURE_INVALID,
            message=f"signature by key {a} has an unrecognised check status",
            subject=ALICE.key_id,
        ),
        R(
            code=K.KEY_NOT_YET_VALID,
            message=f"signature by key {b} (bob): the key is not valid before {after}",
            subject=BOB.key_id,
        ),
        R(
            code=K.KEY_OUT_OF_SCOPE,
            message=f"signature by key {b} (bob): the key may not sign for 'evil-csv' (names: acme-*)",
            subject=BOB.key_id,
        ),
        R(
            code=K.KEY_EXPIRED,
            message=f"signature by key {c} (carol): the key expired at {before}",
            subject=CAROL.key_id,
        ),
        R(
            code=K.KEY_OUT_OF_SCOPE,
            message=f"signature by key {c} (carol): the key may not sign for 'evil-csv' (names: acme-*)",
            subject=CAROL.key_id,
        ),
        R(code=K.THRESHOLD_NOT_MET, message="0 of 1 required trusted signatures for 'evil-csv'", subject="evil-csv"),
        R(
            code=K.PERMISSION_NOT_VOUCHED,
            message="db.write is vouched for by 0 of 1 required signers",
            subject="db.write",
        ),
    )
    assert valid_alice.ignored == (
        R(
            code=K.DUPLICATE_SIGNATURE,
            message=f"signature by key {a} (alice) repeats a key that already signed",
            subject=ALICE.key_id,
        ),
    )
    assert scope.reasons[0] == R(
        code=K.KEY_OUT_OF_SCOPE,
        message=f"signature by key {a} (alice): the key may not sign for 'evil-csv' (names: acme-*, other-*)",
        subject=ALICE.key_id,
    )


def test_a_long_distribution_name_is_shortened_in_the_threshold_reason() -> None:
    name = "acme-" + "x" * 100
    decision = evaluate(store_of(trusted(ALICE, "alice")), name=name)
    assert decision.reasons[0].message == f"0 of 1 required trusted signatures for '{name[:76]}..."
    assert decision.reasons[0].subject == name
