"""The frame codec: plain data round trips, limits at N and N+1, and hostile input that must never become objects."""

from __future__ import annotations

import contextlib
import datetime
import enum
import functools
import marshal
import math
import pickle
import time
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from securehost._isolation import codec
from securehost._isolation.codec import (
    DEFAULT_LIMITS,
    HANDLE_EXT_CODE,
    MAX_AUDIT_FIELDS,
    MAX_MESSAGE,
    MAX_TRACEBACK,
    PROTOCOL_VERSION,
    Audit,
    Call,
    Failure,
    Handle,
    Init,
    InvokeHandle,
    Limits,
    Ready,
    ReleaseHandle,
    Result,
    Shutdown,
    check_transferable,
    decode_host_frame,
    decode_worker_frame,
    encode_host_frame,
    encode_reply,
    encode_worker_frame,
    failure_from_exception,
)
from securehost.exceptions import IsolationError, NotTransferableError, ProtocolViolationError

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
raw = msgspec.msgpack.encode  # crafts frames the codec's own encoders refuse to produce


def no_handles(handle: int) -> object:
    raise AssertionError(f"handle_factory called for {handle}")


def from_worker(data: bytes, limits: Limits = DEFAULT_LIMITS) -> Any:
    return decode_worker_frame(data, handle_factory=no_handles, limits=limits)


def nested(depth: int, leaf: object = 0) -> object:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def as_sent(value: object) -> object:
    """What a value looks like after a round trip: tuples arrive as lists."""
    if isinstance(value, list | tuple):
        return [as_sent(item) for item in value]
    if isinstance(value, dict):
        return {key: as_sent(item) for key, item in value.items()}
    return value


def depth_of(value: object) -> int:
    if isinstance(value, list | tuple):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, INT64_MAX)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20)
)
plain = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
)


# --- round trips -----------------------------------------------------------------------------------------------


@given(value=plain)
def test_plain_data_round_trips_host_to_worker(value: object) -> None:
    assume(depth_of(value) <= DEFAULT_LIMITS.max_depth)
    frame = decode_host_frame(encode_host_frame(Call(7, "hook", {"x": value, "y": 1})))
    assert frame == Call(7, "hook", {"x": as_sent(value), "y": 1})


@given(value=plain)
def test_plain_data_round_trips_worker_to_host(value: object) -> None:
    assume(depth_of(value) <= DEFAULT_LIMITS.max_depth)
    assert from_worker(encode_worker_frame(Result(3, value))) == Result(3, as_sent(value))


def test_every_frame_round_trips() -> None:
    host_frames = [
        Init(PROTOCOL_VERSION, "plugin-a", {"permissions": ["fs.read"], "path": b"/x"}),
        Call(1, "h", {}),
        InvokeHandle(2, 9, [1, "a"], {"k": None}),
        ReleaseHandle(9),
        Shutdown(),
    ]
    for frame in host_frames:
        assert decode_host_frame(encode_host_frame(frame)) == frame
    worker_frames = [
        Ready(PROTOCOL_VERSION, {"hookimpls": [{"name": "h", "tryfirst": False}]}),
        Result(1, None),
        Failure(1, "ValueError", "bad", "Traceback ..."),
        Audit("open", {"path": "/x", "n": 3, "f": 0.5, "ok": True, "none": None}),
    ]
    for frame in worker_frames:
        assert from_worker(encode_worker_frame(frame)) == frame


def test_frames_are_frozen_and_compact() -> None:
    frame = from_worker(encode_worker_frame(Result(1, [1])))
    with pytest.raises(AttributeError):
        frame.id = 2
    assert encode_host_frame(Shutdown()) == raw(["shutdown"])
    assert encode_worker_frame(Result(5, None)) == raw(["result", 5, None])


def test_nan_and_infinities_cross() -> None:
    frame = from_worker(encode_worker_frame(Result(1, [math.nan, math.inf, -math.inf, -0.0])))
    assert math.isnan(frame.value[0])
    assert frame.value[1:] == [math.inf, -math.inf, 0.0]
    assert math.copysign(1.0, frame.value[3]) == -1.0


def test_int64_bounds() -> None:
    for good in (INT64_MIN, INT64_MAX):
        assert from_worker(encode_worker_frame(Result(1, good))).value == good
        check_transferable(good, "x")
    for bad in (INT64_MIN - 1, INT64_MAX + 1, 2**200):
        with pytest.raises(NotTransferableError, match="64-bit"):
            check_transferable([bad], "x")
    with pytest.raises(ProtocolViolationError, match=r"64-bit range at value\[0\]"):
        from_worker(raw(["result", 1, [2**64 - 1]]))  # msgpack uint64


