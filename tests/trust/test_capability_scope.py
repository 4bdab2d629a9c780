"""Trust-store keys scoped to capabilities: ``capabilities = ["data.*"]`` in ``[[key]]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import pytest

from securehost import PermissionSet, PrivateKey, ReasonCode, SignerDecision, Threshold, TrustedKey, TrustStore
from securehost._trust import edit as trust_edit
from securehost.exceptions import TrustStoreError
from tests.trust.test_trust import ALICE, BOB, NOW, Check, codes, entry, store_of, trusted, valid

if TYPE_CHECKING:
    from pathlib import Path


def scoped(key: PrivateKey, label: str, capabilities: list[str]) -> TrustedKey:
    return attrs.evolve(trusted(key, label), capabilities=capabilities)


def decide(store: TrustStore, *checks: Check, capabilities: tuple[str, ...]) -> SignerDecision:
    return store.evaluate(name="acme-csv", requested=PermissionSet(), checks=checks, now=NOW, capabilities=capabilities)


def test_a_key_vouches_only_for_the_capabilities_its_patterns_match() -> None:
    alice = scoped(ALICE, "alice", ["data.*"])
    store = store_of(alice)
    assert decide(store, valid(ALICE), capabilities=("data.transform", "data.csv.load"))
    decision = decide(store, valid(ALICE), capabilities=("data.transform", "system.shell"))
    assert not decision
    assert codes(decision) == [ReasonCode.CAPABILITY_NOT_VOUCHED]
    assert decision.reasons[0].subject == "system.shell"


def test_a_key_without_capabilities_vouches_for_none() -> None:
    decision = decide(store_of(trusted(ALICE, "alice")), valid(ALICE), capabilities=("data.transform",))
    assert codes(decision) == [ReasonCode.CAPABILITY_NOT_VOUCHED]
    assert decide(store_of(trusted(ALICE, "alice")), valid(ALICE), capabilities=())


def test_capabilities_need_threshold_many_vouchers() -> None:
    alice, bob = scoped(ALICE, "alice", ["*"]), scoped(BOB, "bob", ["agent.*"])
    store = store_of(alice, bob, thresholds=[Threshold(pattern="acme-*", count=2)])
    assert decide(store, valid(ALICE), valid(BOB), capabilities=("agent.analyze",))
    decision = decide(store, valid(ALICE), valid(BOB), capabilities=("data.transform",))
    assert "1 of 2" in decision.reasons[0].message


def test_the_loader_reads_and_checks_capability_patterns(tmp_path: Path) -> None:
    path = tmp_path / "store.toml"
    path.write_text("version = 1\n" + entry(ALICE, "alice", 'capabilities = ["data.*", "agent.analyze"]'))
    store = TrustStore.load(path)
    assert store.keys[ALICE.key_id].capabilities == ("agent.analyze", "data.*")
    for bad, match in (('["Data.*"]', "invalid capability pattern"), ('["data.*", "data.*"]', "listed twice")):
        path.write_text("version = 1\n" + entry(ALICE, "alice", f"capabilities = {bad}"))
        with pytest.raises(TrustStoreError, match=match):
            TrustStore.load(path)


def test_the_editor_writes_capabilities_back(tmp_path: Path) -> None:
    path = tmp_path / "store.toml"
    trust_edit.add_key(path, ALICE.public_key, label="alice", names=["acme-*"], capabilities=["data.*"])
    assert 'capabilities = ["data.*"]' in path.read_text()
    assert TrustStore.load(path).keys[ALICE.key_id].capabilities == ("data.*",)
    trust_edit.add_key(path, ALICE.public_key, label="alice", names=["acme-*"])
    assert "capabilities" not in path.read_text()
