"""Typed frames between the host and a plugin worker, encoded as msgpack by msgspec; plain data only.

Every message on the channel is one frame: a frozen :class:`msgspec.Struct` encoded as a msgpack array whose
first element is the frame's tag (``["call", 7, "hook", {...}]``). Extra, missing or mistyped fields are rejected.

The worker is hostile, so nothing it sends is unpickled, evaluated or turned into an object of its choosing. Values
("plain data") are ``None``, ``bool``, ``int`` (signed 64-bit), ``float`` (NaN and the infinities included, msgpack
float64 carries them), ``str``, ``bytes``, ``list``, ``tuple`` (sent as a msgpack array, so it arrives as a
``list``) and ``dict`` with ``str`` keys, nested at most :attr:`Limits.max_depth` containers deep. The one exception
is a callable *handle*: when a result from the worker holds a callable, the worker's encoder registers it
(``register_callable``) and sends msgpack extension type :data:`HANDLE_EXT_CODE` with its 8-byte id; the host's
decoder turns it into whatever ``handle_factory(id)`` returns, so the host can call it later with
:class:`InvokeHandle`. Every other extension type (the msgpack timestamp included) is a protocol violation. The
codec knows nothing about processes: the factories are the supervisor's.

Host side: :func:`encode_host_frame` (refuses callables and other non-plain data with :class:`NotTransferableError`
naming the argument and the path inside it) and :func:`decode_worker_frame` (raises only
:class:`ProtocolViolationError`). Worker side: :func:`decode_host_frame`, :func:`encode_worker_frame` and
:func:`encode_reply`, which turns a result that cannot be sent into a :class:`Failure` frame.
"""

from __future__ import annotations

import traceback as _traceback
from typing import TYPE_CHECKING, Any, Final, NoReturn, cast

import msgspec

from securehost._isolation.frames import (
    DEFAULT_LIMITS,
    HANDLE_EXT_CODE,
    INT64_MAX,
    MAX_AUDIT_FIELDS,
    MAX_ERROR_TYPE,
    MAX_MESSAGE,
    MAX_TRACEBACK,
    PLAIN_DATA,
    PROTOCOL_VERSION,
    TYPED_DEPTH,
    Audit,
    Call,
    Failure,
    Frame,
    Handle,
    HostFrame,
    Init,
    InvokeHandle,
    Limits,
    Ready,
    ReleaseHandle,
    Result,
    Shutdown,
    TypedCall,
    TypedResult,
    WorkerFrame,
)
from securehost._isolation.values import (
    RejectError,
    check_transferable,
    is_plain,
    not_transferable,
    prescan,
    refuse,
    type_name,
    walk,
)
from securehost.exceptions import NotTransferableError, ProtocolViolationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from securehost._isolation.values import Other

__all__ = [
    "DEFAULT_LIMITS", "HANDLE_EXT_CODE", "MAX_AUDIT_FIELDS", "MAX_MESSAGE", "MAX_TRACEBACK", "PROTOCOL_VERSION",
    "Audit", "Call", "Failure", "Handle", "HostFrame", "Init", "InvokeHandle", "Limits", "Ready", "ReleaseHandle",
    "Result", "Shutdown", "WorkerFrame", "check_transferable", "decode_host_frame", "decode_worker_frame",
    "encode_host_frame", "encode_reply", "encode_worker_frame", "failure_from_exception",
]  # fmt: skip

# --- encoding --------------------------------------------------------------------------------------------------

_ENCODER: Final = msgspec.msgpack.Encoder()


def _encode(frame: Frame, limits: Limits) -> bytes:
    try:
        data = _ENCODER.encode(frame)
    except (TypeError, ValueError, OverflowError) as exc:  # UnicodeEncodeError: a lone surrogate in a str
        raise NotTransferableError(
            f"the {type(frame).__name__} frame cannot be encoded ({exc}); pass plain data: {PLAIN_DATA}"
        ) from exc
    problem = None
    if len(data) > limits.max_size:
        problem = f"it encodes to {len(data)} bytes, more than the frame limit of {limits.max_size}"
    elif len(data) > limits.max_items:
        problem = prescan(data, limits)
    if problem:
        raise NotTransferableError(f"the {type(frame).__name__} frame is too large: {problem}; pass less data")
    return data