# --- not transferable ------------------------------------------------------------------------------------------


class Color(enum.IntEnum):
    RED = 1


@pytest.mark.parametrize(
    ("value", "what", "where"),
    [
        ([1, 2, 3, {"k": {1}}], "set", "x[3]['k']"),
        ({"a": print}, "builtin_function_or_method", "x['a']"),
        ([lambda: 1], "function", "x[0]"),
        ((1, (2, object())), "object", "x[1][1]"),
        ({"when": datetime.date(2024, 1, 1)}, "datetime.date", "x['when']"),
        ([Color.RED], f"{__name__}.Color", "x[0]"),
        ({1: "a"}, "dict key of type int", "x"),
        ({"a": {(1, 2): 0}}, "dict key of type tuple", "x['a']"),
        (bytearray(b"x"), "bytearray", "x"),
        ([Handle(1)], "securehost._isolation.frames.Handle", "x[0]"),
        (msgspec.msgpack.Ext(HANDLE_EXT_CODE, bytes(8)), "msgspec.msgpack.Ext", "x"),
    ],
)
def test_not_transferable_names_argument_and_path(value: object, what: str, where: str) -> None:
    with pytest.raises(NotTransferableError) as info:
        check_transferable(value, "x")
    message = str(info.value)
    assert message.startswith(f"argument 'x': {what} at {where} cannot cross the process boundary; ")
    assert "pass plain data: None, bool, int, float, str, bytes, list, tuple, dict with str keys" in message
    assert isinstance(info.value, TypeError)
    assert isinstance(info.value, IsolationError)


def test_host_encoder_names_the_argument() -> None:
    with pytest.raises(NotTransferableError, match=r"^argument 'callback': function at callback\['f'\]"):
        encode_host_frame(Call(1, "h", {"data": [1], "callback": {"f": lambda: None}}))
    with pytest.raises(NotTransferableError, match=r"^argument 'args\[1\]': set at args\[1\]\[0\]"):
        encode_host_frame(InvokeHandle(1, 2, [1, [set()]], {}))
    with pytest.raises(NotTransferableError, match="payload"):
        encode_host_frame(Init(1, "p", {"x": object()}))
    with pytest.raises(NotTransferableError, match="keyword argument name 1 is not a str"):
        encode_host_frame(Call(1, "h", {1: 1}))  # type: ignore[dict-item]
    with pytest.raises(ProtocolViolationError, match="length >= 1"):
        decode_host_frame(raw(["call", 1, "h", {"": 1}]))
    with pytest.raises(NotTransferableError, match="cannot be encoded"):
        encode_host_frame(Call(1, "h", {"s": "\ud800"}))  # a lone surrogate is no UTF-8


# --- limits: N passes, N+1 fails -------------------------------------------------------------------------------


def test_depth_limit_on_both_sides() -> None:
    limit = DEFAULT_LIMITS.max_depth
    check_transferable(nested(limit), "x")
    with pytest.raises(NotTransferableError, match=f"nested deeper than {limit} containers at x" + r"(\[0\]){32}"):
        check_transferable(nested(limit + 1), "x")
    assert from_worker(raw(["result", 1, nested(limit)])).value == nested(limit)
    with pytest.raises(ProtocolViolationError, match="nested deeper"):
        from_worker(raw(["result", 1, nested(limit + 1)]))
    assert decode_host_frame(raw(["call", 1, "h", {"x": nested(limit - 1, {})}])).kwargs["x"] == nested(limit - 1, {})
    with pytest.raises(ProtocolViolationError, match="nested deeper"):
        decode_host_frame(raw(["call", 1, "h", {"x": nested(limit + 1)}]))
    with pytest.raises(NotTransferableError, match="nested deeper"):
        encode_worker_frame(Result(1, nested(limit + 1)))


def test_depth_limit_when_the_frame_is_prescanned() -> None:
    limits = Limits(max_items=1000)  # frames above 1000 bytes are scanned before msgspec decodes them
    pad = "p" * 2000
    cases = [
        (lambda depth: raw(["call", 1, "h", {"x": nested(depth), "pad": pad}]), decode_host_frame),
        (
            lambda depth: raw(["result", 1, {"x": nested(depth - 1), "pad": pad}]),
            functools.partial(decode_worker_frame, handle_factory=no_handles),
        ),
    ]
    for make, decode in cases:
        assert len(make(32)) > limits.max_items
        decode(make(32), limits=limits)
        with pytest.raises(ProtocolViolationError, match="deeper than 32"):
            decode(make(33), limits=limits)


