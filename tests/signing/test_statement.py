"""The in-toto statement with the plugin predicate: strict parsing, models, round trips."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    Envelope,
    EnvelopeLimits,
    PluginPredicate,
    ReasonCode,
    Statement,
    Subject,
)
from securehost._signing.jsonstrict import dumps_canonical
from securehost._signing.predicate import format_time, parse_time
from securehost._signing.statement import _rebuild
from securehost.exceptions import EnvelopeFormatError
from tests.strategies_envelope import (
    byte_mutations,
    json_paths,
    json_values,
    replace_at,
    statements,
)

MALFORMED = ReasonCode.STATEMENT_MALFORMED
UTC = dt.timezone.utc
DIGEST = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
ISSUED = dt.datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)


def example_doc() -> dict[str, Any]:
    """The statement from docs/architecture.md, with two subjects."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": "acme_csv/__init__.py", "digest": {"sha256": DIGEST}},
            {"name": "acme_csv/plugin.py", "digest": {"sha256": "0" * 64}},
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "name": "acme-csv",
            "version": "1.2.0",
            "tags": ["py3-none-any"],
            "permissions": ["fs.read:/srv/data/**"],
            "entryPoints": {"demoapp.plugins": {"csv": "acme_csv.plugin:CsvPlugin"}},
            "issuedAt": "2026-11-22T10:00:00Z",
            "expiresAt": "2027-11-22T10:00:00Z",
        },
    }


def parse(doc: Any, limits: EnvelopeLimits | None = None) -> Statement:
    data = dumps_canonical(doc)
    if limits is None:
        return Statement.from_json_bytes(data)
    return Statement.from_json_bytes(data, limits=limits)


def with_predicate(**changes: Any) -> dict[str, Any]:
    doc = example_doc()
    for key, value in changes.items():
        if value is _DROP:
            del doc["predicate"][key]
        else:
            doc["predicate"][key] = value
    return doc


def with_subjects(*subjects: Any) -> dict[str, Any]:
    doc = example_doc()
    doc["subject"] = list(subjects)
    return doc


def subject(name: Any, digest: Any = None) -> dict[str, Any]:
    return {"name": name, "digest": {"sha256": DIGEST} if digest is None else digest}


_DROP = object()


def rejects(doc: Any, match: str, code: ReasonCode = MALFORMED, **kwargs: Any) -> None:
    with pytest.raises(EnvelopeFormatError, match=match) as info:
        parse(doc, **kwargs)
    assert info.value.code is code


# --- the valid example ----------------------------------------------------------------------------


def test_parses_the_architecture_example() -> None:
    statement = parse(example_doc())
    predicate = statement.predicate
    assert statement.subject_map() == {
        "acme_csv/__init__.py": DIGEST,
        "acme_csv/plugin.py": "0" * 64,
    }
    assert predicate.name == "acme-csv"
    assert predicate.version == "1.2.0"
    assert predicate.tags == ("py3-none-any",)
    assert predicate.permissions == ("fs.read:/srv/data/**",)
    assert predicate.entry_points == {"demoapp.plugins": {"csv": "acme_csv.plugin:CsvPlugin"}}
    assert predicate.issued_at == ISSUED
    assert predicate.expires_at == dt.datetime(2027, 11, 22, 10, 0, 0, tzinfo=UTC)
    assert statement.to_json_bytes() == dumps_canonical(example_doc())


def test_expires_at_is_optional_and_absent_when_none() -> None:
    statement = parse(with_predicate(expiresAt=_DROP))
    assert statement.predicate.expires_at is None
    assert b"expiresAt" not in statement.to_json_bytes()


def test_empty_permissions_and_entry_points_are_allowed() -> None:
    statement = parse(with_predicate(permissions=[], entryPoints={}))
    assert statement.predicate.permissions == ()
    assert dict(statement.predicate.entry_points) == {}