def _check_arguments(args: list[Any] | tuple[()], kwargs: dict[str, Any], limits: Limits) -> None:
    if type(args) not in (list, tuple) or type(kwargs) is not dict:
        raise NotTransferableError(
            f"pass args as a list and kwargs as a dict, not {type_name(args)}, {type_name(kwargs)}"
        )
    if is_plain(kwargs, limits.max_depth, -1) and (not args or is_plain(args, limits.max_depth, -1)):
        return
    _refuse_arguments(args, kwargs, limits)


def _refuse_arguments(args: list[Any] | tuple[()], kwargs: dict[str, Any], limits: Limits) -> NoReturn:
    try:  # only a failure walks the arguments again, to name the argument and the path
        walk(args, refuse, limits.max_depth, -1)
        walk(kwargs, refuse, limits.max_depth, -1)
    except RejectError as reject:
        for index, arg in enumerate(args):
            check_transferable(arg, f"args[{index}]", limits=limits)
        for name, arg in kwargs.items():
            if type(name) is not str:
                raise NotTransferableError(f"keyword argument name {name!r:.60} is not a str") from None
            check_transferable(arg, name, limits=limits)
        raise not_transferable("the arguments", "args", reject) from None  # not reached
    raise AssertionError("is_plain and walk disagree about the arguments")  # pragma: no cover


