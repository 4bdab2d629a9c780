"""The subject and predicate models: every error word for word, the tag check's shortcut, the frozen mapping.

Values in messages are cut (subject names at 200 characters, everything else at 80), so each cut is checked with a
longer value.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from securehost import ReasonCode, Subject
from securehost._signing import predicate as predicate_module
from securehost._signing.predicate import _FrozenMapping, _packaging_reads, parse_time, strictly_sorted
from securehost.exceptions import EnvelopeFormatError
from tests.signing.test_statement import DIGEST, ISSUED, predicate

MALFORMED = ReasonCode.STATEMENT_MALFORMED
LONG = "x" * 100


def malformed(build: Any) -> str:
    """The message of the ``STATEMENT_MALFORMED`` error that *build()* raises."""
    with pytest.raises(EnvelopeFormatError) as info:
        build()
    assert info.value.code is MALFORMED
    return str(info.value)


def type_error(build: Any) -> str:
    with pytest.raises(TypeError) as info:
        build()
    assert not isinstance(info.value, EnvelopeFormatError)
    return str(info.value)


# --- subjects -------------------------------------------------------------------------------------

A200 = repr("a" * 200)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("", "subject name is empty", id="empty"),
        pytest.param(
            "/etc/passwd",
            "subject name '/etc/passwd' must be a relative archive path with '/' separators",
            id="absolute",
        ),
        pytest.param(
            "a" * 210 + "\\b",
            f"subject name {A200} must be a relative archive path with '/' separators",
            id="backslash",
        ),
        pytest.param("a" * 210 + "//b", f"subject name {A200} has an empty, '.' or '..' segment", id="segment"),
        pytest.param(
            "a" * 210 + "\x00", f"subject name {A200} contains a control or bidirectional character", id="control"
        ),
        pytest.param("a" * 210 + "\ud800", f"subject name {A200} is not valid Unicode", id="surrogate"),
    ],
)
def test_subject_name_messages(name: str, message: str) -> None:
    assert malformed(lambda: Subject(name=name, sha256=DIGEST)) == message


def test_subject_digest_message_quotes_80_characters() -> None:
    assert malformed(lambda: Subject(name="a", sha256="G" * 100)) == (
        f"subject sha256 digest must be 64 lowercase hex digits, got {'G' * 80!r}"
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param({"name": b"a", "sha256": DIGEST}, "subject name must be a str, not bytes", id="name"),
        pytest.param({"name": "a", "sha256": 0}, "subject digest must be a str, not int", id="digest"),
    ],
)
def test_subject_type_errors(fields: dict[str, Any], message: str) -> None:
    assert type_error(lambda: Subject(**fields)) == message


# --- the predicate's values -----------------------------------------------------------------------

_VERSION = "v" + ".".join(["1"] * 50)  # 100 characters; normalised, it loses the "v"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param(
            {"name": "A" * 100}, f"predicate name {'A' * 80!r} is not a canonical distribution name", id="name"
        ),
        pytest.param({"version": LONG}, f"predicate version {'x' * 80!r} is not a valid version", id="version"),
        pytest.param(
            {"version": _VERSION},
            f"predicate version {_VERSION[:80]!r} is not normalised (expected {_VERSION[1:81]!r})",
            id="version-not-normalised",
        ),
        pytest.param({"tags": []}, "predicate tags must not be empty", id="no-tags"),
        pytest.param(
            {"tags": ["X" * 100]},
            f"predicate tag {'X' * 80!r} is not a single lowercase python-abi-platform tag",
            id="tag",
        ),
        pytest.param(
            {"tags": ["py3-none-any", "py3-none-any"]},
            "predicate tags must be sorted and unique; 'py3-none-any' follows 'py3-none-any'",
            id="tags-twice",
        ),
        pytest.param(
            {"permissions": ["fs.read:/a", "fs.read:/a"]},
            "predicate permissions must be sorted and unique; 'fs.read:/a' follows 'fs.read:/a'",
            id="permissions-twice",
        ),
        pytest.param(
            {"capabilities": ["data.x", "data.x"]},
            "predicate capabilities must be sorted and unique; 'data.x' follows 'data.x'",
            id="capabilities-twice",
        ),
        pytest.param(
            {"entry_points": {" " + LONG: {"n": "m"}}},
            f"entry point group {(' ' + LONG)[:80]!r} is not a dotted name",
            id="group",
        ),
        pytest.param({"entry_points": {LONG: {}}}, f"entry point group {'x' * 80!r} is empty", id="group-empty"),
        pytest.param(
            {"entry_points": {"g" * 100: {" " + LONG: "m"}}},
            f"entry point name {(' ' + LONG)[:80]!r} in {'g' * 80!r} is not allowed",
            id="entry-point-name",
        ),
        pytest.param(
            {"entry_points": {"g": {"n" * 100: "1" * 100}}},
            f"entry point {'n' * 80!r} = {'1' * 80!r} is not 'module' or 'module:attr'",
            id="entry-point-value",
        ),
    ],
)
def test_predicate_messages(changes: dict[str, Any], message: str) -> None:
    assert malformed(lambda: predicate(**changes)) == message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"name": 1}, "predicate name must be a str, not int", id="name"),
        pytest.param({"version": 1}, "predicate version must be a str, not int", id="version"),
        pytest.param({"tags": [3]}, "predicate tag must be a str, not int", id="tag"),
        pytest.param({"permissions": [1]}, "permission must be a str, not int", id="permission"),
        pytest.param({"entry_points": {1: {"n": "m"}}}, "entry point group must be a str, not int", id="group"),
        pytest.param({"entry_points": {"g": {1: "m"}}}, "entry point name must be a str, not int", id="name-key"),
        pytest.param({"entry_points": {"g": {"n": 1}}}, "entry point value must be a str, not int", id="value"),
        pytest.param(
            {"tags": "py3-none-any"}, "expected an iterable of strings, not a single string", id="tags-string"
        ),
        pytest.param(
            {"entry_points": [("g", {"n": "m"})]},
            "entry_points must map group names to mappings of name to object reference",
            id="entry-points-list",
        ),
        pytest.param(
            {"entry_points": {"g": ["n"]}},
            "entry_points must map group names to mappings of name to object reference",
            id="group-list",
        ),
        pytest.param({"issued_at": "2026"}, "issued_at must be a datetime, not str", id="issued-string"),
        pytest.param({"expires_at": 1}, "expires_at must be a datetime, not int", id="expires-int"),
    ],
)
def test_predicate_type_errors(changes: dict[str, Any], message: str) -> None:
    assert type_error(lambda: predicate(**changes)) == message


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"issued_at": dt.datetime(2026, 1, 1)}, "issued_at must be an aware datetime in UTC", id="naive"),
        pytest.param(
            {"expires_at": ISSUED.astimezone(dt.timezone(dt.timedelta(hours=1)))},
            "expires_at must be an aware datetime in UTC",
            id="other-zone",
        ),
        pytest.param({"issued_at": ISSUED.replace(microsecond=1)}, "issued_at must have whole seconds", id="fraction"),
    ],
)
def test_predicate_time_value_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011 - the message is checked below
        predicate(**changes)
    assert not isinstance(info.value, EnvelopeFormatError)
    assert str(info.value) == message


def test_time_and_order_messages_quote_80_characters() -> None:
    assert malformed(lambda: parse_time(LONG, "issuedAt")) == (
        f"issuedAt must be 'YYYY-MM-DDTHH:MM:SSZ', got {'x' * 80!r}"
    )
    assert malformed(lambda: strictly_sorted(("b" * 100, "a" * 100), "names")) == (
        f"names must be sorted and unique; {'a' * 80!r} follows {'b' * 80!r}"
    )


# --- tags: the pattern, and packaging for the rest ------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("py3-none-any", True),
        ("cp312-cp312-manylinux_2_17_x86_64", True),
        ("PY3-none-any", False),  # one tag to packaging, but lowercased: not read back unchanged
        ("py2.py3-none-any", False),  # two tags
        ("py3-none", False),
    ],
)
def test_packaging_reads_a_tag_only_back_unchanged_and_alone(tag: str, expected: bool) -> None:
    assert _packaging_reads(tag) is expected


@pytest.mark.parametrize(
    ("tag", "asks_packaging"),
    [
        ("py3-none-any", False),
        ("cp311-abi3-linux_x86_64", False),
        ("_x-none-any", False),
        ("0-none-any", True),
        ("3py-none-any", True),
        ("0-0-0", True),
    ],
)
def test_packaging_is_asked_only_about_tags_whose_interpreter_is_no_identifier(
    monkeypatch: pytest.MonkeyPatch, tag: str, asks_packaging: bool
) -> None:
    """A tag of the pattern whose interpreter is an identifier is accepted without importing packaging.tags; the
    others are accepted exactly when packaging reads them back."""
    verdict = _packaging_reads(tag)
    asked: list[str] = []

    def spy(value: str) -> bool:
        asked.append(value)
        return verdict

    monkeypatch.setattr(predicate_module, "_packaging_reads", spy)
    if asks_packaging and not verdict:
        assert malformed(lambda: predicate(tags=[tag])) == (
            f"predicate tag {tag!r} is not a single lowercase python-abi-platform tag"
        )
    else:
        assert predicate(tags=[tag]).tags == (tag,)
    assert asked == ([tag] if asks_packaging else [])


@pytest.mark.parametrize("tag", ["0-none-any", "3py-none-any"])
def test_a_tag_with_a_numeric_interpreter_is_accepted_exactly_when_packaging_reads_it(tag: str) -> None:
    if _packaging_reads(tag):
        assert predicate(tags=[tag]).tags == (tag,)
    else:
        assert malformed(lambda: predicate(tags=[tag])) == (
            f"predicate tag {tag!r} is not a single lowercase python-abi-platform tag"
        )


# --- the frozen mapping of entry points ----------------------------------------------------------


def test_frozen_mapping_compares_with_any_mapping_by_content() -> None:
    frozen = _FrozenMapping([("b", "2"), ("a", "1")])
    assert frozen == {"a": "1", "b": "2"}
    assert frozen != {"a": "1"}
    assert frozen != {"a": "1", "b": "3"}
    assert frozen == _FrozenMapping([("a", "1"), ("b", "2")])
    assert frozen != [("a", "1"), ("b", "2")]
    p = predicate(entry_points={"g": {"b": "m:B", "a": "m:A"}})
    assert p.entry_points["g"] == {"a": "m:A", "b": "m:B"}
    assert p.entry_points["g"] != {"a": "m:A"}


def test_frozen_mapping_hash_follows_its_content() -> None:
    frozen = _FrozenMapping([("a", "1"), ("b", "2")])
    assert hash(frozen) == hash(_FrozenMapping([("b", "2"), ("a", "1")]))
    others = [_FrozenMapping([("a", str(n))]) for n in range(8)]
    assert len({hash(m) for m in [frozen, *others]}) > 1
    first = predicate(entry_points={"g": {"a": "m:A"}})
    assert len({hash(predicate(entry_points={"g": {"a": f"m:A{n}"}})) for n in range(8)} | {hash(first)}) > 1