def test_item_limit() -> None:
    limits = Limits(max_items=100)  # ["result", 1, [0] * k] holds k + 4 objects in 9 + 3 + k bytes
    assert len(from_worker(raw(["result", 1, [0] * 96]), limits).value) == 96
    with pytest.raises(ProtocolViolationError, match="more than 100 msgpack objects"):
        from_worker(raw(["result", 1, [0] * 97]), limits)
    encode_worker_frame(Result(1, [0] * 96), limits=limits)
    with pytest.raises(NotTransferableError, match="more than 100 msgpack objects"):
        encode_worker_frame(Result(1, [0] * 97), limits=limits)
    with pytest.raises(NotTransferableError, match="more than 100"):
        encode_host_frame(Call(1, "h", {"x": list(range(200))}), limits=limits)


def test_size_limit() -> None:
    data = encode_worker_frame(Result(1, "x" * 1000))
    assert from_worker(data, Limits(max_size=len(data))).value == "x" * 1000
    with pytest.raises(ProtocolViolationError, match=f"{len(data)} bytes, more than {len(data) - 1}"):
        from_worker(data, Limits(max_size=len(data) - 1))
    with pytest.raises(ProtocolViolationError, match="more than"):
        decode_host_frame(encode_host_frame(Shutdown()), limits=Limits(max_size=5))
    encode_worker_frame(Result(1, "x" * 1000), limits=Limits(max_size=len(data)))
    with pytest.raises(NotTransferableError, match="frame limit"):
        encode_worker_frame(Result(1, "x" * 1000), limits=Limits(max_size=len(data) - 1))


def test_text_limits_of_failure_and_audit() -> None:
    from_worker(raw(["failure", 1, "E", "m" * MAX_MESSAGE, "t" * MAX_TRACEBACK]))
    for fields in (["E", "m" * (MAX_MESSAGE + 1), ""], ["E", "", "t" * (MAX_TRACEBACK + 1)]):
        with pytest.raises(ProtocolViolationError, match="length <="):
            from_worker(raw(["failure", 1, *fields]))
    many = {f"f{i}": i for i in range(MAX_AUDIT_FIELDS)}
    assert from_worker(raw(["audit", "ev", many])).fields == many
    with pytest.raises(ProtocolViolationError):
        from_worker(raw(["audit", "ev", {**many, "one-more": 1}]))
    with pytest.raises(ProtocolViolationError):
        from_worker(raw(["audit", "ev", {"nested": [1]}]))


# --- handles ---------------------------------------------------------------------------------------------------


class Tool:
    def run(self, x: int) -> int:
        return x

    def __call__(self) -> None:
        pass


def test_worker_callables_become_host_factory_objects() -> None:
    tool = Tool()
    callables = [len, tool.run, tool, functools.partial(print, 1), lambda: 0]
    table: list[object] = []

    def register(func: object) -> int:
        table.append(func)
        return len(table) + 1000

    data = encode_worker_frame(Result(4, {"tools": callables, "n": 1}), register_callable=register)
    assert table == callables
    made: list[int] = []

    def factory(handle: int) -> object:
        made.append(handle)
        return ("proxy", handle)

    frame = decode_worker_frame(data, handle_factory=factory)
    assert frame == Result(4, {"tools": [("proxy", 1001 + i) for i in range(5)], "n": 1})
    assert made == [1001, 1002, 1003, 1004, 1005]


def test_a_callable_result_itself_becomes_a_handle() -> None:
    data = encode_reply(2, print, register_callable=lambda func: 0)
    assert decode_worker_frame(data, handle_factory=lambda handle: ("proxy", handle)) == Result(2, ("proxy", 0))
    assert data == raw(["result", 2, msgspec.msgpack.Ext(HANDLE_EXT_CODE, bytes(8))])


def test_classes_and_unregistered_callables_are_refused() -> None:
    with pytest.raises(NotTransferableError, match=r"the result: type at result\[0\]"):
        encode_worker_frame(Result(1, [Tool]), register_callable=lambda f: 1)
    with pytest.raises(NotTransferableError, match="function at result"):
        encode_worker_frame(Result(1, lambda: 0))