def test_from_envelope_checks_the_payload_type() -> None:
    payload = dumps_canonical(example_doc())
    assert Statement.from_envelope(Envelope(payload=payload, payload_type=PAYLOAD_TYPE)) == parse(example_doc())
    with pytest.raises(EnvelopeFormatError, match="payloadType must be") as info:
        Statement.from_envelope(Envelope(payload=payload, payload_type="application/json"))
    assert info.value.code is ReasonCode.PAYLOAD_TYPE_MISMATCH
    with pytest.raises(TypeError):
        Statement.from_envelope(payload)  # type: ignore[arg-type]


def test_to_envelope_is_unsigned_and_typed() -> None:
    statement = parse(example_doc())
    envelope = statement.to_envelope()
    assert envelope.payload_type == PAYLOAD_TYPE
    assert envelope.signatures == ()
    assert Statement.from_envelope(envelope) == statement


# --- statement-level rejections -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1/", "", None, 1],
)
def test_rejects_wrong_statement_type(value: Any) -> None:
    doc = example_doc()
    doc["_type"] = value
    rejects(doc, "statement _type must be")


def test_rejects_missing_statement_type() -> None:
    doc = example_doc()
    del doc["_type"]
    rejects(doc, "statement _type must be")


@pytest.mark.parametrize(
    "value",
    [
        "https://securehost.dev/attestation/plugin/v2",
        "https://slsa.dev/provenance/v1",
        "https://securehost.dev/attestation/plugin/v1 ",
        None,
        ["https://securehost.dev/attestation/plugin/v1"],
    ],
)
def test_rejects_wrong_predicate_type_with_its_own_code(value: Any) -> None:
    doc = example_doc()
    doc["predicateType"] = value
    rejects(doc, "predicateType must be", ReasonCode.PREDICATE_TYPE_MISMATCH)


def test_rejects_missing_predicate_type() -> None:
    doc = example_doc()
    del doc["predicateType"]
    rejects(doc, "predicateType must be", ReasonCode.PREDICATE_TYPE_MISMATCH)


@pytest.mark.parametrize("key", ["subject", "predicate"])
def test_rejects_missing_statement_key(key: str) -> None:
    doc = example_doc()
    del doc[key]
    rejects(doc, f"missing \\['{key}'\\]")


@pytest.mark.parametrize("key", ["subjects", "extra", "_TYPE"])
def test_rejects_unknown_statement_key(key: str) -> None:
    doc = example_doc()
    doc[key] = []
    rejects(doc, f"unknown \\['{key}'\\]")


@pytest.mark.parametrize(
    "data",
    [b"", b"[]", b"{", b'{"_type":NaN}', b'\xef\xbb\xbf{"_type":1}', b'{"a":1,"a":1}', b"\xff"],
)
def test_invalid_json_is_statement_malformed(data: bytes) -> None:
    with pytest.raises(EnvelopeFormatError) as info:
        Statement.from_json_bytes(data)
    assert info.value.code is MALFORMED


def test_rejects_non_canonical_payloads() -> None:
    doc = example_doc()
    for data in (
        json.dumps(doc).encode(),  # whitespace
        json.dumps(doc, separators=(",", ":")).encode(),  # keys not sorted
        dumps_canonical(doc) + b"\n",
        json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
        .encode()
        .replace(b"csv", b"\\u0063sv", 1),
    ):
        with pytest.raises(EnvelopeFormatError, match="not canonical JSON") as info:
            Statement.from_json_bytes(data)
        assert info.value.code is MALFORMED


def test_rejects_non_bytes_payload() -> None:
    with pytest.raises(TypeError):
        Statement.from_json_bytes(dumps_canonical(example_doc()).decode())  # type: ignore[arg-type]


