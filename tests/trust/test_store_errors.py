"""``TrustStore`` built in code (``from_keys``, the constructor) and ``evaluate``: each error with its message."""

from __future__ import annotations

import datetime as dt

import pytest

from securehost import PermissionSet, PrivateKey
from securehost._trust.model import Threshold, TrustedKey
from securehost._trust.store import TrustStore
from securehost.exceptions import TrustStoreError

KEY = PrivateKey.generate()
OTHER = PrivateKey.generate()


def trusted(key: PrivateKey, label: str) -> TrustedKey:
    return TrustedKey(key=key.public_key, label=label, names=["acme-*"], max_permissions=PermissionSet())


def test_a_store_made_in_code_says_so() -> None:
    assert TrustStore.from_keys([trusted(KEY, "a")]).source == "<memory>"
    assert TrustStore.from_keys([trusted(KEY, "a")], source="config.py").source == "config.py"


def test_two_keys_with_one_label() -> None:
    with pytest.raises(TrustStoreError, match=r"^two keys have the label 'a'$"):
        TrustStore.from_keys([trusted(KEY, "a"), trusted(OTHER, "a")])


def test_a_key_filed_under_another_key_id() -> None:
    wrong = "0" * 64
    with pytest.raises(TrustStoreError, match=rf"^keys must map key ids to their TrustedKey \('{wrong}'\)$"):
        TrustStore(keys={wrong: trusted(KEY, "a")})


def test_a_revoked_entry_that_is_no_key_id() -> None:
    with pytest.raises(TrustStoreError, match=r"^revoked entry 'abc' is not a key id \(64 hex digits\)$"):
        TrustStore.from_keys([trusted(KEY, "a")], revoked=["abc"])


def test_two_thresholds_for_one_pattern() -> None:
    with pytest.raises(TrustStoreError, match=r"^two thresholds have the same pattern$"):
        TrustStore.from_keys(
            [], thresholds=[Threshold(pattern="acme-*", count=2), Threshold(pattern="acme-*", count=3)]
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"name": b"acme-csv"}, TypeError, "name must be a str and requested a PermissionSet"),
        ({"requested": ["fs.read:/x"]}, TypeError, "name must be a str and requested a PermissionSet"),
        ({"now": "2026-01-01"}, TypeError, "now must be a datetime"),
        ({"now": dt.datetime(2026, 1, 1)}, ValueError, "now must be a timezone-aware datetime"),
    ],
)
def test_evaluate_names_the_argument_of_the_wrong_type(kwargs: dict[str, object], error: type, message: str) -> None:
    arguments: dict[str, object] = {
        "name": "acme-csv",
        "requested": PermissionSet(),
        "checks": (),
        "now": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
    }
    arguments.update(kwargs)
    with pytest.raises(error) as info:
        TrustStore.from_keys([trusted(KEY, "a")]).evaluate(**arguments)  # type: ignore[arg-type]
    assert str(info.value) == message