def test_handle_factory_is_not_called_for_an_invalid_frame() -> None:
    handle = msgspec.msgpack.Ext(HANDLE_EXT_CODE, (1).to_bytes(8, "big"))
    data = raw(["result", 1, [handle, datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)]])
    with pytest.raises(ProtocolViolationError, match=r"datetime at value\[1\]"):
        from_worker(data)


@pytest.mark.parametrize(
    "frame",
    [
        ["ready", 1, {"h": "EXT"}],
        ["failure", 1, "EXT", "", ""],
        ["audit", "ev", {"f": "EXT"}],
    ],
)
def test_handles_only_inside_a_result(frame: list[object]) -> None:
    handle = msgspec.msgpack.Ext(HANDLE_EXT_CODE, (1).to_bytes(8, "big"))
    data = raw(frame).replace(raw("EXT"), raw(handle))
    with pytest.raises(ProtocolViolationError):
        from_worker(data)


@pytest.mark.parametrize(
    ("code", "payload"),
    [(0, b"x"), (2, bytes(8)), (127, bytes(8)), (-128, bytes(8)), (HANDLE_EXT_CODE, bytes(7)),
     (HANDLE_EXT_CODE, bytes(9)), (HANDLE_EXT_CODE, (2**63).to_bytes(8, "big"))],
)  # fmt: skip
def test_unknown_extension_types_are_rejected(code: int, payload: bytes) -> None:
    data = raw(["result", 1, [msgspec.msgpack.Ext(code, payload)]])
    with pytest.raises(ProtocolViolationError, match=f"extension type {code}"):
        decode_worker_frame(data, handle_factory=lambda h: h)
    with pytest.raises(ProtocolViolationError, match="extension type"):
        decode_host_frame(raw(["call", 1, "h", {"x": msgspec.msgpack.Ext(code, payload)}]))


def test_msgpack_timestamps_do_not_become_datetimes() -> None:
    stamp = datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc)
    with pytest.raises(ProtocolViolationError, match=r"datetime\.datetime at value"):
        from_worker(raw(["result", 1, stamp]))
    with pytest.raises(ProtocolViolationError, match=r"datetime\.datetime at kwargs\['x'\] is not plain data"):
        decode_host_frame(raw(["call", 1, "h", {"x": stamp}]))


# --- hostile input ---------------------------------------------------------------------------------------------

EXECUTED: list[str] = []


class Payload:
    def __reduce__(self) -> tuple[object, ...]:
        return (EXECUTED.append, ("pickle ran",))


def test_payloads_made_for_careless_decoders_are_rejected() -> None:
    stream = pickle.dumps(Payload())
    code = marshal.dumps(compile("EXECUTED.append('code ran')", "<x>", "exec"))
    crafted = [
        stream,  # a pickle stream as the whole frame
        raw(["result", 1, msgspec.msgpack.Ext(0, stream)]),  # pickle inside an extension type
        raw(["result", 1, msgspec.msgpack.Ext(1, code)]),  # marshalled code with the handle's type code
        raw(["result", 1, msgspec.msgpack.Ext(42, code)]),
        raw({"k": "result", "id": 1, "value": 1}),  # a map instead of the tagged array
        raw(["__reduce__", 1, stream]),
        raw(["result", 1, {"__class__": "os.system"}]) + b"\xc1",
    ]
    for data in crafted:
        with pytest.raises(ProtocolViolationError):
            from_worker(data)
        with pytest.raises(ProtocolViolationError):
            decode_host_frame(data)
    frame = from_worker(raw(["result", 1, {"__class__": "os.system", "blob": stream}]))
    assert frame.value == {"__class__": "os.system", "blob": stream}  # inert data, never an object
    assert EXECUTED == []


@pytest.mark.parametrize(
    "frame",
    [
        ["result"], ["result", 1], ["result", 1, None, "extra"], ["result", True, None], ["result", -1, None],
        ["result", 1.0, None], ["result", 2**63, None], ["nope", 1], [], ["call", 1, "h", {}],
        ["result", 1, {1: 2}], ["result", 1, {b"k": 2}], ["ready", 1, {"h": {None: 1}}], ["failure", 1, 2, "", ""],
        ["audit", "", {}], ["ready", 1, []], "result", None, 5,
    ],
)  # fmt: skip
def test_malformed_worker_frames(frame: object) -> None:
    with pytest.raises(ProtocolViolationError):
        from_worker(raw(frame))