# --- subjects -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subjects", "message"),
    [
        ((), "at least one subject"),
        ((subject("a"), subject("a")), "sorted and unique"),
        ((subject("b"), subject("a")), "sorted and unique"),
        (("a",), "each subject must be an object"),
        (({"name": "a"},), "missing \\['digest'\\]"),
        (({"digest": {"sha256": DIGEST}},), "missing \\['name'\\]"),
        (({**subject("a"), "size": 1},), "unknown \\['size'\\]"),
        ((subject(1),), "subject name must be a string"),
        ((subject("a", digest=DIGEST),), "must be an object"),
        ((subject("a", digest={}),), "missing \\['sha256'\\]"),
        ((subject("a", digest={"sha256": DIGEST, "sha512": "0" * 128}),), "unknown \\['sha512'\\]"),
        ((subject("a", digest={"sha512": "0" * 128}),), "missing \\['sha256'\\]"),
        ((subject("a", digest={"sha256": DIGEST.upper()}),), "64 lowercase hex"),
        ((subject("a", digest={"sha256": DIGEST[:-1]}),), "64 lowercase hex"),
        ((subject("a", digest={"sha256": DIGEST + "0"}),), "64 lowercase hex"),
        ((subject("a", digest={"sha256": "g" * 64}),), "64 lowercase hex"),
        ((subject("a", digest={"sha256": None}),), "digest must be a string"),
    ],
)
def test_rejects_bad_subjects(subjects: tuple[Any, ...], message: str) -> None:
    rejects(with_subjects(*subjects), message)


def test_rejects_subject_list_of_wrong_type() -> None:
    doc = example_doc()
    doc["subject"] = {"name": "a"}
    rejects(doc, "subject must be an array")


@pytest.mark.parametrize(
    "name",
    [
        "",
        "/etc/passwd",
        "a\\b",
        "../evil.py",
        "a/../b",
        "a/./b",
        "./a",
        ".",
        "..",
        "a//b",
        "a/",
        "a\x00b",
        "a\nb",
        "a\x7fb",
        "a\x85b",
        "evil\u202egnp.py",
        "a\u2028b",
        "\ufeffa",
    ],
)
def test_rejects_bad_subject_names(name: str) -> None:
    rejects(with_subjects(subject(name)), "subject name")


@pytest.mark.parametrize("name", ["a", "acme_csv/__init__.py", "acme-1.0.dist-info/METADATA", "dätä/ü.py", "a b/c"])
def test_accepts_good_subject_names(name: str) -> None:
    assert parse(with_subjects(subject(name))).subject_map() == {name: DIGEST}


def test_subject_limit() -> None:
    doc = with_subjects(subject("a"), subject("b"), subject("c"))
    assert len(parse(doc, EnvelopeLimits(max_subjects=3)).subjects) == 3
    rejects(doc, "3 subjects, more than the limit of 2", limits=EnvelopeLimits(max_subjects=2))


def test_string_length_limit() -> None:
    doc = with_subjects(subject("a" * 100))
    assert parse(doc, EnvelopeLimits(max_string_length=100))
    rejects(doc, "longer than 99 characters", limits=EnvelopeLimits(max_string_length=99))


# --- predicate ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["name", "version", "tags", "permissions", "entryPoints", "issuedAt"])
def test_rejects_missing_predicate_key(key: str) -> None:
    rejects(with_predicate(**{key: _DROP}), f"missing \\['{key}'\\]")


@pytest.mark.parametrize("key", ["description", "entry_points", "ExpiresAt"])
def test_rejects_unknown_predicate_key(key: str) -> None:
    rejects(with_predicate(**{key: "x"}), f"unknown \\['{key}'\\]")


def test_rejects_predicate_of_wrong_type() -> None:
    doc = example_doc()
    doc["predicate"] = [doc["predicate"]]
    rejects(doc, "predicate must be an object")


@pytest.mark.parametrize(
    "name",
    ["Acme-CSV", "acme_csv", "acme.csv", "acme--csv", "-acme", "acme-", "", "acme csv", "äcme", 1],
)
def test_rejects_non_canonical_names(name: Any) -> None:
    rejects(with_predicate(name=name), "predicate name")


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1.0-rc1", "not normalised"),
        ("v1.0", "not normalised"),
        ("01.0", "not normalised"),
        ("1.0.0 ", "not normalised"),
        ("1.0_post1", "not normalised"),
        ("not a version", "not a valid version"),
        ("", "not a valid version"),
        ("1.0+", "not a valid version"),
        (1.0, "must be a string"),
    ],
)
def test_rejects_bad_versions(version: Any, message: str) -> None:
    rejects(with_predicate(version=version), message)


