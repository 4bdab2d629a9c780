"""``Host(isolation=...)`` parsed by the start-up front door (``_isolation.choice``) exactly as by the full policy."""

from __future__ import annotations

import pytest

from securehost import ProcessIsolation, WorkerLimits
from securehost._isolation import choice, policy
from securehost.exceptions import ConfigurationError


class _Mode(str):
    """A str subclass: the fast path must treat it as the policy does."""


@pytest.mark.parametrize(
    "value",
    [
        "in-process",
        _Mode("in-process"),
        "process",
        ProcessIsolation(limits=WorkerLimits(memory_bytes=1 << 28)),
        {"acme-*": "process", "*": "in-process"},
        {"acme-*": ProcessIsolation(require={"seccomp"})},
        {},
    ],
)
def test_parse_isolation_gives_the_policys_pairs(value: object) -> None:
    assert choice.parse_isolation(value) == policy.parse_isolation(value)


def test_the_default_is_every_name_in_process() -> None:
    assert choice.parse_isolation("in-process") == (("*", None),)
    assert choice.isolation_for(choice.parse_isolation("in-process"), "acme-anything") is None


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("sandbox", ConfigurationError, "'in-process', 'process'"),
        ("In-Process", ConfigurationError, "'in-process', 'process'"),
        (3, TypeError, "isolation must be"),
        (None, TypeError, "isolation must be"),
        ({"": "process"}, TypeError, "distribution-name globs"),
        ({"acme-*": "sandbox"}, ConfigurationError, r"isolation\['acme-\*'\]"),
    ],
)
def test_parse_isolation_rejects_what_the_policy_rejects(value: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        choice.parse_isolation(value)
    with pytest.raises(error, match=match):
        policy.parse_isolation(value)


def test_isolation_for_takes_the_first_matching_glob_and_defaults_to_in_process() -> None:
    strict = ProcessIsolation(require={"seccomp"})
    pairs = choice.parse_isolation({"acme-db*": strict, "acme-*": "process", "*": "in-process"})
    assert choice.isolation_for(pairs, "acme-db-tools") is strict
    assert choice.isolation_for(pairs, "acme-web") == ProcessIsolation()
    assert choice.isolation_for(pairs, "other") is None
    assert choice.isolation_for(choice.parse_isolation({"acme-*": "process"}), "other") is None
