"""Configuration declarations: checks at sign time, merging, validation without values, redaction."""

from __future__ import annotations

import types
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost._orchestrator.config import (
    REDACTED,
    check_declaration,
    freeze,
    merge,
    redact,
    scrub,
    secret_paths,
    secret_values,
    validate,
)
from securehost.exceptions import ConfigDeclarationError

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "precision": {"type": "integer", "minimum": 0, "maximum": 10},
        "mode": {"enum": ["fast", "exact"]},
        "token": {"type": "string", "format": "password", "minLength": 8},
        "db": {
            "type": "object",
            "properties": {"host": {"type": "string"}, "password": {"type": "string", "writeOnly": True}},
            "additionalProperties": False,
        },
    },
    "required": ["token"],
    "additionalProperties": False,
}


def test_a_sound_declaration_passes() -> None:
    check_declaration(SCHEMA, {"precision": 3, "db": {"host": "localhost"}})


@pytest.mark.parametrize(
    ("schema", "defaults", "match"),
    [
        ([], {}, "must be a JSON object"),
        ({"type": "array"}, {}, '"type": "object"'),
        ({"type": "object", "properties": {"x": {"type": "nonsense"}}}, {}, "not a valid JSON Schema"),
        ({"type": "object", "properties": {"x": {"$ref": "https://example.invalid/s.json"}}}, {}, "leaves the schema"),
        (SCHEMA, [], "defaults must be a JSON object"),
        (SCHEMA, {"token": "hunter2hunter2"}, "secret has a signed default"),
        (SCHEMA, {"db": {"password": "x"}}, "secret has a signed default"),
        (SCHEMA, {"precision": 99}, "defaults do not satisfy"),
        (SCHEMA, {"colour": "red"}, "defaults do not satisfy"),
    ],
)
def test_rejects_unusable_declarations(schema: Any, defaults: Any, match: str) -> None:
    with pytest.raises(ConfigDeclarationError, match=match):
        check_declaration(schema, defaults)


def test_a_missing_required_key_is_not_a_fault_of_the_defaults() -> None:
    check_declaration(SCHEMA, {})  # token is the host's to give


def test_secret_paths_follow_properties_at_any_depth() -> None:
    assert secret_paths(SCHEMA) == {("token",), ("db", "password")}


def test_validation_names_keys_and_rules_but_never_values() -> None:
    config = {"precision": 42, "token": "short!", "db": {"password": "s3cr3t-db-pass", "port": 5}, "colour": "red"}
    problems = validate(SCHEMA, config)
    assert problems == sorted(problems)
    text = "\n".join(problems)
    assert "/precision: fails maximum 10" in text
    assert "/token: fails minLength 8" in text
    assert "/db/port: not allowed (additionalProperties)" in text
    assert "/colour: not allowed (additionalProperties)" in text
    for value in ("short!", "s3cr3t-db-pass", "42", "red"):
        assert value not in text


def test_validation_reports_each_missing_required_key() -> None:
    assert validate(SCHEMA, {}) == ["/token: missing (required)"]


def test_merge_overlays_objects_key_by_key_and_replaces_the_rest() -> None:
    merged = merge({"a": 1, "db": {"host": "h", "port": 1}, "l": [1]}, None, {"db": {"port": 2}, "l": [2]}, {"a": 3})
    assert merged == {"a": 3, "db": {"host": "h", "port": 2}, "l": [2]}


def test_redact_replaces_only_secrets() -> None:
    config = {"precision": 1, "token": "hunter2hunter2", "db": {"host": "h", "password": "pw"}}
    assert redact(config, secret_paths(SCHEMA)) == {
        "precision": 1,
        "token": REDACTED,
        "db": {"host": "h", "password": REDACTED},
    }
    assert config["token"] == "hunter2hunter2"  # a copy


def test_scrub_removes_secret_values_from_messages() -> None:
    config = {"token": "hunter2hunter2", "db": {"password": "pw-123"}}
    values = secret_values(config, secret_paths(SCHEMA))
    assert scrub("login failed for token hunter2hunter2 (db pw-123)", values) == (
        f"login failed for token {REDACTED} (db {REDACTED})"
    )


def test_freeze_gives_a_read_only_view() -> None:
    frozen = freeze({"db": {"hosts": ["a", "b"]}})
    assert isinstance(frozen, types.MappingProxyType)
    assert frozen["db"]["hosts"] == ("a", "b")
    with pytest.raises(TypeError):
        frozen["db"]["x"] = 1  # type: ignore[index]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(max_size=3), JSON, max_size=4), st.dictionaries(st.text(max_size=3), JSON, max_size=4))
def test_merge_with_an_empty_layer_is_identity_and_the_last_layer_wins_on_scalars(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    assert merge(first, {}) == merge(first)
    merged = merge(first, second)
    for key, value in second.items():
        if not isinstance(value, dict):
            assert merged[key] == (list(value) if isinstance(value, list) else value)