@pytest.mark.parametrize(
    ("tags", "message"),
    [
        ([], "must not be empty"),
        (["py2.py3-none-any"], "single lowercase"),
        (["PY3-none-any"], "single lowercase"),
        (["py3-none"], "single lowercase"),
        (["py3-none-any-x"], "single lowercase"),
        (["py3--any"], "single lowercase"),
        (["py3-none-any "], "single lowercase"),
        (["py3-none-manylinux-x86"], "single lowercase"),
        (["py3-none-win_amd64", "py3-none-any"], "sorted and unique"),
        (["py3-none-any", "py3-none-any"], "sorted and unique"),
        ("py3-none-any", "must be an array"),
        ([3], "must be a string"),
    ],
)
def test_rejects_bad_tags(tags: Any, message: str) -> None:
    rejects(with_predicate(tags=tags), message)


def test_tag_limit() -> None:
    tags = sorted(f"cp3{i}-none-any" for i in range(10, 15))
    assert parse(with_predicate(tags=tags), EnvelopeLimits(max_tags=5))
    rejects(with_predicate(tags=tags), "more than the limit of 4", limits=EnvelopeLimits(max_tags=4))


@pytest.mark.parametrize(
    ("permissions", "message"),
    [
        (["fs.read:relative/path"], "invalid permission"),
        (["FS.read:/x"], "invalid permission"),
        (["fs.read"], "invalid permission"),
        (["fs.read:/a/../b"], "invalid permission"),
        (["net.connect:example.com:99999"], "invalid permission"),
        (["fs.read:/b", "fs.read:/a"], "sorted and unique"),
        (["fs.read:/a", "fs.read:/a"], "sorted and unique"),
        ([None], "must be a string"),
        ({"fs.read": "/a"}, "must be an array"),
    ],
)
def test_rejects_bad_permissions(permissions: Any, message: str) -> None:
    rejects(with_predicate(permissions=permissions), message)


def test_permission_limit() -> None:
    perms = sorted(f"fs.read:/d{i}" for i in range(4))
    assert parse(with_predicate(permissions=perms), EnvelopeLimits(max_permissions=4))
    rejects(with_predicate(permissions=perms), "limit of 3", limits=EnvelopeLimits(max_permissions=3))


@pytest.mark.parametrize(
    ("entry_points", "message"),
    [
        ([], "entryPoints must be an object"),
        ({"g": []}, "must be an object"),
        ({"g": {}}, "is empty"),
        ({"g": {"n": 1}}, "must be a string"),
        ({"bad group": {"n": "m:a"}}, "not a dotted name"),
        ({".g": {"n": "m:a"}}, "not a dotted name"),
        ({"g": {"a=b": "m:a"}}, "entry point name"),
        ({"g": {" n": "m:a"}}, "entry point name"),
        ({"g": {"n": "acme csv:Plugin"}}, "is not 'module' or 'module:attr'"),
        ({"g": {"n": "acme:"}}, "is not 'module' or 'module:attr'"),
        ({"g": {"n": ":attr"}}, "is not 'module' or 'module:attr'"),
        ({"g": {"n": "acme:Plugin [extra]"}}, "is not 'module' or 'module:attr'"),
        ({"g": {"n": "acme:a:b"}}, "is not 'module' or 'module:attr'"),
        ({"g": {"n": "acme..x:A"}}, "is not 'module' or 'module:attr'"),
        ({"g": {"n": "class.mod:A"}}, "is not 'module' or 'module:attr'"),
        ({"g": {"n": "m:None"}}, "is not 'module' or 'module:attr'"),
        ({"g": {"n": "mödule:A"}}, "is not 'module' or 'module:attr'"),
        ({"g": {"n": "1mod:A"}}, "is not 'module' or 'module:attr'"),
    ],
)
def test_rejects_bad_entry_points(entry_points: Any, message: str) -> None:
    rejects(with_predicate(entryPoints=entry_points), message)


