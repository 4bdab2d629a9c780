"""The fast paths of the codec give the verdicts of the long way: ``is_plain`` and ``walk``, typed and untyped decoding.

Every frame is checked twice over in principle: once by a quick test that says yes or no (``is_plain`` on the sending
side, msgspec's typed decoders on the receiving side) and, for anything the quick test refuses, by the long way that
says why. These tests hold the quick tests to the long way's answer, on hostile shapes too.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import uuid
from collections import OrderedDict
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from securehost._isolation import codec
from securehost._isolation.codec import (
    DEFAULT_LIMITS,
    HANDLE_EXT_CODE,
    Call,
    Result,
    decode_host_frame,
    decode_worker_frame,
    encode_host_frame,
    encode_reply,
)
from securehost._isolation.frames import TYPED_DEPTH
from securehost._isolation.values import RejectError, is_plain, refuse, walk
from securehost.exceptions import ProtocolViolationError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
raw = msgspec.msgpack.encode
PAYLOAD = {"id": 7, "name": "small", "values": [1, 2, 3]}


class Small(enum.IntEnum):
    ONE = 1


class Text(str):
    __slots__ = ()


def nested(depth: int, leaf: object = 0) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


# Anything a host or a plugin might pass: plain data, and what is not (exact types only count as plain).
oddities = st.sampled_from(
    [
        {1, 2}, frozenset(), bytearray(b"x"), memoryview(b"x"), Small.ONE, Text("x"), decimal.Decimal("1.5"),
        uuid.UUID(int=1), datetime.datetime(2024, 1, 1), OrderedDict(a=1), 2**63, -(2**63) - 1, 2**64, 1j,
        print, object(), Ellipsis,
    ]
)  # fmt: skip
scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8)
)
values = st.recursive(
    scalars | oddities,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4) | st.integers(0, 3), inner, max_size=4)
    ),
    max_leaves=20,
)


def walk_says(value: object, limit: int, depth: int = 0) -> bool:
    try:
        walk(value, refuse, limit, depth)
    except RejectError:
        return False
    return True


@given(value=values, limit=st.integers(0, 5), depth=st.integers(-1, 2))
def test_is_plain_agrees_with_walk(value: object, limit: int, depth: int) -> None:
    assert is_plain(value, limit, depth) == walk_says(value, limit, depth)


def test_is_plain_at_the_limits() -> None:
    limit = DEFAULT_LIMITS.max_depth
    assert is_plain(nested(limit), limit)
    assert not is_plain(nested(limit + 1), limit)
    assert is_plain({"a": nested(limit - 2, {})}, limit)  # limit containers: the dict, the lists, the inner dict
    assert not is_plain({"a": nested(limit - 1, {})}, limit)
    assert is_plain([INT64_MIN, INT64_MAX, True, None, 1.5, "s", b"b"], limit)
    for bad in (INT64_MAX + 1, INT64_MIN - 1, Small.ONE, Text("x"), {1: 1}, {Text("k"): 1}, (set(),)):
        assert not is_plain([bad], limit), bad


# Well-formed msgpack of any shape, with what only a hostile peer sends: handles, other extension types,
# timestamps, uint64, non-str keys, deep nesting.
wire_scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, 2**64 - 1)
    | st.floats()
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.sampled_from(
        [
            msgspec.msgpack.Ext(HANDLE_EXT_CODE, bytes(8)),
            msgspec.msgpack.Ext(5, b"x"),
            datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
            nested(TYPED_DEPTH),
            nested(TYPED_DEPTH + 1),
            nested(DEFAULT_LIMITS.max_depth + 1),
        ]
    )
)
wire = st.recursive(
    wire_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4) | st.integers(0, 3), inner, max_size=4)
    ),
    max_leaves=20,
)
NEVER: Any = msgspec.msgpack.Decoder(msgspec.Raw | None)  # refuses every frame: only the long way is left


def long_way(decode: Any, data: bytes) -> object:
    with mock.patch.object(codec, "_TYPED_RESULT", NEVER), mock.patch.object(codec, "_TYPED_CALL", NEVER):
        try:
            return decode(data)
        except ProtocolViolationError as exc:
            return ("refused", str(exc))


def both_ways(decode: Any, data: bytes) -> tuple[bytes, bytes]:
    """Both verdicts, encoded: equal bytes mean equal frames, NaN included (NaN != NaN as an object)."""
    try:
        fast: object = decode(data)
    except ProtocolViolationError as exc:
        fast = ("refused", str(exc))
    return raw(fast), raw(long_way(decode, data))


def from_worker(data: bytes) -> object:
    return decode_worker_frame(data, handle_factory=lambda handle: ("handle", handle))


@given(tree=wire)
def test_typed_result_decoding_agrees_with_the_long_way(tree: object) -> None:
    fast, slow = both_ways(from_worker, raw(["result", 1, tree]))
    assert fast == slow


@given(tree=wire)
def test_typed_call_decoding_agrees_with_the_long_way(tree: object) -> None:
    fast, slow = both_ways(decode_host_frame, raw(["call", 1, "hook", {"x": tree}]))
    assert fast == slow


def test_the_typed_path_takes_the_common_frames() -> None:
    reply = encode_reply(1, PAYLOAD)
    call = encode_host_frame(Call(1, "plugin:hook", {"value": PAYLOAD}))
    assert codec._TYPED_RESULT.decode(reply) == ("result", 1, PAYLOAD)
    assert codec._TYPED_CALL.decode(call) == ("call", 1, "plugin:hook", {"value": PAYLOAD})
    assert from_worker(reply) == Result(1, PAYLOAD)
    assert decode_host_frame(call) == Call(1, "plugin:hook", {"value": PAYLOAD})


@pytest.mark.parametrize(
    "value",
    [b"bytes", nested(TYPED_DEPTH + 1), {"deep": nested(DEFAULT_LIMITS.max_depth - 1)}, [INT64_MAX, b"", None]],
)
def test_what_the_typed_path_leaves_out_takes_the_long_way(value: object) -> None:
    reply = encode_reply(1, value)
    with pytest.raises(msgspec.ValidationError):
        codec._TYPED_RESULT.decode(reply)
    assert from_worker(reply) == Result(1, value)


@pytest.mark.parametrize(
    "frame",
    [
        ["result", 1, [2**64 - 1]],
        ["result", 1, {"k": {1: 2}}],
        ["result", 1, datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)],
        ["result", 1, msgspec.msgpack.Ext(7, b"x")],
        ["result", 1, nested(DEFAULT_LIMITS.max_depth + 1)],
    ],
)
def test_hostile_results_are_refused_whichever_way_they_take(frame: list[object]) -> None:
    with pytest.raises(ProtocolViolationError):
        from_worker(raw(frame))
    assert long_way(from_worker, raw(frame))[0] == "refused"  # type: ignore[index]


def test_limits_below_the_typed_depth_disable_the_typed_path() -> None:
    limits = codec.Limits(max_depth=2)
    with pytest.raises(ProtocolViolationError, match="nested deeper than 2"):
        decode_worker_frame(raw(["result", 1, nested(3)]), handle_factory=lambda h: h, limits=limits)
    with pytest.raises(ProtocolViolationError, match="nested deeper than 2"):
        decode_host_frame(raw(["call", 1, "h", {"x": nested(3)}]), limits=limits)
