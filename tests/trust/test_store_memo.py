"""The trust-store memo: a warm start rebuilds the store it parsed last instead of parsing the TOML, and nothing else.

Attacks and edges: the file changed (a key revoked, a scope widened, the text broken), the same text at another
path, the file made world-writable after it was remembered, a memo forged without the host's key, a memo with the
key whose parts do not rebuild, a store with a key that needs ``cryptography``. Plus the claim that a warm start
imports no TOML parser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from securehost import Host, PrivateKey, TrustStore
from securehost._fileio import SealedFile
from securehost._installed.bytecode import load_key
from securehost._signing.keys import PublicKey, ed25519_from_spki, ed25519_spki
from securehost._trust.memo import _CONTEXT, _MAGIC, TrustStoreMemo, store_digest
from securehost.exceptions import KeyFormatError, TrustStoreError

KEY = PrivateKey.generate()
OTHER = PrivateKey.generate()


def _store_text(*, names: str = '["acme-*"]', revoked: str = "[]", key: PrivateKey = KEY) -> str:
    return f"""version = 1
revoked = {revoked}

[[key]]
label = "release"
public_key = "{key.public_key.to_openssh("release@acme")}"
names = {names}
max_permissions = ["fs.read:/srv/acme/**", "db.write", "net.connect:*.acme.example:443"]
capabilities = ["data.*", "report.render"]
valid_after = 2026-01-01T00:00:00Z
valid_before = 2028-01-01T00:00:00+02:00

[[key]]
label = "ci"
public_key = "{OTHER.public_key.to_openssh()}"
names = ["acme-tools", "beta-*"]

[[threshold]]
pattern = "acme-payments-*"
count = 2
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def _memo(state: Path) -> TrustStoreMemo:
    return TrustStoreMemo(state / "trust-store.memo", _key(state))


def _key(state: Path) -> bytes:
    from securehost._digests import mac

    state.mkdir(mode=0o700, exist_ok=True)
    return mac(load_key(state / "bytecode.key"), b"securehost derived key\0trust store")


def _same(left: TrustStore, right: TrustStore) -> None:
    """Equal as stores, and equal in what equality leaves out (where each entry came from, the key objects)."""
    assert left == right
    assert left.source == right.source
    assert [k.source for k in left.keys.values()] == [k.source for k in right.keys.values()]
    assert [(k.key.key_type, k.key.key_id) for k in left.keys.values()] == [
        (k.key.key_type, k.key.key_id) for k in right.keys.values()
    ]
    assert repr(left) == repr(right)


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    return _write(tmp_path / "trust.toml", _store_text())


def test_a_remembered_store_is_rebuilt_equal_to_a_fresh_parse(store_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = _memo(state).load(store_file)
    assert (state / "trust-store.memo").is_file()
    memo = _memo(state)
    assert memo.recall(store_digest(store_file.read_text()), str(store_file)) is not None  # a hit, not a parse
    again = memo.load(store_file)
    _same(again, first)
    _same(again, TrustStore.load(store_file))
    (release,) = [k for k in again.keys.values() if k.label == "release"]
    assert release.covers_name("acme-web")
    assert not release.covers_name("beta-x")
    assert again.threshold_for("acme-payments-eu") == 2
    assert release.valid_before is not None
    assert release.valid_before.utcoffset() is not None


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ({"revoked": f'["{KEY.public_key.key_id}"]'}, lambda s: KEY.public_key.key_id in s.revoked),
        ({"names": '["acme-*", "zeta"]'}, lambda s: s.find("release").covers_name("zeta")),  # type: ignore[union-attr]
    ],
    ids=["a key revoked", "a scope widened"],
)
def test_a_changed_store_is_parsed_again(
    store_file: Path, tmp_path: Path, change: dict[str, str], check: object
) -> None:
    state = tmp_path / "state"
    _memo(state).load(store_file)
    _write(store_file, _store_text(**change))
    store = _memo(state).load(store_file)
    assert check(store)  # type: ignore[operator]
    _same(store, TrustStore.load(store_file))