def test_accepts_module_only_entry_points() -> None:
    eps = {"pytest11": {"x": "acme.plugin"}, "g.h": {"n-1.2+x": "a.b:C.d"}}
    assert parse(with_predicate(entryPoints=eps)).predicate.entry_points == eps


def test_entry_point_limit_counts_all_groups() -> None:
    eps = {"a": {"x": "m", "y": "m"}, "b": {"z": "m"}}
    assert parse(with_predicate(entryPoints=eps), EnvelopeLimits(max_entry_points=3))
    rejects(
        with_predicate(entryPoints=eps),
        "more than 2 entry points",
        limits=EnvelopeLimits(max_entry_points=2),
    )


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-22T10:00:00+00:00",
        "2026-11-22 10:00:00Z",
        "2026-11-22T10:00:00.5Z",
        "2026-11-22T10:00:00z",
        "2026-11-22T10:00Z",
        "26-11-22T10:00:00Z",
        "２026-11-22T10:00:00Z",  # noqa: RUF001 - a full-width digit
        "",
    ],
)
def test_rejects_badly_formatted_times(value: str) -> None:
    rejects(with_predicate(issuedAt=value), "issuedAt must be 'YYYY-MM-DDTHH:MM:SSZ'")
    rejects(with_predicate(expiresAt=value), "expiresAt must be 'YYYY-MM-DDTHH:MM:SSZ'")


@pytest.mark.parametrize(
    "value",
    [
        "2026-02-30T10:00:00Z",
        "2026-13-01T10:00:00Z",
        "2026-11-22T24:00:00Z",
        "2016-12-31T23:59:60Z",
        "0000-01-01T00:00:00Z",
    ],
)
def test_rejects_impossible_times(value: str) -> None:
    rejects(with_predicate(issuedAt=value), "not a valid date and time")


@pytest.mark.parametrize("value", [None, 1700000000, ["2026-11-22T10:00:00Z"]])
def test_rejects_times_of_wrong_type(value: Any) -> None:
    rejects(with_predicate(issuedAt=value), "issuedAt must be a string")
    rejects(with_predicate(expiresAt=value), "expiresAt must be a string")


@pytest.mark.parametrize("expires", ["2026-11-22T10:00:00Z", "2026-11-22T09:59:59Z", "2020-01-01T00:00:00Z"])
def test_rejects_expiry_not_after_issue(expires: str) -> None:
    rejects(with_predicate(expiresAt=expires), "is not after issuedAt")


def test_time_helpers() -> None:
    assert format_time(dt.datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)) == "0999-01-02T03:04:05Z"
    assert parse_time("0999-01-02T03:04:05Z", "t") == dt.datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC)


# --- models built directly (the signer's side) ----------------------------------------------------


def predicate(**changes: Any) -> PluginPredicate:
    fields: dict[str, Any] = {
        "name": "acme-csv",
        "version": "1.2.0",
        "tags": ["py3-none-any"],
        "permissions": [],
        "entry_points": {},
        "issued_at": ISSUED,
    }
    fields.update(changes)
    return PluginPredicate(**fields)


