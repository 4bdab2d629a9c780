"""Editing trust store files: comments survive, failed edits change nothing, writes are atomic."""

from __future__ import annotations

import os
import stat
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import PermissionSet
from securehost._trust.edit import (
    add_allowed_signers,
    add_key,
    remove_key,
    revoke,
    set_threshold,
)
from securehost._trust.model import Threshold
from securehost._trust.store import TrustStore
from securehost.exceptions import ConfigurationError, KeyFormatError, TrustStoreError
from tests.strategies_trust import (
    KEY_POOL,
    labels,
    name_patterns,
    permission_sets,
    public_keys,
    windows,
)

ALICE, BOB, CAROL = KEY_POOL[0], KEY_POOL[3], KEY_POOL[1]
UTC = timezone.utc

HAND_WRITTEN = f"""\
# Trust store for the billing host -- reviewed by security@acme.example
version = 1

[[key]]  # the release key
label = "alice"
public_key = "{ALICE.public_key.to_openssh("alice@acme")}"  # from the HSM
names = ["acme-*"]  # only our own plugins
max_permissions = [
    "fs.read:/srv/data/**",  # read the data directory
]

# thresholds
[[threshold]]
pattern = "acme-*"
count = 1  # raise to 2 once bob has a key
"""


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    path = tmp_path / "store.toml"
    path.write_text(HAND_WRITTEN)
    path.chmod(0o600)
    return path


def comments(text: str) -> list[str]:
    return [line[line.index("#") :] for line in text.splitlines() if "#" in line]


def test_add_key_preserves_hand_written_comments(store_path: Path) -> None:
    added = add_key(store_path, BOB.public_key, label="bob", names=["Acme_*"])
    text = store_path.read_text()
    assert comments(text) == comments(HAND_WRITTEN)
    # The new table goes after alice's; the comment that introduces the thresholds stays with them.
    head = HAND_WRITTEN.split("\n# thresholds")[0]
    assert text.startswith(head + '\n[[key]]\nlabel = "bob"\n')
    assert "\n# thresholds\n[[threshold]]\n" in text
    assert added.label == "bob"
    assert added.names == ("acme-*",)
    assert added.source == f'{store_path}: key[1] ("bob")'
    store = TrustStore.load(store_path)
    assert list(store.keys) == [ALICE.key_id, BOB.key_id]
    assert f'key_id = "{BOB.key_id}"' in text


def test_add_key_creates_the_file_with_a_header(tmp_path: Path) -> None:
    path = tmp_path / "new.toml"
    add_key(path, ALICE.public_key, label="alice", names=["*"])
    text = path.read_text()
    assert text.startswith("# securehost trust store")
    assert "version = 1\n" in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert TrustStore.load(path).keys[ALICE.key_id].names == ("*",)


def test_edits_keep_the_file_mode(store_path: Path) -> None:
    add_key(store_path, BOB.public_key, label="bob", names=["a"])
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600


def test_add_key_updates_an_existing_entry(store_path: Path) -> None:
    after, before = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    updated = add_key(
        store_path,
        ALICE.public_key,
        label="alice (2026)",
        names=["acme-*", "billing"],
        max_permissions=PermissionSet.parse(["db.write", "env.read:HOME"]),
        valid_after=after,
        valid_before=before,
    )
    assert (updated.label, updated.names) == ("alice (2026)", ("acme-*", "billing"))
    assert updated.max_permissions == PermissionSet.parse(["db.write", "env.read:HOME"])
    assert (updated.valid_after, updated.valid_before) == (after, before)
    text = store_path.read_text()
    assert "# from the HSM" in text  # the key line was kept as written
    assert "# Trust store for the billing host" in text
    assert len(TrustStore.load(store_path).keys) == 1
    # Updating again without permissions or window removes them.
    again = add_key(store_path, ALICE.public_key, label="alice", names=["acme-*"])
    assert again.max_permissions == PermissionSet()
    assert again.valid_after is again.valid_before is None
    assert "valid_after" not in store_path.read_text()


def test_remove_key_by_label_or_key_id(store_path: Path) -> None:
    add_key(store_path, BOB.public_key, label="bob", names=["a"])
    assert remove_key(store_path, "bob").key_id == BOB.key_id
    assert list(TrustStore.load(store_path).keys) == [ALICE.key_id]
    assert remove_key(store_path, ALICE.key_id).label == "alice"
    text = store_path.read_text()
    assert "[[key]]" not in text
    assert "key = []" not in text
    assert "# Trust store for the billing host" in text
    assert not TrustStore.load(store_path).keys


