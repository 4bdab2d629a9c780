"""The capability grammar and the patterns a trust-store key vouches for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost._orchestrator.capabilities import check_capability, check_pattern, pattern_covers, pattern_matches
from securehost.exceptions import CapabilityFormatError

SEGMENT = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
CAPABILITY = st.lists(SEGMENT, min_size=2, max_size=5).map(".".join)


@pytest.mark.parametrize("text", ["data.transform", "agent.skill.decompose", "a.b", "x1.y_2", "a.b.c.d.e.f.g.h"])
def test_accepts_dotted_capabilities(text: str) -> None:
    assert check_capability(text) == text


@pytest.mark.parametrize(
    "text",
    ["", "data", "Data.transform", "data..transform", ".data.x", "data.x.", "data.*", "1data.x", "data.trans-form",
     "data.x y", "a.b.c.d.e.f.g.h.i", "a." + "b" * 33, "data.transform\n", "dáta.x"],
)  # fmt: skip
def test_rejects_malformed_capabilities(text: str) -> None:
    with pytest.raises(CapabilityFormatError, match="invalid capability"):
        check_capability(text)


def test_rejects_a_capability_that_is_not_a_string() -> None:
    with pytest.raises(TypeError):
        check_capability(["data.transform"])


@pytest.mark.parametrize("text", ["*", "data.*", "agent.skill.*", "data.transform"])
def test_accepts_patterns(text: str) -> None:
    assert check_pattern(text) == text


@pytest.mark.parametrize("text", ["**", "data*", "data.**", "*.transform", "data.*.x", "Data.*", ".*", "data"])
def test_rejects_malformed_patterns(text: str) -> None:
    with pytest.raises(CapabilityFormatError, match="invalid capability pattern"):
        check_pattern(text)


def test_a_prefix_pattern_matches_below_the_prefix_only() -> None:
    assert pattern_matches("data.*", "data.transform")
    assert pattern_matches("data.*", "data.csv.load")
    assert not pattern_matches("data.*", "database.transform")
    assert not pattern_matches("data.*", "agent.data")
    assert pattern_matches("*", "agent.analyze")
    assert pattern_matches("data.transform", "data.transform")
    assert not pattern_matches("data.transform", "data.transform.fast")
    assert not pattern_covers([], "data.transform")


@given(CAPABILITY)
def test_every_generated_capability_is_valid_and_matched_by_its_own_prefixes(capability: str) -> None:
    assert check_capability(capability) == capability
    parts = capability.split(".")
    for i in range(1, len(parts)):
        assert pattern_matches(check_pattern(".".join(parts[:i]) + ".*"), capability)
    assert not pattern_matches(capability + ".*", capability)
