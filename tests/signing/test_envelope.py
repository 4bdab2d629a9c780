"""Strict JSON, DSSE PAE, envelope parsing, signing and per-signature checks."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable

import attrs
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from hypothesis import given
from hypothesis import strategies as st

from securehost import PublicKey, ReasonCode
from securehost._signing.envelope import (
    DEFAULT_LIMITS,
    Envelope,
    EnvelopeLimits,
    Signature,
    SignatureCheck,
    check_signatures,
    pae,
)
from securehost._signing.jsonstrict import check_keys, dumps_canonical, loads_strict
from securehost.exceptions import EnvelopeFormatError
from tests.strategies_envelope import (
    KEY_KINDS,
    byte_mutations,
    envelopes,
    json_values,
    private_key,
)

INTOTO = "application/vnd.in-toto+json"
MALFORMED = ReasonCode.ENVELOPE_MALFORMED


def strict(data: bytes, *, max_bytes: int = 1 << 20, max_depth: int = 32) -> object:
    return loads_strict(data, max_bytes=max_bytes, max_depth=max_depth)


def envelope_json(**overrides: object) -> bytes:
    doc: dict[str, object] = {
        "payload": base64.b64encode(b"hello").decode(),
        "payloadType": INTOTO,
        "signatures": [{"keyid": "k1", "sig": base64.b64encode(b"\x01" * 64).decode()}],
    }
    for key, value in overrides.items():
        if value is _DROP:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc).encode()


_DROP = object()


def sig_json(**overrides: object) -> bytes:
    sig: dict[str, object] = {"keyid": "k1", "sig": base64.b64encode(b"\x01" * 64).decode()}
    for key, value in overrides.items():
        if value is _DROP:
            del sig[key]
        else:
            sig[key] = value
    return envelope_json(signatures=[sig])


def lookup_for(*keys: PublicKey) -> dict[str, PublicKey]:
    return {k.key_id: k for k in keys}


# --- strict JSON ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b'{"a":1,"a":2}', b'{"a":{"b":[{"c":1,"c":1}]}}', b'{"x":1,"y":{},"x":1}'],
    ids=["top", "nested", "same-value"],
)
def test_rejects_duplicate_keys_at_any_depth(data: bytes) -> None:
    with pytest.raises(EnvelopeFormatError, match="duplicate object key") as info:
        strict(data)
    assert info.value.code is MALFORMED


@pytest.mark.parametrize(
    "literal",
    [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999", b"1" * 65, b"1." + b"0" * 70],
)
def test_rejects_non_finite_and_overlong_numbers(literal: bytes) -> None:
    with pytest.raises(EnvelopeFormatError):
        strict(b'{"n":' + literal + b"}")


def test_accepts_finite_numbers() -> None:
    assert strict(b'{"a":1.5e10,"b":-3,"c":0}') == {"a": 1.5e10, "b": -3, "c": 0}


def test_rejects_byte_order_mark() -> None:
    with pytest.raises(EnvelopeFormatError, match="byte order mark"):
        strict(b'\xef\xbb\xbf{"a":1}')


@pytest.mark.parametrize(
    "data",
    [b'{"a":"\xff"}', b'{"a":"\xc0\xaf"}', b'{"a":"\xed\xa0\x80"}', b'{"a":"\xe2\x82"}'],
    ids=["ff", "overlong", "encoded-surrogate", "truncated"],
)
def test_rejects_invalid_utf8(data: bytes) -> None:
    with pytest.raises(EnvelopeFormatError, match="not valid UTF-8"):
        strict(data)


def test_rejects_utf16_input() -> None:
    with pytest.raises(EnvelopeFormatError):
        strict('{"a":1}'.encode("utf-16"))


@pytest.mark.parametrize("data", [b'{"a":"\\ud800"}', b'{"\\udfff":1}', b'{"a":["x\\ud83d"]}'])
def test_rejects_unpaired_surrogate_escapes(data: bytes) -> None:
    with pytest.raises(EnvelopeFormatError, match="surrogate"):
        strict(data)


def test_accepts_paired_surrogate_escape() -> None:
    assert strict(b'{"a":"\\ud83d\\ude00"}') == {"a": "\U0001f600"}


def test_escaped_backslash_is_not_a_surrogate_escape() -> None:
    assert strict(b'{"a":"\\\\ud800"}') == {"a": "\\ud800"}


def test_rejects_oversize_input_before_parsing() -> None:
    data = b"\xff" * 101  # not even UTF-8: the size check must come first
    with pytest.raises(EnvelopeFormatError, match="exceeds the limit of 100") as info:
        strict(data, max_bytes=100)
    assert info.value.code is ReasonCode.ENVELOPE_TOO_LARGE
    assert strict(b'{"a":"' + b"x" * 92 + b'"}', max_bytes=100)


def nested_objects(depth: int) -> bytes:
    """An object nested *depth* levels deep (the top level counts as 1)."""
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


def nested_arrays(depth: int) -> bytes:
    """An object holding arrays, *depth* levels deep in all."""
    return b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize("build", [nested_objects, nested_arrays])
def test_depth_limit_is_exact(build: Callable[[int], bytes]) -> None:
    assert strict(build(6), max_depth=6)
    with pytest.raises(EnvelopeFormatError, match="deeper than 6"):
        strict(build(7), max_depth=6)


def test_depth_limit_is_exact_when_there_are_more_brackets_than_levels() -> None:
    # siblings add brackets, not depth: the bracket count no longer skips the depth walk
    for depth in (2, 6):
        wide = b'{"a":' + b"[" * (depth - 1) + b"]" * (depth - 1) + b',"s1":[],"s2":{},"s3":[]}'
        assert strict(wide, max_depth=depth) == json.loads(wide)
        with pytest.raises(EnvelopeFormatError, match=f"^JSON nests deeper than {depth - 1} levels$"):
            strict(wide, max_depth=depth - 1)


def strict_message(data: bytes, **kwargs: int) -> str:
    with pytest.raises(EnvelopeFormatError) as info:
        strict(data, **kwargs)
    return str(info.value)


def test_number_length_limit_is_exact() -> None:
    for at_limit, over in (
        (b"1" * 64, b"1" * 65),
        (b"1." + b"5" * 62, b"1." + b"5" * 63),
        (b"-" + b"1" * 63, b"-" + b"1" * 64),
    ):
        assert len(at_limit) == 64
        assert strict(b'{"n":' + at_limit + b"}") == {"n": json.loads(at_limit)}
        assert strict_message(b'{"n":' + over + b"}") == "invalid JSON: number literal longer than 64 characters"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"b":1,"a":1,"a":2}', "invalid JSON: duplicate object key 'a'"),
        (b'{"' + b"k" * 100 + b'":1,"' + b"k" * 100 + b'":2}', f"invalid JSON: duplicate object key {'k' * 80!r}"),
        (b'{"n":NaN}', "invalid JSON: non-finite number NaN is not allowed"),
        (b'{"n":-Infinity}', "invalid JSON: non-finite number -Infinity is not allowed"),
        (b'{"n":1e999}', "invalid JSON: number 1e999 is out of range"),
        (b'{"n":' + b"1" * 50 + b"e999}", f"invalid JSON: number {'1' * 40} is out of range"),
        (b'{"s":"\\ud800"}', "JSON string contains an unpaired surrogate escape"),
        (b"\xef\xbb\xbf{}", "JSON document starts with a UTF-8 byte order mark"),
        (b"[1]", "JSON document must be an object, not list"),
    ],
)
def test_strict_json_messages(data: bytes, message: str) -> None:
    assert strict_message(data) == message


def test_check_keys_message_is_bounded() -> None:
    extra = {f"x{i}": 1 for i in range(10)} | {"a" * 100: 1}  # sorts first: shown, cut to 80
    with pytest.raises(EnvelopeFormatError) as info:
        check_keys({"a": 1, **extra}, frozenset({"a", "b"}), "a thing", code=MALFORMED)
    unknown = ["a" * 80, *(f"x{i}" for i in range(7))]
    assert str(info.value) == f"a thing must have exactly the keys a, b: missing ['b'], unknown {unknown}"
    assert info.value.code is MALFORMED


def test_loads_strict_type_error_names_the_type() -> None:
    with pytest.raises(TypeError, match=r"^data must be bytes, not str$"):
        loads_strict("{}", max_bytes=10, max_depth=2)  # type: ignore[arg-type]


@pytest.mark.parametrize("depth", [33, 500, 100_000])
def test_rejects_deep_nesting_without_crashing(depth: int) -> None:
    data = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(EnvelopeFormatError, match="deeper than 32"):
        strict(data)


@pytest.mark.parametrize("data", [b"[]", b'"x"', b"1", b"null", b"true", b"[{}]"])
def test_top_level_must_be_an_object(data: bytes) -> None:
    with pytest.raises(EnvelopeFormatError, match="must be an object"):
        strict(data)


@pytest.mark.parametrize("data", [b"", b" ", b"{", b'{"a":1} {}', b'{"a":1},', b"{'a':1}", b'{"a":"\x01"}', b"{a:1}"])
def test_rejects_invalid_json(data: bytes) -> None:
    with pytest.raises(EnvelopeFormatError, match="invalid JSON"):
        strict(data)


def test_loads_strict_rejects_str_input() -> None:
    with pytest.raises(TypeError):
        strict('{"a":1}')  # type: ignore[arg-type]


def test_dumps_canonical_sorts_keys_and_keeps_unicode() -> None:
    assert dumps_canonical({"b": [1, {"d": 1, "c": "é"}], "a": None}) == ('{"a":null,"b":[1,{"c":"é","d":1}]}'.encode())
    with pytest.raises(ValueError, match="Out of range"):
        dumps_canonical({"a": float("nan")})


@given(st.binary(max_size=200))
def test_loads_strict_raises_only_envelope_format_error_on_arbitrary_bytes(data: bytes) -> None:
    try:
        result = strict(data, max_depth=4)
    except EnvelopeFormatError:
        return
    assert isinstance(result, dict)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_canonical_json_round_trips(value: dict[str, object]) -> None:
    data = dumps_canonical(value)
    assert strict(data, max_depth=64) == value
    assert dumps_canonical(strict(data, max_depth=64)) == data


# --- PAE ------------------------------------------------------------------------------------------


# The example in the DSSE protocol specification (protocol.md, "Test Vectors").
def test_pae_protocol_example() -> None:
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


STATEMENT_STUB = b'{"_type":"https://in-toto.io/Statement/v1"}'


# Vectors from secure-systems-lab/dsse testvectors/vectors.json (hex PAEs).
@pytest.mark.parametrize(
    ("payload_type", "payload", "expected_hex"),
    [
        (
            INTOTO,
            STATEMENT_STUB,
            "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e2034"
            "33207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e74"
            "2f7631227d",
        ),
        (
            "application/vnd.exämple+json",
            STATEMENT_STUB,
            "445353457631203239206170706c69636174696f6e2f766e642e6578c3a46d706c652b6a736f6e20"
            "3433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e696f2f53746174656d656e"
            "742f7631227d",
        ),
        (
            INTOTO,
            b"",
            "445353457631203238206170706c69636174696f6e2f766e642e696e2d746f746f2b6a736f6e203020",
        ),
        (
            "",
            STATEMENT_STUB,
            "445353457631203020203433207b225f74797065223a2268747470733a2f2f696e2d746f746f2e69"
            "6f2f53746174656d656e742f7631227d",
        ),
    ],
    ids=["in-toto", "non-ascii-type", "empty-payload", "empty-type"],
)
def test_pae_vectors(payload_type: str, payload: bytes, expected_hex: str) -> None:
    assert pae(payload_type, payload) == bytes.fromhex(expected_hex)
    assert Envelope(payload=payload, payload_type=payload_type).pae() == bytes.fromhex(expected_hex)


def test_pae_length_is_bytes_not_characters() -> None:
    assert pae("ä", b"\xff\xfe") == b"DSSEv1 2 \xc3\xa4 2 \xff\xfe"


def test_pae_rejects_wrong_types() -> None:
    with pytest.raises(TypeError):
        pae(b"type", b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        pae("type", "x")  # type: ignore[arg-type]


# RFC 8032 test keys 1 and 2, as used by the DSSE test vectors.
SEED_A = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
SEED_B = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
SIG_A = "2WAfaHm5jluo0w+0rk8uVkluELJYWjSmU9x7EUzx+AyteDGJ4/nqyJXfmAUVFIAoQafWm7AxBZNw5M9ixNHiCA=="
SIG_B = "c1+67/aT0yqEpwx8PsVY3MLHsj9D0CZ014/Fv/QlG59P+9CobUZ7xECJ/V3USG0Ob9CiE5LjReEZUzNF2l7eBw=="


def vector_key(seed: bytes) -> PublicKey:
    return PublicKey.from_crypto(ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key())


def vector_envelope(payload_type: str, *sigs: tuple[PublicKey, str]) -> bytes:
    return json.dumps(
        {
            "payload": base64.b64encode(STATEMENT_STUB).decode(),
            "payloadType": payload_type,
            "signatures": [{"keyid": k.key_id, "sig": s} for k, s in sigs],
        }
    ).encode()


def test_dsse_vector_single_signature_verifies() -> None:
    key_a = vector_key(SEED_A)
    envelope = Envelope.from_bytes(vector_envelope(INTOTO, (key_a, SIG_A)))
    assert [c.status for c in check_signatures(envelope, lookup_for(key_a).get)] == ["valid"]


def test_dsse_vector_payload_type_swap_fails() -> None:
    key_a = vector_key(SEED_A)
    envelope = Envelope.from_bytes(vector_envelope("application/vnd.example.other+json", (key_a, SIG_A)))
    assert [c.status for c in check_signatures(envelope, lookup_for(key_a).get)] == ["invalid"]


def test_dsse_vector_two_keys_and_one_key_twice() -> None:
    key_a, key_b = vector_key(SEED_A), vector_key(SEED_B)
    lookup = lookup_for(key_a, key_b).get
    two = Envelope.from_bytes(vector_envelope(INTOTO, (key_a, SIG_A), (key_b, SIG_B)))
    assert [c.status for c in check_signatures(two, lookup)] == ["valid", "valid"]
    twice = Envelope.from_bytes(vector_envelope(INTOTO, (key_a, SIG_A), (key_a, SIG_A)))
    assert [c.status for c in check_signatures(twice, lookup)] == ["valid", "duplicate"]


def test_dsse_url_safe_base64_is_rejected_by_design() -> None:
    data = json.dumps(
        {"payload": "-_-_Pj8=", "payloadType": INTOTO, "signatures": [{"keyid": "A", "sig": SIG_A}]}
    ).encode()
    with pytest.raises(EnvelopeFormatError, match="standard base64"):
        Envelope.from_bytes(data)


# --- envelope parsing -----------------------------------------------------------------------------


def test_parses_minimal_envelope() -> None:
    envelope = Envelope.from_bytes(envelope_json())
    assert envelope == Envelope(
        payload=b"hello", payload_type=INTOTO, signatures=(Signature(keyid="k1", sig=b"\x01" * 64),)
    )


def test_envelope_without_signatures_parses() -> None:
    envelope = Envelope.from_bytes(envelope_json(signatures=[]))
    assert envelope.signatures == ()
    assert check_signatures(envelope, lambda _: None) == ()


def test_empty_payload_parses() -> None:
    assert Envelope.from_bytes(envelope_json(payload="")).payload == b""


@pytest.mark.parametrize("key", ["payload", "payloadType", "signatures"])
def test_rejects_missing_envelope_key(key: str) -> None:
    with pytest.raises(EnvelopeFormatError, match=f"missing \\['{key}'\\]") as info:
        Envelope.from_bytes(envelope_json(**{key: _DROP}))
    assert info.value.code is MALFORMED


@pytest.mark.parametrize("key", ["payload_type", "PayloadType", "extra", "signature"])
def test_rejects_unknown_envelope_key(key: str) -> None:
    with pytest.raises(EnvelopeFormatError, match=f"unknown \\['{key}'\\]"):
        Envelope.from_bytes(envelope_json(**{key: "x"}))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("payload", 5, "payload must be a string"),
        ("payload", None, "payload must be a string"),
        ("payload", ["aGk="], "payload must be a string"),
        ("payloadType", 1, "payloadType must be a string"),
        ("payloadType", "", "payloadType must be 1 to 256"),
        ("payloadType", "x" * 257, "payloadType must be 1 to 256"),
        ("payloadType", "application/x\n", "printable"),
        ("payloadType", "application/\u202ex", "printable"),
        ("signatures", {}, "signatures must be an array"),
        ("signatures", "sig", "signatures must be an array"),
    ],
)
def test_rejects_wrong_envelope_values(key: str, value: object, message: str) -> None:
    with pytest.raises(EnvelopeFormatError, match=message):
        Envelope.from_bytes(envelope_json(**{key: value}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("aGVsbG8", "not valid standard base64"),  # padding missing
        ("aGVs bG8=", "not valid standard base64"),
        ("aGVsbG8=\n", "not valid standard base64"),
        ("aGVsbG8-", "not valid standard base64"),  # URL-safe alphabet
        ("_-8=", "not valid standard base64"),
        ("aGVsbG9=", "canonical"),  # non-zero padding bits: decodes to b"hello" too
        ("QR==", "canonical"),
        ("aGk=aGk=", "not valid standard base64"),
        ("é===", "not valid standard base64"),
    ],
)
def test_rejects_bad_payload_base64(text: str, message: str) -> None:
    with pytest.raises(EnvelopeFormatError, match=message):
        Envelope.from_bytes(envelope_json(payload=text))


def test_rejects_too_many_signatures() -> None:
    sig = {"keyid": "k", "sig": base64.b64encode(b"s").decode()}
    assert len(Envelope.from_bytes(envelope_json(signatures=[sig] * 64)).signatures) == 64
    with pytest.raises(EnvelopeFormatError, match="65 signatures, more than the limit of 64"):
        Envelope.from_bytes(envelope_json(signatures=[sig] * 65))
    with pytest.raises(EnvelopeFormatError, match="limit of 2"):
        Envelope.from_bytes(envelope_json(signatures=[sig] * 3), limits=EnvelopeLimits(max_signatures=2))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"keyid": _DROP}, "missing \\['keyid'\\]"),
        ({"sig": _DROP}, "missing \\['sig'\\]"),
        ({"extra": "x"}, "unknown \\['extra'\\]"),
        ({"keyid": 1}, "keyid must be a string"),
        ({"keyid": None}, "keyid must be a string"),
        ({"keyid": ""}, "keyid must be 1 to 256"),
        ({"keyid": "k" * 257}, "keyid must be 1 to 256"),
        ({"keyid": "k\x00"}, "printable"),
        ({"sig": 7}, "sig must be a string"),
        ({"sig": ""}, "must be 1 to 1024 bytes, got 0"),
        ({"sig": "!!!!"}, "not valid standard base64"),
        ({"sig": "AQ"}, "not valid standard base64"),
        ({"sig": base64.b64encode(b"x" * 1025).decode()}, "1 to 1024 bytes, got 1025"),
        ({"sig": base64.b64encode(b"x" * 1024).decode() + "===="}, "longer than 1024 bytes"),
    ],
)
def test_rejects_bad_signature_entries(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(EnvelopeFormatError, match=message) as info:
        Envelope.from_bytes(sig_json(**overrides))
    assert info.value.code is MALFORMED


def test_signature_length_limit_is_exact() -> None:
    at_limit = sig_json(sig=base64.b64encode(b"x" * 1024).decode())
    assert len(Envelope.from_bytes(at_limit).signatures[0].sig) == 1024
    small = EnvelopeLimits(max_signature_bytes=10)
    with pytest.raises(EnvelopeFormatError, match="1 to 10 bytes, got 11"):
        Envelope.from_bytes(sig_json(sig=base64.b64encode(b"x" * 11).decode()), limits=small)


@pytest.mark.parametrize("entry", ["sig", 1, None, ["k", "s"]])
def test_rejects_signature_that_is_not_an_object(entry: object) -> None:
    with pytest.raises(EnvelopeFormatError, match="each signature must be an object"):
        Envelope.from_bytes(envelope_json(signatures=[entry]))


def test_rejects_oversize_envelope_with_its_own_code() -> None:
    data = envelope_json(payload=base64.b64encode(b"x" * 300).decode())
    with pytest.raises(EnvelopeFormatError) as info:
        Envelope.from_bytes(data, limits=EnvelopeLimits(max_envelope_bytes=len(data) - 1))
    assert info.value.code is ReasonCode.ENVELOPE_TOO_LARGE
    assert Envelope.from_bytes(data, limits=EnvelopeLimits(max_envelope_bytes=len(data)))


def test_default_limits() -> None:
    assert EnvelopeLimits() == DEFAULT_LIMITS
    assert DEFAULT_LIMITS.max_envelope_bytes == 8 * 1024 * 1024
    assert DEFAULT_LIMITS.max_signatures == 64
    assert DEFAULT_LIMITS.max_subjects == 100_000
    assert DEFAULT_LIMITS.max_depth == 32
    assert DEFAULT_LIMITS.max_permissions == 256
    assert DEFAULT_LIMITS.max_entry_points == 1024
    assert DEFAULT_LIMITS.max_keyid_length == 256


@pytest.mark.parametrize("value", [0, -1])
def test_limits_must_be_positive(value: int) -> None:
    with pytest.raises(ValueError, match="max_depth must be positive"):
        EnvelopeLimits(max_depth=value)


@pytest.mark.parametrize("value", [True, 1.5, "3", None])
def test_limits_must_be_ints(value: object) -> None:
    with pytest.raises(TypeError, match="max_depth must be an int"):
        EnvelopeLimits(max_depth=value)  # type: ignore[arg-type]


# --- serialisation and signatures -----------------------------------------------------------------


def test_to_bytes_is_canonical() -> None:
    envelope = Envelope(
        payload=b"hi",
        payload_type="t/ä",
        signatures=(Signature(keyid="b", sig=b"\x02"), Signature(keyid="a", sig=b"\x01")),
    )
    assert envelope.to_bytes() == (
        '{"payload":"aGk=","payloadType":"t/ä","signatures":'
        '[{"keyid":"b","sig":"Ag=="},{"keyid":"a","sig":"AQ=="}]}'.encode()
    )


def test_model_constructors_check_types() -> None:
    with pytest.raises(TypeError):
        Envelope(payload="x", payload_type="t")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Envelope(payload=b"x", payload_type=b"t")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Envelope(payload=b"x", payload_type="t", signatures=[])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Signature(keyid="k", sig="s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not encodable"):
        Envelope(payload=b"x", payload_type="\ud800")
    assert "bytes" in repr(Signature(keyid="k", sig=b"\x00" * 5))


def test_add_signature_replaces_in_place_and_appends() -> None:
    base = Envelope(payload=b"p", payload_type="t")
    one = base.add_signature("a", b"1").add_signature("b", b"2").add_signature("c", b"3")
    assert [s.keyid for s in one.signatures] == ["a", "b", "c"]
    replaced = one.add_signature("b", b"9")
    assert [(s.keyid, s.sig) for s in replaced.signatures] == [
        ("a", b"1"),
        ("b", b"9"),
        ("c", b"3"),
    ]
    assert one.signatures[1].sig == b"2"  # the original is unchanged


def test_add_signature_collapses_duplicates() -> None:
    dup = Envelope(
        payload=b"p",
        payload_type="t",
        signatures=(
            Signature(keyid="a", sig=b"1"),
            Signature(keyid="b", sig=b"2"),
            Signature(keyid="a", sig=b"3"),
        ),
    )
    assert [(s.keyid, s.sig) for s in dup.add_signature("a", b"x").signatures] == [
        ("a", b"x"),
        ("b", b"2"),
    ]


@pytest.mark.parametrize(
    ("keyid", "sig", "error"),
    [(1, b"s", TypeError), ("k", "s", TypeError), ("", b"s", ValueError), ("k", b"", ValueError)],
)
def test_add_signature_rejects_bad_arguments(keyid: object, sig: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        Envelope(payload=b"p", payload_type="t").add_signature(keyid, sig)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KEY_KINDS)
def test_sign_and_verify_each_key_type(kind: str) -> None:
    key = private_key(kind)
    envelope = Envelope(payload=STATEMENT_STUB, payload_type=INTOTO).sign(key)
    (sig,) = envelope.signatures
    assert sig.keyid == key.key_id
    assert envelope.verify_signature(sig, key.public_key)
    other = private_key(kind, 1).public_key
    assert not envelope.verify_signature(sig, other)
    tampered = attrs.evolve(envelope, payload=STATEMENT_STUB + b" ")
    assert not tampered.verify_signature(sig, key.public_key)
    retyped = attrs.evolve(envelope, payload_type="application/json")
    assert not retyped.verify_signature(sig, key.public_key)
    reparsed = Envelope.from_bytes(envelope.to_bytes())
    assert reparsed.verify_signature(reparsed.signatures[0], key.public_key)


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256", "ecdsa-p384"])
def test_signing_is_deterministic_for_ed25519_and_ecdsa(kind: str) -> None:
    envelope = Envelope(payload=STATEMENT_STUB, payload_type=INTOTO)
    assert envelope.sign(private_key(kind)).to_bytes() == envelope.sign(private_key(kind)).to_bytes()


def test_signing_again_replaces_the_signature_and_keeps_the_payload() -> None:
    ed, ec = private_key("ed25519"), private_key("ecdsa-p256")
    envelope = Envelope(payload=STATEMENT_STUB, payload_type=INTOTO).sign(ed).sign(ec).sign(ed)
    assert [s.keyid for s in envelope.signatures] == [ed.key_id, ec.key_id]
    assert envelope.payload == STATEMENT_STUB
    checks = check_signatures(envelope, lookup_for(ed.public_key, ec.public_key).get)
    assert [c.status for c in checks] == ["valid", "valid"]


def test_sign_rejects_non_keys() -> None:
    with pytest.raises(TypeError):
        Envelope(payload=b"p", payload_type="t").sign(private_key("ed25519").public_key)  # type: ignore[arg-type]


def test_verify_signature_requires_matching_keyid() -> None:
    key = private_key("ed25519")
    envelope = Envelope(payload=b"p", payload_type="t").sign(key)
    relabelled = Signature(keyid="someone-else", sig=envelope.signatures[0].sig)
    assert not envelope.verify_signature(relabelled, key.public_key)


def test_verify_signature_rejects_wrong_argument_types() -> None:
    envelope = Envelope(payload=b"p", payload_type="t")
    with pytest.raises(TypeError):
        envelope.verify_signature(b"sig", private_key("ed25519").public_key)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        envelope.verify_signature(Signature(keyid="k", sig=b"s"), private_key("ed25519"))  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", KEY_KINDS)
@given(garbage=st.binary(min_size=1, max_size=1100))
def test_garbage_signatures_never_verify_and_never_raise(kind: str, garbage: bytes) -> None:
    key = private_key(kind)
    envelope = Envelope(payload=b"p", payload_type="t")
    assert not envelope.verify_signature(Signature(keyid=key.key_id, sig=garbage), key.public_key)


def test_rsa_signature_above_the_modulus_does_not_verify() -> None:
    key = private_key("rsa-3072")
    envelope = Envelope(payload=b"p", payload_type="t")
    assert not envelope.verify_signature(Signature(keyid=key.key_id, sig=b"\xff" * 384), key.public_key)


def test_cross_algorithm_signature_does_not_verify() -> None:
    """The key decides the algorithm: an Ed25519 signature labelled with an ECDSA key id fails."""
    ed, ec = private_key("ed25519"), private_key("ecdsa-p256")
    envelope = Envelope(payload=b"p", payload_type="t").sign(ed)
    forged = Signature(keyid=ec.key_id, sig=envelope.signatures[0].sig)
    assert not envelope.verify_signature(forged, ec.public_key)


# --- check_signatures -----------------------------------------------------------------------------


def test_check_signatures_reports_every_status() -> None:
    good, bad, unknown = (
        private_key("ed25519"),
        private_key("ecdsa-p256"),
        private_key("ed25519", 1),
    )
    envelope = Envelope(payload=b"p", payload_type="t").sign(good).sign(unknown)
    envelope = envelope.add_signature(bad.key_id, b"\x30\x00")
    envelope = attrs.evolve(envelope, signatures=(*envelope.signatures, envelope.signatures[0]))
    checks = check_signatures(envelope, lookup_for(good.public_key, bad.public_key).get)
    assert checks == (
        SignatureCheck(keyid=good.key_id, status="valid", key=good.public_key),
        SignatureCheck(keyid=unknown.key_id, status="unknown-key"),
        SignatureCheck(keyid=bad.key_id, status="invalid", key=bad.public_key),
        SignatureCheck(keyid=good.key_id, status="duplicate"),
    )
    assert [c.valid for c in checks] == [True, False, False, False]
    assert [c.reason_code for c in checks] == [
        None,
        ReasonCode.KEY_UNKNOWN,
        ReasonCode.SIGNATURE_INVALID,
        ReasonCode.DUPLICATE_SIGNATURE,
    ]


def test_a_bad_signature_does_not_hide_a_good_one_with_the_same_keyid() -> None:
    """DSSE: the key id is a hint. A forged signature put first must not make the real one go unchecked."""
    key = private_key("ed25519")
    signed = Envelope(payload=b"p", payload_type="t").sign(key)
    bad = Signature(keyid=key.key_id, sig=b"\x00" * 64)
    envelope = attrs.evolve(signed, signatures=(bad, *signed.signatures, *signed.signatures, bad))
    calls: list[str] = []

    def lookup(keyid: str) -> PublicKey | None:
        calls.append(keyid)
        return key.public_key

    assert [c.status for c in check_signatures(envelope, lookup)] == ["invalid", "valid", "duplicate", "duplicate"]
    assert calls == [key.key_id, key.key_id]  # once valid, the key is not tried again


def test_repeated_unknown_keyids_are_looked_up_once() -> None:
    key = private_key("ed25519")
    signed = Envelope(payload=b"p", payload_type="t").sign(key)
    envelope = attrs.evolve(signed, signatures=signed.signatures * 3)
    calls: list[str] = []

    def lookup(keyid: str) -> PublicKey | None:
        calls.append(keyid)
        return None

    assert [c.status for c in check_signatures(envelope, lookup)] == ["unknown-key", "duplicate", "duplicate"]
    assert calls == [key.key_id]


def test_check_signatures_with_mismatched_lookup_key_is_invalid() -> None:
    key, other = private_key("ed25519"), private_key("ed25519", 1)
    envelope = Envelope(payload=b"p", payload_type="t").sign(key)
    assert [c.status for c in check_signatures(envelope, lambda _: other.public_key)] == ["invalid"]


def test_check_signatures_rejects_bad_arguments() -> None:
    envelope = Envelope(payload=b"p", payload_type="t").add_signature("k", b"s")
    with pytest.raises(TypeError, match="lookup must return"):
        check_signatures(envelope, lambda _: "key")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError):
        check_signatures(envelope.to_bytes(), lambda _: None)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------------------


@given(envelopes)
def test_envelope_round_trip(envelope: Envelope) -> None:
    data = envelope.to_bytes()
    parsed = Envelope.from_bytes(data)
    assert parsed == envelope
    assert parsed.to_bytes() == data


@pytest.mark.parametrize("kind", KEY_KINDS)
@given(payload=st.binary(max_size=200), payload_type=st.sampled_from([INTOTO, "t", "é/x"]))
def test_sign_then_verify(kind: str, payload: bytes, payload_type: str) -> None:
    key = private_key(kind)
    envelope = Envelope.from_bytes(Envelope(payload=payload, payload_type=payload_type).sign(key).to_bytes())
    assert [c.status for c in check_signatures(envelope, lookup_for(key.public_key).get)] == ["valid"]


def _never_verifies(data: bytes, lookup: dict[str, PublicKey]) -> None:
    try:
        envelope = Envelope.from_bytes(data)
    except EnvelopeFormatError:
        return
    assert not any(c.valid for c in check_signatures(envelope, lookup.get))


def _signed_envelope_bytes() -> tuple[bytes, dict[str, PublicKey]]:
    ed, ec = private_key("ed25519"), private_key("ecdsa-p256")
    envelope = Envelope(payload=STATEMENT_STUB, payload_type=INTOTO).sign(ed)
    return envelope.to_bytes(), lookup_for(ed.public_key, ec.public_key)


def test_every_single_bit_flip_fails_to_parse_or_to_verify() -> None:
    data, lookup = _signed_envelope_bytes()
    for index in range(len(data)):
        for bit in range(8):
            mutated = bytearray(data)
            mutated[index] ^= 1 << bit
            _never_verifies(bytes(mutated), lookup)


def _flip(raw: bytes, data: st.DataObject) -> bytes:
    index = data.draw(st.integers(0, len(raw) - 1))
    mutated = bytearray(raw)
    mutated[index] ^= data.draw(st.integers(1, 255))
    return bytes(mutated)


@pytest.mark.parametrize("kind", KEY_KINDS)
@given(data=st.data())
def test_flipping_any_byte_never_verifies(kind: str, data: st.DataObject) -> None:
    key = private_key(kind)
    raw = Envelope(payload=STATEMENT_STUB, payload_type=INTOTO).sign(key).to_bytes()
    _never_verifies(_flip(raw, data), lookup_for(key.public_key))


@given(st.data())
def test_flipping_any_byte_of_a_two_signature_envelope_leaves_at_most_one_valid(
    data: st.DataObject,
) -> None:
    ed, ec = private_key("ed25519"), private_key("ecdsa-p256")
    raw = Envelope(payload=STATEMENT_STUB, payload_type=INTOTO).sign(ec).sign(ed).to_bytes()
    try:
        parsed = Envelope.from_bytes(_flip(raw, data))
    except EnvelopeFormatError:
        return
    checks = check_signatures(parsed, lookup_for(ed.public_key, ec.public_key).get)
    assert sum(c.valid for c in checks) < 2


@given(st.binary(max_size=300))
def test_from_bytes_raises_only_envelope_format_error_on_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(EnvelopeFormatError):
        Envelope.from_bytes(data)


@given(st.data())
def test_from_bytes_raises_only_envelope_format_error_on_mutated_envelopes(
    data: st.DataObject,
) -> None:
    raw, lookup = _signed_envelope_bytes()
    try:
        envelope = Envelope.from_bytes(data.draw(byte_mutations(raw)))
    except EnvelopeFormatError:
        return
    check_signatures(envelope, lookup.get)


@given(
    st.dictionaries(st.sampled_from(["payload", "payloadType", "signatures", "x"]), json_values, max_size=4),
    st.lists(st.dictionaries(st.sampled_from(["keyid", "sig", "y"]), json_values), max_size=3),
)
def test_from_bytes_raises_only_envelope_format_error_on_arbitrary_json(
    doc: dict[str, object], sigs: list[dict[str, object]]
) -> None:
    for candidate in (doc, {**doc, "signatures": sigs}):
        with contextlib.suppress(EnvelopeFormatError):
            Envelope.from_bytes(json.dumps(candidate).encode())


# --- limits at N and N+1, and the exact message of every rejection ---------------------------------


def message_of(data: bytes, limits: EnvelopeLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(EnvelopeFormatError) as info:
        Envelope.from_bytes(data, limits=limits)
    return str(info.value)


def test_key_id_and_payload_type_lengths_are_limits_at_n_and_n_plus_1() -> None:
    limits = EnvelopeLimits(max_keyid_length=5, max_payload_type_length=len(INTOTO))
    assert Envelope.from_bytes(sig_json(keyid="k" * 5), limits=limits).signatures[0].keyid == "k" * 5
    assert (
        message_of(sig_json(keyid="k" * 6), limits)
        == "signature keyid must be 1 to 5 printable characters, got 'kkkkkk'"
    )
    limits = EnvelopeLimits(max_payload_type_length=7)
    assert Envelope.from_bytes(envelope_json(payloadType="t" * 7), limits=limits).payload_type == "t" * 7
    assert message_of(envelope_json(payloadType="t" * 8), limits) == (
        "envelope payloadType must be 1 to 7 printable characters, got 'tttttttt'"
    )


def test_limits_of_one_are_valid() -> None:
    limits = EnvelopeLimits(max_signatures=1, max_keyid_length=1, max_signature_bytes=1)
    envelope = Envelope.from_bytes(sig_json(keyid="k", sig="AQ=="), limits=limits)
    assert envelope.signatures == (Signature(keyid="k", sig=b"\x01"),)


def test_signature_text_longer_than_any_encoding_of_the_limit_is_refused_before_decoding() -> None:
    # 4 * ceil(n / 3) characters encode at most n bytes: one more character is refused unread
    for limit, longest in ((3, 4), (1001, 1336)):
        limits = EnvelopeLimits(max_signature_bytes=limit)
        too_long = "A" * (longest + 1)  # not base64 either: the length check comes first
        assert message_of(sig_json(sig=too_long), limits) == f"signature by 'k1' is longer than {limit} bytes"
    assert len(Envelope.from_bytes(sig_json(sig="AAAA"), limits=EnvelopeLimits(max_signature_bytes=3)).signatures) == 1
    assert message_of(sig_json(sig="A" * 1336), EnvelopeLimits(max_signature_bytes=1001)) == (
        "signature by 'k1' must be 1 to 1001 bytes, got 1002"
    )


def test_messages_show_at_most_80_characters_of_untrusted_text() -> None:
    long = "k" * 300
    shown = repr("k" * 80)
    assert message_of(sig_json(keyid=long)) == f"signature keyid must be 1 to 256 printable characters, got {shown}"
    assert message_of(envelope_json(payloadType=long)) == (
        f"envelope payloadType must be 1 to 256 printable characters, got {shown}"
    )
    assert message_of(sig_json(keyid="k" * 200, sig="A" * 2000)) == f"signature by {shown} is longer than 1024 bytes"
    big = base64.b64encode(bytes(1025)).decode()
    assert message_of(sig_json(keyid="k" * 200, sig=big)) == f"signature by {shown} must be 1 to 1024 bytes, got 1025"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (envelope_json(payload=5), "envelope payload must be a string, not int"),
        (envelope_json(payloadType=1), "envelope payloadType must be a string, not int"),
        (envelope_json(signatures={}), "envelope signatures must be an array, not dict"),
        (envelope_json(signatures=[[]]), "each signature must be an object, not list"),
        (sig_json(keyid=1.5), "signature keyid must be a string, not float"),
        (sig_json(sig=True), "signature sig must be a string, not bool"),
        (
            envelope_json(payload="aGk"),
            "envelope payload is not valid standard base64: Incorrect padding",
        ),
        (sig_json(sig="QR=="), "signature sig is not in canonical base64 form (non-zero padding bits)"),
        (
            envelope_json(extra=1),
            "the envelope must have exactly the keys payload, payloadType, signatures: missing [], unknown ['extra']",
        ),
        (
            sig_json(keyid=_DROP),
            "a signature must have exactly the keys keyid, sig: missing ['keyid'], unknown []",
        ),
    ],
)
def test_rejection_messages(data: bytes, message: str) -> None:
    assert message_of(data) == message


def test_caller_mistakes_raise_with_messages() -> None:
    envelope = Envelope(payload=b"p", payload_type="t")
    key = private_key("ed25519")
    with pytest.raises(TypeError, match=r"^payload_type must be str and payload must be bytes$"):
        pae(b"t", b"p")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^payload_type must be a str, not bytes$"):
        Envelope(payload=b"p", payload_type=b"t")  # type: ignore[arg-type]
    for keyid, sig in ((1, b"s"), ("k", "s")):
        with pytest.raises(TypeError, match=r"^keyid must be str and sig must be bytes$"):
            envelope.add_signature(keyid, sig)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^keyid and sig must not be empty$"):
        envelope.add_signature("", b"s")
    with pytest.raises(TypeError, match=r"^private_key must be a securehost.PrivateKey, not PublicKey$"):
        envelope.sign(key.public_key)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^sig must be a Signature and key a securehost.PublicKey$"):
        envelope.verify_signature(b"s", key.public_key)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^envelope must be an Envelope, not bytes$"):
        check_signatures(b"{}", {}.get)  # type: ignore[arg-type]
    signed = envelope.sign(key)
    with pytest.raises(TypeError, match=r"^lookup must return a securehost.PublicKey or None, not str$"):
        check_signatures(signed, lambda _keyid: "a key")  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match=r"^max_depth must be an int, not str$"):
        EnvelopeLimits(max_depth="3")  # type: ignore[arg-type]


# --- an envelope the host's memo says was parsed before ---------------------------------------------


@given(envelopes)
def test_an_envelope_parsed_before_is_rebuilt_equal_to_a_strict_parse(envelope: Envelope) -> None:
    from securehost._signing.envelope import _rebuild

    data = envelope.to_bytes()
    strict = Envelope.from_bytes(data)
    rebuilt = _rebuild(data)  # the memo's path really is taken
    assert rebuilt is not None
    for other in (rebuilt, Envelope.from_bytes(data, parsed_before=True)):
        assert other == strict
        assert hash(other) == hash(strict)
        assert repr(other) == repr(strict)
        assert other.to_bytes() == data
        assert all(type(s) is Signature for s in other.signatures)


@pytest.mark.parametrize(
    "data",
    [b"[]", b"not json", b'{"payload": 1, "payloadType": "t", "signatures": []}', b'{"signatures": [{}]}'],
)
def test_bytes_without_an_envelopes_shape_are_parsed_strictly_even_if_the_memo_says_parsed(data: bytes) -> None:
    with pytest.raises(EnvelopeFormatError):
        Envelope.from_bytes(data, parsed_before=True)