def test_revoke_is_idempotent_and_keeps_the_key_entry(store_path: Path) -> None:
    assert revoke(store_path, ALICE.key_id.upper()) is True
    written = store_path.read_bytes()
    mtime = store_path.stat().st_mtime_ns
    assert revoke(store_path, ALICE.key_id) is False
    assert store_path.read_bytes() == written
    assert store_path.stat().st_mtime_ns == mtime
    store = TrustStore.load(store_path)
    assert store.revoked == {ALICE.key_id}
    assert ALICE.key_id in store.keys
    assert revoke(store_path, BOB.key_id) is True
    assert TrustStore.load(store_path).revoked == {ALICE.key_id, BOB.key_id}
    assert comments(store_path.read_text()) == comments(HAND_WRITTEN)


def test_revoke_creates_a_store(tmp_path: Path) -> None:
    path = tmp_path / "store.toml"
    assert revoke(path, BOB.key_id)
    assert TrustStore.load(path).revoked == {BOB.key_id}


def test_set_threshold_adds_and_updates(store_path: Path) -> None:
    assert set_threshold(store_path, "ACME.*", 2) == Threshold(pattern="acme-*", count=2)
    assert "# raise to 2 once bob has a key" in store_path.read_text()
    set_threshold(store_path, "billing", 3)
    store = TrustStore.load(store_path)
    assert [(t.pattern, t.count) for t in store.thresholds] == [("acme-*", 2), ("billing", 3)]


def test_set_threshold_creates_a_store(tmp_path: Path) -> None:
    path = tmp_path / "store.toml"
    set_threshold(path, "acme-*", 2)
    assert TrustStore.load(path).thresholds == (Threshold(pattern="acme-*", count=2),)


def test_edits_work_on_an_inline_array_style_store(tmp_path: Path) -> None:
    path = tmp_path / "store.toml"
    path.write_text(
        "version = 1\n"
        f'key = [{{label = "alice", public_key = "{ALICE.public_key.to_openssh()}", '
        'names = ["a"]}]  # inline\n'
        'threshold = [{pattern = "a", count = 1}]\n'
    )
    add_key(
        path,
        BOB.public_key,
        label="bob",
        names=["a"],
        max_permissions=PermissionSet.parse(["db.write"]),
    )
    set_threshold(path, "b", 2)
    set_threshold(path, "a", 2)
    store = TrustStore.load(path)
    assert list(store.keys) == [ALICE.key_id, BOB.key_id]
    assert [(t.pattern, t.count) for t in store.thresholds] == [("a", 2), ("b", 2)]
    remove_key(path, "alice")
    assert list(TrustStore.load(path).keys) == [BOB.key_id]
    assert "# inline" in path.read_text()


def test_edits_follow_symlinks(tmp_path: Path, store_path: Path) -> None:
    link = tmp_path / "link.toml"
    link.symlink_to(store_path)
    add_key(link, BOB.public_key, label="bob", names=["a"])
    assert link.is_symlink()
    assert BOB.key_id in TrustStore.load(store_path).keys


FAILING_EDITS = {
    "duplicate label": (
        lambda p: add_key(p, BOB.public_key, label="alice", names=["a"]),
        TrustStoreError,
        "the label 'alice' is taken by .*key\\[0\\] \\(\"alice\"\\)",
    ),
    "invalid pattern": (
        lambda p: add_key(p, BOB.public_key, label="bob", names=["a/b"]),
        TrustStoreError,
        "invalid name pattern",
    ),
    "empty names": (
        lambda p: add_key(p, BOB.public_key, label="bob", names=[]),
        TrustStoreError,
        "names may not be empty",
    ),
    "naive datetime": (
        lambda p: add_key(p, BOB.public_key, label="b", names=["a"], valid_after=datetime(2026, 1, 1)),
        TrustStoreError,
        "no time zone",
    ),
    "label like key id": (
        lambda p: add_key(p, BOB.public_key, label=BOB.key_id, names=["a"]),
        TrustStoreError,
        "looks like a key id",
    ),
    "revoked key": (
        lambda p: (revoke(p, BOB.key_id), add_key(p, BOB.public_key, label="bob", names=["a"])),
        ConfigurationError,
        "is revoked",
    ),
    "remove unknown": (
        lambda p: remove_key(p, "nobody"),
        ConfigurationError,
        "no key with id or label",
    ),
    "revoke garbage": (lambda p: revoke(p, "abc"), TrustStoreError, "is not a key id"),
    "threshold zero": (lambda p: set_threshold(p, "acme-*", 0), TrustStoreError, "integer >= 1"),
    "threshold pattern": (
        lambda p: set_threshold(p, "a b", 2),
        TrustStoreError,
        "invalid name pattern",
    ),
    "allowed_signers none admitted": (
        lambda p: add_allowed_signers(p, f"bob {BOB.public_key.to_openssh()}", names=["a"]),
        ConfigurationError,
        "admits the signature namespace 'securehost'",
    ),
    "allowed_signers malformed": (
        lambda p: add_allowed_signers(p, "bob cert-authority ssh-ed25519 AAAA", names=["a"]),
        KeyFormatError,
        "cert-authority",
    ),
}


