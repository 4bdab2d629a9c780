"""Every error of the statement parser word for word, and the limits of the path for statements parsed before.

A verifier shows these messages to whoever has to fix the wheel, so each names the field, the value (cut at 80
characters) or its type; ``tests/signing/test_statement.py`` checks what is refused, this file what is said.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from securehost import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    Envelope,
    EnvelopeLimits,
    ReasonCode,
    Statement,
    Subject,
)
from securehost._signing import statement as statement_module
from securehost._signing.envelope import DEFAULT_LIMITS
from securehost._signing.jsonstrict import dumps_canonical
from securehost._signing.statement import _rebuild
from securehost.exceptions import EnvelopeFormatError
from tests.signing.test_statement import DIGEST, example_doc, predicate, subject, with_predicate, with_subjects

MALFORMED = ReasonCode.STATEMENT_MALFORMED
LONG = "x" * 100  # longer than the 80 characters a message quotes
X80 = repr("x" * 80)


def _doc(**top: Any) -> dict[str, Any]:
    doc = example_doc()
    doc.update(top)
    return doc


def _without(key: str) -> dict[str, Any]:
    doc = example_doc()
    del doc[key]
    return doc


def _entry_points(groups: Any) -> dict[str, Any]:
    return with_predicate(entryPoints=groups)


def message_of(
    payload: bytes, limits: EnvelopeLimits | None = None, *, parsed_before: bool = False
) -> tuple[str, ReasonCode]:
    """The message and code of the error *payload* gets."""
    limits = DEFAULT_LIMITS if limits is None else limits
    with pytest.raises(EnvelopeFormatError) as info:
        Statement.from_json_bytes(payload, limits=limits, parsed_before=parsed_before)
    return str(info.value), info.value.code


SIXTY_FOUR = EnvelopeLimits(max_string_length=64)  # the subject digest is the longest string of the example
STATEMENT_KEYS = "_type, predicate, predicateType, subject"
PREDICATE_KEYS = "entryPoints, expiresAt, issuedAt, name, permissions, tags, version"


@pytest.mark.parametrize(
    ("doc", "limits", "message"),
    [
        pytest.param(_doc(_type="x"), None, f"statement _type must be {STATEMENT_TYPE!r}, got 'x'", id="type-string"),
        pytest.param(_doc(_type=LONG), None, f"statement _type must be {STATEMENT_TYPE!r}, got {X80}", id="type-long"),
        pytest.param(_doc(_type=1), None, f"statement _type must be {STATEMENT_TYPE!r}, got a int", id="type-int"),
        pytest.param(
            _without("_type"), None, f"statement _type must be {STATEMENT_TYPE!r}, got a NoneType", id="type-missing"
        ),
        pytest.param(
            _doc(extra=1),
            None,
            f"the statement must have exactly the keys {STATEMENT_KEYS}: missing [], unknown ['extra']",
            id="statement-keys",
        ),
        pytest.param(_doc(subject={}), None, "statement subject must be an array, not dict", id="subjects-object"),
        pytest.param(
            with_subjects({**subject("a"), "size": 1}),
            None,
            "a subject must have exactly the keys digest, name: missing [], unknown ['size']",
            id="subject-keys",
        ),
        pytest.param(with_subjects(subject(1)), None, "subject name must be a string, not int", id="subject-name-int"),
        pytest.param(
            with_subjects(subject(LONG, digest=DIGEST)),
            None,
            f"digest of subject {X80} must be an object, not str",
            id="digest-string",
        ),
        pytest.param(
            with_subjects(subject(LONG, digest={})),
            None,
            f"digest of subject {X80} must have exactly the keys sha256: missing ['sha256'], unknown []",
            id="digest-keys",
        ),
        pytest.param(
            with_subjects(subject("a", digest={"sha256": None})),
            None,
            "subject digest must be a string, not NoneType",
            id="digest-null",
        ),
        pytest.param(
            with_subjects(subject("b"), subject("a")),
            None,
            "subject names must be sorted and unique; 'a' follows 'b'",
            id="subjects-unsorted",
        ),
        pytest.param(
            with_subjects(subject("b" * 100), subject("a" * 100)),
            None,
            f"subject names must be sorted and unique; {'a' * 80!r} follows {'b' * 80!r}",
            id="subjects-unsorted-long",
        ),
        pytest.param(with_subjects(), None, "a statement needs at least one subject", id="no-subjects"),
        pytest.param(_doc(predicate=[]), None, "predicate must be an object, not list", id="predicate-array"),
        pytest.param(
            with_predicate(extra=1),
            None,
            f"the predicate must have exactly the keys {PREDICATE_KEYS}: missing [], unknown ['extra']",
            id="predicate-keys",
        ),
        pytest.param(
            _entry_points({"g" * 65: {"n": "m"}}),
            SIXTY_FOUR,
            "entry point group is longer than 64 characters",
            id="group-too-long",
        ),
        pytest.param(
            _entry_points({LONG: []}), None, f"entry point group {X80} must be an object, not list", id="group-array"
        ),
        pytest.param(
            _entry_points({"g": {"n" * 65: "m"}}),
            SIXTY_FOUR,
            "entry point name is longer than 64 characters",
            id="name-too-long",
        ),
        pytest.param(
            _entry_points({"g": {LONG: 1}}), None, f"entry point {X80} must be a string, not int", id="reference-int"
        ),
        pytest.param(
            with_predicate(capabilities="data.x"),
            None,
            "predicate capabilities must be an array, not str",
            id="capabilities-string",
        ),
        pytest.param(
            with_predicate(capabilities=[]),
            None,
            "predicate capabilities must not be empty when present (omit the field)",
            id="capabilities-empty",
        ),
        pytest.param(
            with_predicate(config=[]), None, "predicate config must be an object, not list", id="config-array"
        ),
        pytest.param(
            with_predicate(config={"schema": {}}),
            None,
            "the predicate config must have exactly the keys defaults, schema: missing ['defaults'], unknown []",
            id="config-keys",
        ),
        pytest.param(with_predicate(name=1), None, "predicate name must be a string, not int", id="name-int"),
        pytest.param(
            with_predicate(version=1.0), None, "predicate version must be a string, not float", id="version-float"
        ),
        pytest.param(
            with_predicate(tags="py3-none-any"), None, "predicate tags must be an array, not str", id="tags-string"
        ),
        pytest.param(with_predicate(tags=[3]), None, "each of predicate tags must be a string, not int", id="tag-int"),
        pytest.param(
            with_predicate(tags=["py3-none-win_amd64", "py3-none-any"]),
            None,
            "predicate tags must be sorted and unique; 'py3-none-any' follows 'py3-none-win_amd64'",
            id="tags-unsorted",
        ),
        pytest.param(
            with_predicate(permissions={}),
            None,
            "predicate permissions must be an array, not dict",
            id="permissions-object",
        ),
    ],
)
def test_statement_messages(doc: dict[str, Any], limits: EnvelopeLimits | None, message: str) -> None:
    assert message_of(dumps_canonical(doc), limits) == (message, MALFORMED)


@pytest.mark.parametrize(
    ("value", "got"),
    [("p", "'p'"), (LONG, X80), (["x"], "a list"), (None, "a NoneType")],
)
def test_another_predicate_type_is_named_in_its_message(value: Any, got: str) -> None:
    doc = _doc(predicateType=value) if value is not None else _without("predicateType")
    assert message_of(dumps_canonical(doc)) == (
        f"predicateType must be {PREDICATE_TYPE!r}, got {got}",
        ReasonCode.PREDICATE_TYPE_MISMATCH,
    )


def test_bytes_that_are_not_json_say_so_after_statement() -> None:
    assert message_of(b"{") == (
        "statement: invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        MALFORMED,
    )


def test_a_payload_that_is_not_canonical_gets_the_whole_rule() -> None:
    payload = dumps_canonical(example_doc()) + b" "
    assert message_of(payload) == (
        "statement payload is not canonical JSON (sorted keys, no whitespace, UTF-8, no escapes)",
        MALFORMED,
    )


# --- models built directly ----------------------------------------------------------------------


def test_statement_model_messages() -> None:
    with pytest.raises(TypeError, match=r"^subjects must be Subject instances$"):
        Statement(subjects=["a"], predicate=predicate())  # type: ignore[list-item]
    with pytest.raises(EnvelopeFormatError) as info:
        Statement(subjects=[Subject(name="a", sha256=DIGEST)] * 2, predicate=predicate())
    assert str(info.value) == "subject names must be sorted and unique; 'a' follows 'a'"
    assert info.value.code is MALFORMED
    with pytest.raises(EnvelopeFormatError, match=r"^a statement needs at least one subject$"):
        Statement(subjects=[], predicate=predicate())


def test_from_envelope_messages() -> None:
    with pytest.raises(TypeError, match=r"^envelope must be an Envelope, not bytes$"):
        Statement.from_envelope(b"{}")  # type: ignore[arg-type]
    envelope = Envelope(payload=dumps_canonical(example_doc()), payload_type="t" * 100)
    with pytest.raises(EnvelopeFormatError) as info:
        Statement.from_envelope(envelope)
    assert str(info.value) == f"payloadType must be {PAYLOAD_TYPE!r}, got {'t' * 80!r}"
    assert info.value.code is ReasonCode.PAYLOAD_TYPE_MISMATCH


# --- a statement parsed before ------------------------------------------------------------------


def test_an_envelope_is_parsed_strictly_unless_the_caller_says_it_was_parsed_before() -> None:
    """``from_envelope`` does not trust its payload by default: bytes that are not canonical are refused."""
    payload = dumps_canonical(example_doc()).replace(b",", b", ")
    assert _rebuild(payload) is not None  # the fast path would take them
    envelope = Envelope(payload=payload, payload_type=PAYLOAD_TYPE)
    with pytest.raises(EnvelopeFormatError, match=r"^statement payload is not canonical JSON \("):
        Statement.from_envelope(envelope)


@pytest.mark.parametrize(
    ("doc", "message", "code"),
    [
        pytest.param(
            _doc(_type="https://in-toto.io/Statement/v0.1"),
            f"statement _type must be {STATEMENT_TYPE!r}, got 'https://in-toto.io/Statement/v0.1'",
            MALFORMED,
            id="statement-type",
        ),
        pytest.param(
            _doc(predicateType="https://securehost.dev/attestation/plugin/v2"),
            f"predicateType must be {PREDICATE_TYPE!r}, got 'https://securehost.dev/attestation/plugin/v2'",
            ReasonCode.PREDICATE_TYPE_MISMATCH,
            id="predicate-type",
        ),
    ],
)
def test_a_statement_of_another_type_is_refused_even_if_said_to_be_parsed_before(
    doc: dict[str, Any], message: str, code: ReasonCode
) -> None:
    """Either type alone keeps a payload off the fast path: it is parsed strictly and refused."""
    payload = dumps_canonical(doc)
    assert _rebuild(payload) is None
    assert message_of(payload, parsed_before=True) == (message, code)


def refuse_strict_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> object:
        raise AssertionError("parsed strictly")

    monkeypatch.setattr(statement_module, "loads_strict", refuse)


def test_a_payload_said_to_be_parsed_before_is_rebuilt_up_to_the_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    payload = dumps_canonical(example_doc())
    expected = Statement.from_json_bytes(payload)
    refuse_strict_parsing(monkeypatch)
    at_limit = EnvelopeLimits(max_envelope_bytes=len(payload))
    assert Statement.from_json_bytes(payload, limits=at_limit, parsed_before=True) == expected
    over_limit = EnvelopeLimits(max_envelope_bytes=len(payload) - 1)
    with pytest.raises(AssertionError, match="parsed strictly"):
        Statement.from_json_bytes(payload, limits=over_limit, parsed_before=True)


def test_rebuilding_looks_up_each_class_once_and_works_with_nothing_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    """``_trusted`` asks ``attrs.fields`` (which checks its argument) about each class once, then caches the answer."""
    doc = with_predicate(capabilities=["data.x"], config={"schema": {"type": "object"}, "defaults": {}})
    payload = dumps_canonical(doc)
    expected = Statement.from_json_bytes(payload)
    asked: list[type] = []
    fields: Callable[[type], Any] = attrs.fields

    def counting(cls: type) -> Any:
        asked.append(cls)
        return fields(cls)

    monkeypatch.setattr(statement_module, "_FIELDS", {})
    monkeypatch.setattr(attrs, "fields", counting)
    assert _rebuild(payload) == expected
    assert _rebuild(payload) == expected
    # subjects, the most numerous, have their own builder (see the next test)
    assert sorted(cls.__name__ for cls in asked) == ["ConfigDeclaration", "PluginPredicate", "Statement"]


def test_the_subject_builder_of_the_rebuild_sets_every_field_of_a_subject() -> None:
    """``_trusted_subject`` sets ``name`` and ``sha256`` directly: a new field or a converter must change it too."""
    assert [(f.name, f.converter) for f in attrs.fields(Subject)] == [("name", None), ("sha256", None)]
    rebuilt = statement_module._trusted_subject("pkg/mod.py", DIGEST)
    assert rebuilt == Subject(name="pkg/mod.py", sha256=DIGEST)


@pytest.mark.parametrize(
    "config",
    [
        {"schema": {"type": "object"}, "defaults": {}},
        {
            "schema": {"type": "object", "properties": {"n": {"type": "integer"}, "s": {"type": "string"}}},
            "defaults": {"n": 3, "s": "ü"},
        },
    ],
)
def test_a_config_declaration_is_rebuilt_without_the_strict_parser(config: dict[str, Any]) -> None:
    payload = dumps_canonical(with_predicate(config=config, capabilities=["data.transform"]))
    rebuilt = _rebuild(payload)
    assert rebuilt is not None
    strict = Statement.from_json_bytes(payload)
    assert rebuilt == strict
    assert rebuilt.predicate.config == strict.predicate.config
    assert rebuilt.predicate.config is not None
    assert rebuilt.predicate.config.schema == config["schema"]
    assert rebuilt.predicate.config.defaults == config["defaults"]
    assert rebuilt.to_json_bytes() == payload
