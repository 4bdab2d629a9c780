"""The optional orchestration fields of the plugin predicate: ``capabilities`` and ``config``."""

from __future__ import annotations

from typing import Any

import pytest

from securehost import Statement
from securehost._signing.jsonstrict import dumps_canonical
from securehost._signing.predicate import ConfigDeclaration
from securehost.exceptions import EnvelopeFormatError
from tests.signing.test_statement import example_doc, parse, rejects, with_predicate

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"precision": {"type": "integer"}, "token": {"type": "string", "format": "password"}},
}


def test_old_statements_stay_valid_and_byte_identical() -> None:
    statement = parse(example_doc())
    assert statement.predicate.capabilities == ()
    assert statement.predicate.config is None
    assert "capabilities" not in statement.predicate.to_json()
    assert "config" not in statement.predicate.to_json()
    assert statement.to_json_bytes() == dumps_canonical(example_doc())


def test_capabilities_and_config_round_trip_canonically() -> None:
    doc = with_predicate(
        capabilities=["data.filter", "data.transform"], config={"schema": SCHEMA, "defaults": {"precision": 2}}
    )
    statement = parse(doc)
    assert statement.predicate.capabilities == ("data.filter", "data.transform")
    assert statement.predicate.config is not None
    assert statement.predicate.config.schema == SCHEMA
    assert statement.predicate.config.defaults == {"precision": 2}
    assert Statement.from_json_bytes(statement.to_json_bytes()) == statement


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"capabilities": []}, "must not be empty"),
        ({"capabilities": ["data.transform", "data.filter"]}, "sorted and unique"),
        ({"capabilities": ["data.x", "data.x"]}, "sorted and unique"),
        ({"capabilities": ["Data.X"]}, "invalid capability"),
        ({"capabilities": "data.x"}, "must be an array"),
        ({"config": {"schema": SCHEMA}}, "missing"),
        ({"config": {"schema": SCHEMA, "defaults": {}, "extra": 1}}, "unknown"),
        ({"config": {"schema": {"type": "array"}, "defaults": {}}}, "configuration declaration"),
        ({"config": {"schema": SCHEMA, "defaults": {"token": "x"}}}, "secret has a signed default"),
        ({"config": []}, "must be an object"),
    ],
)
def test_rejects_malformed_orchestration_fields(changes: dict[str, Any], match: str) -> None:
    rejects(with_predicate(**changes), match)


def test_declarations_compare_by_their_canonical_json() -> None:
    one = ConfigDeclaration.from_json({"type": "object", "properties": {}}, {})
    two = ConfigDeclaration.from_json({"properties": {}, "type": "object"}, {})
    assert one == two
    assert hash(one) == hash(two)
    with pytest.raises(EnvelopeFormatError):
        ConfigDeclaration.from_json({"type": "object"}, [])