def test_models_sort_their_collections() -> None:
    p = predicate(tags=["py3-none-win_amd64", "py3-none-any"], permissions=["fs.read:/b", "fs.read:/a"])
    assert p.tags == ("py3-none-any", "py3-none-win_amd64")
    assert p.permissions == ("fs.read:/a", "fs.read:/b")
    s = Statement(subjects=[Subject(name="b", sha256=DIGEST), Subject(name="a", sha256=DIGEST)], predicate=p)
    assert [x.name for x in s.subjects] == ["a", "b"]
    assert Statement.from_json_bytes(s.to_json_bytes()) == s


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Acme"}, "canonical distribution name"),
        ({"version": "1.0-rc1"}, "not normalised"),
        ({"tags": []}, "must not be empty"),
        ({"tags": ["py3-none-any", "py3-none-any"]}, "sorted and unique"),
        ({"permissions": ["fs.read"]}, "invalid permission"),
        ({"entry_points": {"g": {}}}, "is empty"),
        ({"expires_at": ISSUED}, "not after issuedAt"),
    ],
)
def test_models_validate_values(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(EnvelopeFormatError, match=message) as info:
        predicate(**changes)
    assert isinstance(info.value, ValueError)
    assert info.value.code is MALFORMED


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"name": None}, TypeError),
        ({"tags": "py3-none-any"}, TypeError),
        ({"permissions": [1]}, TypeError),
        ({"entry_points": [("g", {"n": "m"})]}, TypeError),
        ({"entry_points": {"g": ["n"]}}, TypeError),
        ({"issued_at": "2026-11-22T10:00:00Z"}, TypeError),
        ({"issued_at": dt.datetime(2026, 1, 1)}, ValueError),
        (
            {"issued_at": dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))},
            ValueError,
        ),
        ({"issued_at": ISSUED.replace(microsecond=1)}, ValueError),
        ({"expires_at": ISSUED.replace(tzinfo=None)}, ValueError),
    ],
)
def test_models_check_types_and_times(changes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        predicate(**changes)


def test_statement_model_checks() -> None:
    p = predicate()
    with pytest.raises(EnvelopeFormatError, match="at least one subject"):
        Statement(subjects=[], predicate=p)
    with pytest.raises(EnvelopeFormatError, match="sorted and unique"):
        Statement(subjects=[Subject(name="a", sha256=DIGEST)] * 2, predicate=p)
    with pytest.raises(TypeError):
        Statement(subjects=["a"], predicate=p)  # type: ignore[list-item]
    with pytest.raises(TypeError):
        Statement(subjects=[Subject(name="a", sha256=DIGEST)], predicate={})  # type: ignore[arg-type]
    with pytest.raises(EnvelopeFormatError, match="not valid Unicode"):
        Subject(name="a\ud800", sha256=DIGEST)
    with pytest.raises(TypeError):
        Subject(name=b"a", sha256=DIGEST)  # type: ignore[arg-type]


def test_entry_points_are_immutable_and_hashable() -> None:
    p = predicate(entry_points={"g": {"b": "m:B", "a": "m:A"}})
    assert list(p.entry_points["g"]) == ["a", "b"]
    with pytest.raises(TypeError):
        p.entry_points["h"] = {}  # type: ignore[index]
    with pytest.raises(TypeError):
        p.entry_points["g"]["c"] = "m:C"  # type: ignore[index]
    assert hash(p) == hash(predicate(entry_points={"g": {"a": "m:A", "b": "m:B"}}))
    assert p == predicate(entry_points={"g": {"a": "m:A", "b": "m:B"}})
    assert p != predicate(entry_points={"g": {"a": "m:A"}})
    not_a_mapping: object = [("g", {"a": "m:A", "b": "m:B"})]
    assert p.entry_points != not_a_mapping
    assert "m:A" in repr(p.entry_points)
    statement = Statement(subjects=[Subject(name="a", sha256=DIGEST)], predicate=p)
    assert {statement: 1}[statement] == 1


def test_subject_map_is_a_fresh_dict() -> None:
    statement = parse(example_doc())
    statement.subject_map()["x"] = "y"
    assert "x" not in statement.subject_map()


# --- properties -----------------------------------------------------------------------------------


@given(statements())
def test_statement_round_trip(statement: Statement) -> None:
    data = statement.to_json_bytes()
    parsed = Statement.from_json_bytes(data)
    assert parsed == statement
    assert parsed.to_json_bytes() == data
    assert Statement.from_envelope(statement.to_envelope()) == statement


@given(st.binary(max_size=300))
def test_from_json_bytes_raises_only_envelope_format_error_on_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(EnvelopeFormatError):
        Statement.from_json_bytes(data)


@given(statements(max_subjects=3), st.data())
def test_from_json_bytes_raises_only_envelope_format_error_on_mutated_bytes(
    statement: Statement, data: st.DataObject
) -> None:
    mutated = data.draw(byte_mutations(statement.to_json_bytes()))
    with contextlib.suppress(EnvelopeFormatError):
        Statement.from_json_bytes(mutated)


@given(statements(max_subjects=3), st.data(), json_values)
def test_from_json_bytes_raises_only_envelope_format_error_on_mutated_documents(
    statement: Statement, data: st.DataObject, new: Any
) -> None:
    doc = json.loads(statement.to_json_bytes())
    path = data.draw(st.sampled_from(json_paths(doc)))
    mutated = replace_at(copy.deepcopy(doc), path, new)
    try:
        parsed = Statement.from_json_bytes(dumps_canonical(mutated))
    except EnvelopeFormatError:
        return
    assert parsed.to_json_bytes() == dumps_canonical(mutated)


@given(st.from_regex(r"[a-z_][a-z0-9_]*-[a-z0-9_]+-[a-z0-9_]+", fullmatch=True))
def test_a_tag_the_predicate_accepts_without_packaging_is_one_tag_to_packaging(tag: str) -> None:
    """The predicate checks tags whose interpreter is an identifier by its pattern alone: packaging agrees."""
    from packaging.tags import parse_tag

    from securehost._signing.predicate import _packaging_reads

    assert [str(parsed) for parsed in parse_tag(tag)] == [tag]
    assert _packaging_reads(tag)


def test_a_tag_with_a_numeric_interpreter_is_judged_by_packaging() -> None:
    from packaging.tags import InvalidTag, parse_tag

    from securehost._signing.predicate import _packaging_reads

    try:
        expected = [str(t) for t in parse_tag("0-0-0")] == ["0-0-0"]
    except InvalidTag:
        expected = False
    assert _packaging_reads("0-0-0") is expected


# --- a statement the host's memo says was parsed before ---------------------------------------------


def _same(a: Statement, b: Statement) -> None:
    assert a == b
    assert hash(a) == hash(b)
    assert a.to_json_bytes() == b.to_json_bytes()
    assert repr(a) == repr(b)
    assert type(a.predicate.entry_points) is type(b.predicate.entry_points)
    assert type(a.predicate.tags) is tuple
    assert type(a.subjects) is tuple


@given(statements())
def test_a_statement_parsed_before_is_rebuilt_equal_to_a_strict_parse(statement: Statement) -> None:
    data = statement.to_json_bytes()
    strict = Statement.from_json_bytes(data)
    _same(Statement.from_json_bytes(data, parsed_before=True), strict)
    rebuilt = _rebuild(data)  # the memo's path really is taken: no validator runs
    assert rebuilt is not None
    _same(rebuilt, strict)


def test_a_statement_parsed_before_keeps_capabilities_config_and_expiry() -> None:
    from securehost._signing.predicate import ConfigDeclaration

    doc = example_doc()
    doc["predicate"]["capabilities"] = ["data.transform", "text.summarise"]
    doc["predicate"]["expiresAt"] = "2027-11-22T10:00:00Z"
    config = ConfigDeclaration.from_json({"type": "object", "properties": {"n": {"type": "integer"}}}, {"n": 3})
    doc["predicate"]["config"] = config.to_json()
    data = dumps_canonical(doc)
    rebuilt = Statement.from_json_bytes(data, parsed_before=True)
    _same(rebuilt, Statement.from_json_bytes(data))
    assert rebuilt.predicate.config == config
    assert rebuilt.predicate.expires_at == dt.datetime(2027, 11, 22, 10, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "payload",
    [
        b"[]",
        b'{"subject": 1}',
        b'{"subject": [], "predicate": {}, "_type": "x", "predicateType": "y"}',
        b'{"predicate": {}}',
        b"not json",
        b'{"_type": "x", "subject": [], "predicate": 3}',
    ],
)
def test_bytes_that_do_not_have_a_statements_shape_are_parsed_strictly_even_if_the_memo_says_parsed(
    payload: bytes,
) -> None:
    with pytest.raises(EnvelopeFormatError) as info:
        Statement.from_json_bytes(payload, parsed_before=True)
    assert info.value.code is MALFORMED