def test_decoding_raises_protocol_violation_for_structural_attacks() -> None:
    for data in (b"", b"\xc1", raw(["result", 1, None]) + b"\x00", raw(["result", 1, None])[:-1], b"\x93" * 5):
        with pytest.raises(ProtocolViolationError):
            from_worker(data)
    with pytest.raises(ProtocolViolationError, match="malformed"):
        from_worker(b"\x93\xa6result\x01" + b"\x91" * 100_000 + b"\xc0")  # deeper than the interpreter's stack


def test_huge_declared_counts_are_rejected_before_allocation() -> None:
    start = time.perf_counter()
    for data in (
        b"\xdd\xff\xff\xff\xff" + b"\x90" * (2 * 1024 * 1024),  # 4 billion entries announced
        b"\x93\xa6result\x01\xdd" + (3 * 2**20).to_bytes(4, "big") + b"\x90" * (3 * 2**20),  # 3 Mi empty lists
        b"\xdf\xff\xff\xff\xff" + b"\x80" * (2 * 1024 * 1024),
    ):
        with pytest.raises(ProtocolViolationError, match="msgpack objects"):
            from_worker(data)
    assert time.perf_counter() - start < 1.0


@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_protocol_violation(data: bytes) -> None:
    for decode in (from_worker, decode_host_frame):
        with contextlib.suppress(ProtocolViolationError):
            decode(data)


valid_frames = [
    encode_worker_frame(Result(1, {"a": [1, 2.5, "x", b"y", None, True]})),
    encode_worker_frame(Audit("ev", {"a": 1})),
    encode_worker_frame(Failure(2, "E", "m", "t")),
    encode_host_frame(Call(3, "hook", {"x": [1, {"y": 2}]})),
    raw(["result", 1, [msgspec.msgpack.Ext(HANDLE_EXT_CODE, bytes(8))]]),
]


@given(
    base=st.sampled_from(valid_frames),
    edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1, max_size=4),
    cut=st.integers(0, 200),
)
def test_mutated_frames_raise_only_protocol_violation(base: bytes, edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(base)
    for position, byte in edits:
        data[position % len(data)] = byte
    for candidate in (bytes(data), bytes(data[:cut])):
        with contextlib.suppress(ProtocolViolationError):
            decode_worker_frame(candidate, handle_factory=lambda h: h)
        with contextlib.suppress(ProtocolViolationError):
            decode_host_frame(candidate)


@given(tree=st.recursive(scalars | st.just(msgspec.msgpack.Ext(1, bytes(8))), st.lists))
def test_well_formed_msgpack_of_any_shape_raises_only_protocol_violation(tree: object) -> None:
    for frame in (["result", 1, tree], ["ready", tree, tree], ["audit", "e", {"k": tree}], tree):
        with contextlib.suppress(ProtocolViolationError):
            decode_worker_frame(raw(frame), handle_factory=lambda h: h)


# --- failures --------------------------------------------------------------------------------------------------


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_failure_from_exception_is_bounded_text() -> None:
    try:
        raise ValueError("m" * (MAX_MESSAGE * 2) + "\udc80")
    except ValueError as exc:
        failure = failure_from_exception(9, exc)
    assert failure.id == 9
    assert failure.error_type == "ValueError"
    assert len(failure.message) == MAX_MESSAGE
    assert "characters cut" in failure.message
    assert failure.traceback.endswith("\\udc80\n")  # the tail, the most recent frame, is kept
    assert from_worker(encode_worker_frame(failure)) == failure
    odd = failure_from_exception(1, Unprintable())
    assert odd.error_type == f"{__name__}.Unprintable"
    assert "could not be rendered" in odd.message


def test_encode_reply_turns_an_unsendable_result_into_a_failure() -> None:
    assert from_worker(encode_reply(5, [1, 2])) == Result(5, [1, 2])
    failure = from_worker(encode_reply(5, {"rows": [1, {2}]}))
    assert isinstance(failure, Failure)
    assert failure.id == 5
    assert failure.error_type == "securehost.exceptions.NotTransferableError"
    assert "the result: set at result['rows'][1] cannot cross the process boundary" in failure.message
    assert failure.traceback == ""
    big = from_worker(encode_reply(6, "x" * 2000, limits=Limits(max_size=1000)))
    assert isinstance(big, Failure)
    assert "frame limit of 1000" in big.message


def test_module_constants() -> None:
    assert PROTOCOL_VERSION == 1
    assert Limits(max_size=16 * 1024 * 1024, max_depth=32, max_items=1 << 20) == DEFAULT_LIMITS
    assert set(codec.__all__) <= set(dir(codec))
