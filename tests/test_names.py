"""``securehost._names.canonicalize_name`` is ``packaging.utils.canonicalize_name``, without importing it."""

from __future__ import annotations

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