def encode_host_frame(frame: HostFrame, *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Encode a host -> worker frame (host side).

    Raises:
        NotTransferableError: an argument (or the Init payload) is not plain data, or the frame is too large.
    """
    if type(frame) is Call:  # the hot path: a hook call's keyword arguments
        kwargs = frame.kwargs
        if type(kwargs) is not dict or not is_plain(kwargs, limits.max_depth, -1):
            _check_arguments((), kwargs, limits)
        try:
            data = _ENCODER.encode(frame)
        except (TypeError, ValueError, OverflowError):
            pass  # _encode says why
        else:
            if len(data) <= limits.max_items and len(data) <= limits.max_size:  # no object count to check
                return data
    elif type(frame) is InvokeHandle:
        _check_arguments(frame.args, frame.kwargs, limits)
    elif type(frame) is Init:
        check_transferable(frame.payload, "payload", limits=limits)
    return _encode(frame, limits)


def encode_worker_frame(
    frame: WorkerFrame,
    *,
    register_callable: Callable[[Callable[..., object]], int] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """Encode a worker -> host frame (worker side); callables in a Result become handles.

    Args:
        frame: the frame to send.
        register_callable: stores a callable (not a class) in the worker's handle table and returns its id (0 to
            2**63-1). ``None`` refuses callables. A handle registered for a frame that then fails to encode is not
            sent.
        limits: the frame bounds.

    Raises:
        NotTransferableError: the result (or the Ready info) is not plain data, or the frame is too large.
    """
    if type(frame) is Result:
        if is_plain(frame.value, limits.max_depth):
            return _encode(frame, limits)
        other = refuse if register_callable is None else _handle_encoder(register_callable)
        try:
            value = walk(frame.value, other, limits.max_depth)
        except RejectError as reject:
            raise not_transferable("the result", "result", reject) from None
        frame = frame if value is frame.value else msgspec.structs.replace(frame, value=value)
    elif isinstance(frame, Ready):
        check_transferable(frame.info, "info", limits=limits)
    return _encode(frame, limits)


def _handle_encoder(register: Callable[[Callable[..., object]], int]) -> Other:
    def encode_callable(value: object) -> object:
        if not callable(value) or isinstance(value, type):
            raise RejectError(type_name(value))
        return msgspec.msgpack.Ext(HANDLE_EXT_CODE, register(value).to_bytes(8, "big"))

    return encode_callable


def _clip(text: str, limit: int, *, keep_tail: bool = False) -> str:
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates would not encode
    if len(text) <= limit:
        return text
    marker = f" [... {len(text) - limit} characters cut ...] "
    keep = limit - len(marker)
    return marker + text[-keep:] if keep_tail else text[:keep] + marker


def failure_from_exception(request_id: int, exc: BaseException) -> Failure:
    """Describe ``exc`` (raised while serving ``request_id``) as a Failure frame: bounded text, nothing else."""
    kind = type(exc)
    try:
        message = str(exc)
        trace = "".join(_traceback.format_exception(exc))
    except Exception:  # noqa: BLE001 - plugin code runs in __str__; describing the failure must not fail
        message, trace = f"<{kind.__qualname__} could not be rendered as text>", ""
    return Failure(
        id=request_id,
        error_type=_clip(type_name(exc), MAX_ERROR_TYPE),
        message=_clip(message, MAX_MESSAGE),
        traceback=_clip(trace, MAX_TRACEBACK, keep_tail=True),
    )


def encode_reply(
    request_id: int,
    value: object,
    *,
    register_callable: Callable[[Callable[..., object]], int] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> bytes:
    """Encode ``value`` as the Result of ``request_id`` or, when it cannot be sent, a Failure saying why."""
    if is_plain(value, limits.max_depth):  # the hot path: plain data that encodes to a small frame
        try:
            data = _ENCODER.encode(Result(request_id, value))
        except (TypeError, ValueError, OverflowError):
            pass  # the long way says why
        else:
            if len(data) <= limits.max_items and len(data) <= limits.max_size:  # no object count to check
                return data
    try:
        return encode_worker_frame(Result(request_id, value), register_callable=register_callable, limits=limits)
    except NotTransferableError as exc:  # the codec's own traceback would tell the host nothing
        failure = msgspec.structs.replace(failure_from_exception(request_id, exc), traceback="")
        return encode_worker_frame(failure, limits=limits)


# --- decoding --------------------------------------------------------------------------------------------------


def _worker_ext(code: int, data: memoryview) -> Handle:
    payload = bytes(data)  # not len(data): msgspec < 0.20 exports a wrong shape (msgspec issue 835)
    if code == HANDLE_EXT_CODE and len(payload) == 8:
        handle = int.from_bytes(payload, "big")
        if handle <= INT64_MAX:
            return Handle(handle)
    raise ProtocolViolationError(
        f"msgpack extension type {code} ({len(payload)} bytes) is not allowed; only callable handles "
        f"(type {HANDLE_EXT_CODE}, 8 bytes, id below 2**63) are"
    )


def _host_ext(code: int, data: memoryview) -> object:
    raise ProtocolViolationError(f"msgpack extension type {code} is not allowed in a frame from the host")


_WORKER_DECODER: Final = msgspec.msgpack.Decoder(WorkerFrame, ext_hook=_worker_ext)
_HOST_DECODER: Final = msgspec.msgpack.Decoder(HostFrame, ext_hook=_host_ext)
# The fast path: a Result (Call) whose value (arguments) msgspec alone proves to be plain data (see TypedResult).
_TYPED_RESULT: Final[msgspec.msgpack.Decoder[Any]] = msgspec.msgpack.Decoder(TypedResult)
_TYPED_CALL: Final[msgspec.msgpack.Decoder[Any]] = msgspec.msgpack.Decoder(TypedCall)


# The typed fast path qualifies frames that need no pre-scan (no more bytes than ``max_items``, so no more objects)
# under limits that allow at least TYPED_DEPTH containers: msgspec then enforces every rule of plain data itself
# (types, str keys, the int range, the depth). What it refuses is decoded again and judged the long way, which says
# why; so both ways give the same verdict (a property test holds them to it).


def _decode(decoder: msgspec.msgpack.Decoder[Any], data: bytes, origin: str, limits: Limits) -> Frame:
    problem = None
    if len(data) > limits.max_size:
        problem = f"it has {len(data)} bytes, more than {limits.max_size}"
    elif len(data) > limits.max_items:  # a smaller frame cannot hold more objects than bytes
        problem = prescan(data, limits)
    if problem:
        raise ProtocolViolationError(f"a frame from the {origin} is refused: {problem}")
    try:
        return cast("Frame", decoder.decode(data))
    except ProtocolViolationError:
        raise
    except Exception as exc:  # msgspec.DecodeError/ValidationError, RecursionError, MemoryError
        raise ProtocolViolationError(f"malformed frame from the {origin}: {exc}") from exc


class _Found(msgspec.Struct, frozen=True):
    """A validated handle; a new object, so the walk copies and the caller learns that handles are present."""

    id: int


def _found_handle(item: object) -> object:
    if type(item) is Handle:
        return _Found(item.id)
    raise RejectError(type_name(item))


def _checked(value: object, other: Other, frame: Frame, field: str, limits: Limits, *, depth: int = 0) -> object:
    try:
        return walk(value, other, limits.max_depth, depth)
    except RejectError as reject:
        raise ProtocolViolationError(
            f"{type(frame).__name__} frame: {reject.what} at {reject.where(field)} is not plain data"
        ) from None


def decode_worker_frame(
    data: bytes, *, handle_factory: Callable[[int], object], limits: Limits = DEFAULT_LIMITS
) -> WorkerFrame:
    """Decode and validate a frame from the (hostile) worker; host side.

    Args:
        data: one frame, as received from the channel.
        handle_factory: turns a callable handle id into the host's object for it; called only once the whole
            frame is valid, and only for handles inside a Result. Its own exceptions propagate.
        limits: the frame bounds.

    Raises:
        ProtocolViolationError: the frame is malformed, unknown, oversized, nested too deep, or holds anything but
            plain data (and handles in a Result). Nothing else is raised, whatever ``data`` holds.
    """
    if len(data) <= limits.max_items and len(data) <= limits.max_size and limits.max_depth >= TYPED_DEPTH:
        try:
            _, request_id, value = _TYPED_RESULT.decode(data)
        except Exception:  # noqa: BLE001, S110 - not a plain Result within TYPED_DEPTH: the long way decides
            pass
        else:
            return Result(request_id, value)
    frame = cast("WorkerFrame", _decode(_WORKER_DECODER, data, "worker", limits))
    if type(frame) is Result:
        if is_plain(frame.value, limits.max_depth):
            return frame
        checked = _checked(frame.value, _found_handle, frame, "value", limits)
        if checked is not frame.value:  # handles were found; build the host's objects now that all is valid
            value = walk(checked, lambda found: handle_factory(cast("_Found", found).id), limits.max_depth)
            frame = msgspec.structs.replace(frame, value=value)
    elif type(frame) is Ready:
        _checked(frame.info, refuse, frame, "info", limits)
    return frame


def decode_host_frame(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> HostFrame:
    """Decode and validate a frame from the host; worker side.

    Raises:
        ProtocolViolationError: the frame is malformed, unknown, oversized or holds anything but plain data.
    """
    if len(data) <= limits.max_items and len(data) <= limits.max_size and limits.max_depth >= TYPED_DEPTH:
        try:
            _, request_id, hook, kwargs = _TYPED_CALL.decode(data)
        except Exception:  # noqa: BLE001, S110 - not a plain Call within TYPED_DEPTH: the long way decides
            pass
        else:
            return Call(request_id, hook, kwargs)
    frame = cast("HostFrame", _decode(_HOST_DECODER, data, "host", limits))
    kind = type(frame)
    if kind is Call or kind is InvokeHandle:
        if isinstance(frame, InvokeHandle) and not is_plain(frame.args, limits.max_depth, -1):
            _checked(frame.args, refuse, frame, "args", limits, depth=-1)
        kwargs = cast("Call", frame).kwargs
        if not is_plain(kwargs, limits.max_depth, -1):
            _checked(kwargs, refuse, frame, "kwargs", limits, depth=-1)
    elif isinstance(frame, Init):
        _checked(frame.payload, refuse, frame, "payload", limits)
    return frame
