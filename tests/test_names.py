"""``securehost._names.canonicalize_name`` is ``packaging.utils.canonicalize_name``, without importing it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.utils import canonicalize_name as packaging_canonicalize_name

from securehost._names import canonicalize_name

NAMEISH = st.text(alphabet=st.sampled_from("aZz09-_.-_.İßΣ ")) | st.text()


@given(NAMEISH)
def test_agrees_with_packaging(name: str) -> None:
    assert canonicalize_name(name) == packaging_canonicalize_name(name)


def test_examples() -> None:
    assert canonicalize_name("Acme_CSV..Tools") == "acme-csv-tools"
    assert canonicalize_name("oslo.concurrency") == "oslo-concurrency"


def test_parse_version_is_packagings_parse_once_per_string() -> None:
    from packaging.version import InvalidVersion, Version

    from securehost._names import parse_version

    assert parse_version("1.0.post1") == Version("1.0.post1")
    assert parse_version("2.0") is parse_version("2.0")  # parsed once
    with pytest.raises(InvalidVersion):
        parse_version("not a version")
    with pytest.raises(InvalidVersion):  # a failure is not remembered as an answer
        parse_version("not a version")