@pytest.mark.parametrize("case", list(FAILING_EDITS), ids=list(FAILING_EDITS))
def test_a_failed_edit_leaves_the_file_byte_for_byte_unchanged(store_path: Path, case: str) -> None:
    edit, error, fragment = FAILING_EDITS[case]
    if case == "revoked key":
        revoke(store_path, BOB.key_id)
    before = store_path.read_bytes()
    with pytest.raises(error, match=fragment):
        edit(store_path)
    assert store_path.read_bytes() == before
    assert sorted(os.listdir(store_path.parent)) == ["store.toml"]  # no temporary file left


def test_an_invalid_store_is_not_edited(store_path: Path) -> None:
    store_path.write_text(HAND_WRITTEN.replace("version = 1", "version = 2"))
    before = store_path.read_bytes()
    with pytest.raises(TrustStoreError, match="unsupported version 2"):
        add_key(store_path, BOB.public_key, label="bob", names=["a"])
    assert store_path.read_bytes() == before


def test_a_world_writable_store_is_not_edited(store_path: Path) -> None:
    store_path.chmod(0o666)
    with pytest.raises(TrustStoreError, match="writable by every user"):
        revoke(store_path, BOB.key_id)


def test_remove_from_a_missing_store_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        remove_key(tmp_path / "none.toml", "alice")
    assert not (tmp_path / "none.toml").exists()


def test_an_edit_that_would_not_produce_the_intended_store_is_refused(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = store_path.read_bytes()
    monkeypatch.setattr("securehost._trust.edit.tomlkit.dumps", lambda document: "version = 1\n")
    with pytest.raises(TrustStoreError, match="would not produce the intended store"):
        add_key(store_path, BOB.public_key, label="bob", names=["a"])
    assert store_path.read_bytes() == before


def test_a_failed_write_leaves_the_file_and_no_temporary(store_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = store_path.read_bytes()

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("securehost._trust.edit.os.replace", fail)
    with pytest.raises(ConfigurationError, match="cannot write trust store: No space left on device"):
        add_key(store_path, BOB.public_key, label="bob", names=["a"])
    assert store_path.read_bytes() == before
    assert sorted(os.listdir(store_path.parent)) == ["store.toml"]


def test_an_unwritable_location_is_a_configuration_error(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    with pytest.raises(ConfigurationError, match="cannot write trust store"):
        add_key(not_a_directory / "store.toml", ALICE.public_key, label="a", names=["a"])


def test_add_allowed_signers_imports_and_updates(store_path: Path) -> None:
    text = (
        f'alice namespaces="securehost" {ALICE.public_key.to_openssh()}\n'
        f'bob@acme namespaces="securehost",valid-before="20300101Z" {BOB.public_key.to_openssh()}\n'
    )
    imported = add_allowed_signers(store_path, text, names=["acme-*"])
    assert [k.label for k in imported] == ["alice", "bob@acme"]
    store = TrustStore.load(store_path)
    assert list(store.keys) == [ALICE.key_id, BOB.key_id]
    assert store.keys[BOB.key_id].valid_before == datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert "# from the HSM" in store_path.read_text()


@given(
    key=public_keys,
    label=labels,
    names=st.lists(name_patterns, min_size=1, max_size=4),
    permissions=permission_sets,
    window=windows(),
)
def test_add_then_load_round_trips(key, label, names, permissions, window) -> None:
    from securehost._trust.model import canonical_name_pattern

    canonical = list(dict.fromkeys(canonical_name_pattern(n) for n in names))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "store.toml"
        added = add_key(
            path,
            key,
            label=label,
            names=canonical,
            max_permissions=permissions,
            valid_after=window[0],
            valid_before=window[1],
        )
        loaded = TrustStore.load(path).keys[key.key_id]
    assert loaded == added
    assert loaded.key == key
    assert loaded.label == label
    assert loaded.names == tuple(canonical)
    assert loaded.max_permissions == permissions
    assert (loaded.valid_after, loaded.valid_before) == window
