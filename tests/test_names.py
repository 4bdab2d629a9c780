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


VERSIONISH = st.text(alphabet=st.sampled_from("0123456789.٣²abcrpostdev+-!_ "), max_size=12) | st.from_regex(
    r"[0-9]{1,3}(\.[0-9]{1,3}){0,3}(\.post[0-9]|rc[0-9]|\.dev[0-9])?", fullmatch=True
)


def _packaging(text: str):  # type: ignore[no-untyped-def]
    from packaging.version import InvalidVersion, Version

    try:
        return Version(text)
    except InvalidVersion:
        return None


@given(VERSIONISH)
def test_check_version_agrees_with_packaging(text: str) -> None:
    from securehost._names import check_version

    if _packaging(text) is None:
        with pytest.raises(ValueError, match="Invalid version"):
            check_version(text)
    else:
        check_version(text)


@given(VERSIONISH, VERSIONISH)
def test_versions_equal_and_above_agree_with_packaging(one: str, other: str) -> None:
    from securehost._names import version_above, versions_equal

    a, b = _packaging(one), _packaging(other)
    if a is not None and b is not None:
        assert versions_equal(one, other) == (a == b)
        assert version_above(one, other) == (a > b)
    else:  # a string that is not a version equals only itself
        assert versions_equal(one, other) == (one == other)


def test_version_helpers_examples() -> None:
    from securehost._names import check_version, version_above, versions_equal

    assert versions_equal("1.0", "1.0.0")
    assert versions_equal("2", "2")
    assert not versions_equal("1.0", "not a version")
    assert version_above("1.10", "1.9")
    assert not version_above("1.0", "1.0")
    with pytest.raises(TypeError, match="must be a str"):
        check_version(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Invalid version"):
        check_version("1..0")