def test_a_broken_store_is_an_error_even_after_a_good_one_was_remembered(store_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    _memo(state).load(store_file)
    _write(store_file, _store_text().replace('names = ["acme-tools", "beta-*"]', 'names = "acme-tools"'))
    with pytest.raises(TrustStoreError, match=r"key\[1\] \(\"ci\"\): names"):
        _memo(state).load(store_file)
    _write(store_file, _store_text() + "[[key]\n")
    with pytest.raises(TrustStoreError, match="not valid TOML"):
        _memo(state).load(store_file)


def test_the_same_text_at_another_path_is_parsed_and_names_its_own_path(store_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    _memo(state).load(store_file)
    elsewhere = _write(tmp_path / "other.toml", store_file.read_text())
    store = _memo(state).load(elsewhere)
    assert store.source == str(elsewhere)
    assert all(k.source.startswith(str(elsewhere)) for k in store.keys.values())


def test_a_store_made_world_writable_after_it_was_remembered_is_refused(store_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    _memo(state).load(store_file)
    store_file.chmod(0o666)
    with pytest.raises(TrustStoreError, match="writable by every user"):
        _memo(state).load(store_file)


def test_a_memo_forged_without_the_hosts_key_is_ignored_audited_and_rewritten(store_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    audit = tmp_path / "audit.jsonl"
    host = Host(project="acme", group="acme.plugins", trust_store=store_file, state_dir=state, audit_sink=audit)
    host.close()
    memo_file = state / "trust-store.memo"
    digest = store_digest(store_file.read_text())
    no_keys = {"keys": [], "revoked": [], "thresholds": []}  # an attacker's store: no key at all, or their own
    payload = json.dumps([digest, str(store_file), no_keys]).encode()
    SealedFile(memo_file, b"\x00" * 32, _MAGIC, context=_CONTEXT, limit=1 << 20).write(payload, prefix=".t-")
    host = Host(project="acme", group="acme.plugins", trust_store=store_file, state_dir=state, audit_sink=audit)
    host.close()
    _same(host.store, TrustStore.load(store_file))
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    assert any(e["event"] == "trust_store.memo_tampered" and e["path"] == str(memo_file) for e in events)
    assert _memo(state).recall(store_digest(store_file.read_text()), str(store_file)) is not None  # rewritten


def _break_label(parts: dict[str, Any]) -> None:
    parts["keys"][0][1] = ""  # no store accepts an empty label: TrustStoreError


def _break_key(parts: dict[str, Any]) -> None:
    parts["keys"][0][0] = parts["keys"][0][0][:-2]  # 43 bytes: not an Ed25519 SubjectPublicKeyInfo (KeyFormatError)


def _break_hex(parts: dict[str, Any]) -> None:
    parts["keys"][0][0] = "zz"  # ValueError from bytes.fromhex


def _break_permission(parts: dict[str, Any]) -> None:
    parts["keys"][0][3] = ["no such kind"]  # PermissionFormatError


def _break_shape(parts: dict[str, Any]) -> None:
    del parts["thresholds"]  # KeyError


def _break_row(parts: dict[str, Any]) -> None:
    parts["keys"][0] = parts["keys"][0][:3]  # too few fields to unpack: ValueError


def _break_time(parts: dict[str, Any]) -> None:
    parts["keys"][0][5] = 20260101  # TypeError from datetime.fromisoformat


@pytest.mark.parametrize(
    "damage", [_break_label, _break_key, _break_hex, _break_permission, _break_shape, _break_row, _break_time]
)
def test_remembered_parts_that_do_not_rebuild_are_parsed_instead(
    store_file: Path, tmp_path: Path, damage: Callable[[dict[str, Any]], None]
) -> None:
    """Parts sealed with the host's key that do not rebuild into a store: the text is parsed, nothing raises."""
    state = tmp_path / "state"
    _memo(state).load(store_file)
    sealed = SealedFile(state / "trust-store.memo", _key(state), _MAGIC, context=_CONTEXT, limit=1 << 20)
    digest, source, parts = json.loads(sealed.read() or b"")
    damage(parts)
    sealed.write(json.dumps([digest, source, parts]).encode(), prefix=".t-")
    memo = _memo(state)
    assert memo.recall(digest, source) is None
    _same(memo.load(store_file), TrustStore.load(store_file))
    assert _memo(state).recall(digest, source) is not None  # and the memo holds the parsed store again


def test_an_ed25519_key_is_rebuilt_only_from_an_ed25519_subject_public_key_info() -> None:
    assert ed25519_spki(KEY.public_key) is None  # made by cryptography: nothing to remember it by
    der = ed25519_spki(PublicKey.load(KEY.public_key.to_openssh().encode()))  # read from text, as a store is
    assert der is not None
    assert ed25519_from_spki(der) == KEY.public_key
    for bad in (der[:-1], b"\x00" * 44, "30" * 44):
        with pytest.raises(KeyFormatError, match="not an Ed25519 SubjectPublicKeyInfo"):
            ed25519_from_spki(bad)  # type: ignore[arg-type]


def test_a_store_with_a_key_that_needs_cryptography_is_not_remembered(tmp_path: Path) -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    text = f'version = 1\n\n[[key]]\nlabel = "p256"\npublic_key = """{pem}"""\nnames = ["*"]\n'
    store_file = _write(tmp_path / "trust.toml", text)
    state = tmp_path / "state"
    memo = _memo(state)
    store = memo.load(store_file)
    assert len(store.keys) == 1
    assert not (state / "trust-store.memo").exists()
    assert memo.recall(store_digest(text), str(store_file)) is None


def test_a_warm_host_start_parses_no_toml(store_file: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    code = (
        "import sys\n"
        "from securehost import Host\n"
        f"host = Host(project='acme', group='acme.plugins', trust_store={str(store_file)!r},"
        f" state_dir={str(state)!r})\n"
        "print(len(host.store.keys), 'tomllib' in sys.modules or 'tomli' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    runs = [
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env) for _ in "ab"
    ]
    assert [r.stdout.split() for r in runs] == [["2", "True"], ["2", "False"]]  # cold: parsed; warm: rebuilt
