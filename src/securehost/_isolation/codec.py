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
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final, TypeAlias, cast

import msgspec
from msgspec import Meta

from securehost.exceptions import NotTransferableError, ProtocolViolationError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DEFAULT_LIMITS", "HANDLE_EXT_CODE", "PROTOCOL_VERSION", "Audit", "Call", "Failure", "Handle", "HostFrame",
    "Init", "InvokeHandle", "Limits", "Ready", "ReleaseHandle", "Result", "Shutdown", "WorkerFrame",
    "check_transferable", "decode_host_frame", "decode_worker_frame", "encode_host_frame", "encode_reply",
    "encode_worker_frame", "failure_from_exception",
]  # fmt: skip

PROTOCOL_VERSION: Final = 1
HANDLE_EXT_CODE: Final = 1
PLAIN_DATA: Final = "None, bool, int, float, str, bytes, list, tuple, dict with str keys"
MAX_NAME: Final = 256
MAX_ERROR_TYPE: Final = 256
MAX_MESSAGE: Final = 16 * 1024
MAX_TRACEBACK: Final = 64 * 1024
MAX_AUDIT_FIELDS: Final = 64
MAX_AUDIT_TEXT: Final = 4096
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    """Bounds on one frame; both sides enforce them, the decoder before it allocates the values.

    Attributes:
        max_size: encoded bytes per frame (match the channel's ``max_frame``).
        max_depth: containers nested inside one value (``[[1]]`` is 2 deep).
        max_items: msgpack objects per frame, every container, scalar, dict key and frame field counted.
    """

    max_size: int = 16 * 1024 * 1024
    max_depth: int = 32
    max_items: int = 1 << 20


DEFAULT_LIMITS: Final = Limits()

_Id = Annotated[int, Meta(ge=0, le=_INT64_MAX)]
_Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
_AuditValue = (
    Annotated[str, Meta(max_length=MAX_AUDIT_TEXT)] | Annotated[int, Meta(le=_INT64_MAX)] | float | bool | None
)


class _Frame(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True, tag_field="k"):
    """Base of every frame: frozen, encoded as a tagged array, unknown fields rejected."""


class Init(_Frame, frozen=True, tag="init"):
    """Host -> worker, first frame: the protocol version, the plugin to load and what the worker needs (plain data)."""

    protocol: _Id
    plugin: _Name
    payload: dict[str, Any]


class Call(_Frame, frozen=True, tag="call"):
    """Host -> worker: call the plugin's implementation of ``hook`` with ``kwargs``; answered by Result or Failure."""

    id: _Id
    hook: _Name
    kwargs: dict[_Name, Any]


class InvokeHandle(_Frame, frozen=True, tag="invoke"):
    """Host -> worker: call the callable registered as ``handle``; answered by Result or Failure with ``id``."""

    id: _Id
    handle: _Id
    args: list[Any]
    kwargs: dict[_Name, Any]


class ReleaseHandle(_Frame, frozen=True, tag="release"):
    """Host -> worker: the host dropped its last reference to ``handle``; no answer."""

    handle: _Id


class Shutdown(_Frame, frozen=True, tag="shutdown"):
    """Host -> worker: exit now; no answer."""


class Ready(_Frame, frozen=True, tag="ready"):
    """Worker -> host, answer to Init: the worker's protocol version and plain data (for instance the hookimpls)."""

    protocol: _Id
    info: dict[str, Any]


class Result(_Frame, frozen=True, tag="result"):
    """Worker -> host: the value returned for request ``id``; may hold callable handles."""

    id: _Id
    value: Any


class Failure(_Frame, frozen=True, tag="failure"):
    """Worker -> host: request ``id`` raised (``id`` 0: the worker failed outside a request, e.g. during Init)."""

    id: _Id
    error_type: Annotated[str, Meta(max_length=MAX_ERROR_TYPE)]
    message: Annotated[str, Meta(max_length=MAX_MESSAGE)]
    traceback: Annotated[str, Meta(max_length=MAX_TRACEBACK)]


class Audit(_Frame, frozen=True, tag="audit"):
    """Worker -> host: an audit event from inside the worker, with flat scalar fields."""

    event: Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
    fields: Annotated[dict[Annotated[str, Meta(max_length=MAX_NAME)], _AuditValue], Meta(max_length=MAX_AUDIT_FIELDS)]


class Handle(msgspec.Struct, frozen=True):
    """A callable handle as decoded, before the host's ``handle_factory`` replaces it."""

    id: int


HostFrame: TypeAlias = Init | Call | InvokeHandle | ReleaseHandle | Shutdown
WorkerFrame: TypeAlias = Ready | Result | Failure | Audit


# --- walking values --------------------------------------------------------------------------------------------


class _RejectError(Exception):
    """A value is not plain data; ``path`` collects the location innermost first while the walk unwinds."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.path: list[str] = []

    def where(self, root: str) -> str:
        return root + "".join(reversed(self.path))


_SCALARS: Final = frozenset({type(None), bool, float, str, bytes})
_Other: TypeAlias = "Callable[[object], object]"


def _type_name(value: object) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def _refuse(value: object) -> object:
    raise _RejectError(_type_name(value))


def _walk(value: object, other: _Other, limit: int, depth: int = 0) -> object:
    """Check that ``value`` is plain data; ``other`` decides about anything else (raise, or return a replacement).

    Returns ``value`` itself, or a copy of the containers in which ``other`` replaced something: plain data costs
    no allocation. ``depth`` is the nesting of ``value``'s own containers; -1 walks the items of an argument list.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is int:
        if _INT64_MIN <= cast("int", value) <= _INT64_MAX:
            return value
        raise _RejectError("int outside the signed 64-bit range")
    if kind is list or kind is tuple or kind is dict:
        if depth >= limit:
            raise _RejectError(f"{kind.__name__} nested deeper than {limit} containers")
        if kind is dict:
            return _walk_dict(cast("dict[object, object]", value), other, limit, depth + 1)
        return _walk_items(cast("list[object]", value), other, limit, depth + 1)
    return other(value)


def _walk_items(items: list[object], other: _Other, limit: int, depth: int) -> object:
    copy: list[object] | None = None
    for index, item in enumerate(items):
        kind = type(item)
        if kind in _SCALARS or (kind is int and _INT64_MIN <= cast("int", item) <= _INT64_MAX):
            continue  # the common case, without a call
        try:
            new = _walk(item, other, limit, depth)
        except _RejectError as reject:
            reject.path.append(f"[{index}]")
            raise
        if new is not item:
            copy = list(items) if copy is None else copy
            copy[index] = new
    return items if copy is None else copy


def _walk_dict(mapping: dict[object, object], other: _Other, limit: int, depth: int) -> object:
    copy: dict[object, object] | None = None
    for key, item in mapping.items():
        if type(key) is not str:
            raise _RejectError(f"dict key of type {_type_name(key)}")
        kind = type(item)
        if kind in _SCALARS or (kind is int and _INT64_MIN <= cast("int", item) <= _INT64_MAX):
            continue
        try:
            new = _walk(item, other, limit, depth)
        except _RejectError as reject:
            reject.path.append(f"[{key[:40]!r}]")
            raise
        if new is not item:
            copy = dict(mapping) if copy is None else copy
            copy[key] = new
    return mapping if copy is None else copy


def _not_transferable(label: str, root: str, reject: _RejectError) -> NotTransferableError:
    where = reject.where(root)
    return NotTransferableError(
        f"{label}: {reject.what} at {where} cannot cross the process boundary; pass plain data: {PLAIN_DATA}"
    )


def check_transferable(value: object, name: str, *, limits: Limits = DEFAULT_LIMITS) -> None:
    """Check that the hook argument ``name`` is plain data that can be sent to a worker.

    Raises:
        NotTransferableError: ``value`` holds something else (a callable, a set, an object...), an int outside
            64 bits, a non-str dict key or containers nested too deep; the message names the argument and the path.
    """
    try:
        _walk(value, _refuse, limits.max_depth)
    except _RejectError as reject:
        raise _not_transferable(f"argument {name!r}", name, reject) from None


# --- encoding --------------------------------------------------------------------------------------------------

_ENCODER: Final = msgspec.msgpack.Encoder()


def _encode(frame: _Frame, limits: Limits) -> bytes:
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
        problem = _prescan(data, limits)
    if problem:
        raise NotTransferableError(f"the {type(frame).__name__} frame is too large: {problem}; pass less data")
    return data


def _check_arguments(args: list[Any] | tuple[()], kwargs: dict[str, Any], limits: Limits) -> None:
    if type(args) not in (list, tuple) or type(kwargs) is not dict:
        raise NotTransferableError(
            f"pass args as a list and kwargs as a dict, not {_type_name(args)}, {_type_name(kwargs)}"
        )
    try:  # one walk over all arguments; only a failure walks them again, to name the argument
        if args:
            _walk(args, _refuse, limits.max_depth, -1)
        _walk(kwargs, _refuse, limits.max_depth, -1)
    except _RejectError as reject:
        for index, arg in enumerate(args):
            check_transferable(arg, f"args[{index}]", limits=limits)
        for name, arg in kwargs.items():
            if type(name) is not str:
                raise NotTransferableError(f"keyword argument name {name!r:.60} is not a str") from None
            check_transferable(arg, name, limits=limits)
        raise _not_transferable("the arguments", "args", reject) from None  # not reached


def encode_host_frame(frame: HostFrame, *, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Encode a host -> worker frame (host side).

    Raises:
        NotTransferableError: an argument (or the Init payload) is not plain data, or the frame is too large.
    """
    kind = type(frame)
    if kind is Call or kind is InvokeHandle:
        _check_arguments(frame.args if isinstance(frame, InvokeHandle) else (), cast("Call", frame).kwargs, limits)
    elif isinstance(frame, Init):
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
        other = _refuse if register_callable is None else _handle_encoder(register_callable)
        try:
            value = _walk(frame.value, other, limits.max_depth)
        except _RejectError as reject:
            raise _not_transferable("the result", "result", reject) from None
        frame = frame if value is frame.value else msgspec.structs.replace(frame, value=value)
    elif isinstance(frame, Ready):
        check_transferable(frame.info, "info", limits=limits)
    return _encode(frame, limits)


def _handle_encoder(register: Callable[[Callable[..., object]], int]) -> _Other:
    def encode_callable(value: object) -> object:
        if not callable(value) or isinstance(value, type):
            raise _RejectError(_type_name(value))
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
        error_type=_clip(_type_name(exc), MAX_ERROR_TYPE),
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
        if handle <= _INT64_MAX:
            return Handle(handle)
    raise ProtocolViolationError(
        f"msgpack extension type {code} ({len(payload)} bytes) is not allowed; only callable handles "
        f"(type {HANDLE_EXT_CODE}, 8 bytes, id below 2**63) are"
    )


def _host_ext(code: int, data: memoryview) -> object:
    raise ProtocolViolationError(f"msgpack extension type {code} is not allowed in a frame from the host")


_WORKER_DECODER: Final = msgspec.msgpack.Decoder(WorkerFrame, ext_hook=_worker_ext)
_HOST_DECODER: Final = msgspec.msgpack.Decoder(HostFrame, ext_hook=_host_ext)

# Header byte -> (bytes of its length field, bytes that always follow); for str/bin/ext the length comes on top.
_FIXED: Final = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2}
_FIXED.update({0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17})
_SIZED: Final = {0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0), 0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0)}
_SIZED.update({0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1)})
_CONTAINERS: Final = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}  # (length field, objects per entry)


def _prescan(data: bytes, limits: Limits) -> str | None:
    """Count the objects a frame declares and how deep it nests, before msgspec allocates any of them.

    Returns:
        What is wrong (more than ``max_items`` objects, nested too deep, a reserved byte), or ``None``. A truncated
        frame passes: msgspec reports it.
    """
    pos, declared, left = 0, 1, 1  # left: objects still to read in the innermost open container
    outer: list[int] = []  # the same for the containers around it
    try:
        while True:
            if not left:
                if not outer:
                    return None
                left = outer.pop()
                continue
            left -= 1
            head = data[pos]
            pos += 1
            if head < 0x80 or head >= 0xE0:  # fixint
                continue
            if 0xA0 <= head < 0xC0:  # fixstr
                pos += head & 0x1F
                continue
            if head < 0xA0:  # fixmap, fixarray
                count = (head & 0x0F) * (2 if head < 0x90 else 1)
            elif head in _FIXED:
                pos += _FIXED[head]
                continue
            elif head in _SIZED:
                width, extra = _SIZED[head]
                pos += width + extra + int.from_bytes(data[pos : pos + width], "big")
                continue
            elif head in _CONTAINERS:
                width, per_entry = _CONTAINERS[head]
                count = int.from_bytes(data[pos : pos + width], "big") * per_entry
                pos += width
            else:
                return f"byte {head:#x} at offset {pos - 1} is not a msgpack header"
            declared += count
            if declared > limits.max_items:
                return f"it holds more than {limits.max_items} msgpack objects"
            if count:
                if len(outer) > limits.max_depth + 1:  # the frame's array and an argument container sit above values
                    return f"it nests deeper than {limits.max_depth} containers"
                outer.append(left)
                left = count
    except IndexError:  # truncated: msgspec reports it
        return None


def _decode(decoder: msgspec.msgpack.Decoder[Any], data: bytes, origin: str, limits: Limits) -> _Frame:
    problem = None
    if len(data) > limits.max_size:
        problem = f"it has {len(data)} bytes, more than {limits.max_size}"
    elif len(data) > limits.max_items:  # a smaller frame cannot hold more objects than bytes
        problem = _prescan(data, limits)
    if problem:
        raise ProtocolViolationError(f"a frame from the {origin} is refused: {problem}")
    try:
        return cast("_Frame", decoder.decode(data))
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
    raise _RejectError(_type_name(item))


def _checked(value: object, other: _Other, frame: _Frame, field: str, limits: Limits, *, depth: int = 0) -> object:
    try:
        return _walk(value, other, limits.max_depth, depth)
    except _RejectError as reject:
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
    frame = cast("WorkerFrame", _decode(_WORKER_DECODER, data, "worker", limits))
    if type(frame) is Result:
        checked = _checked(frame.value, _found_handle, frame, "value", limits)
        if checked is not frame.value:  # handles were found; build the host's objects now that all is valid
            value = _walk(checked, lambda found: handle_factory(cast("_Found", found).id), limits.max_depth)
            frame = msgspec.structs.replace(frame, value=value)
    elif type(frame) is Ready:
        _checked(frame.info, _refuse, frame, "info", limits)
    return frame


def decode_host_frame(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> HostFrame:
    """Decode and validate a frame from the host; worker side.

    Raises:
        ProtocolViolationError: the frame is malformed, unknown, oversized or holds anything but plain data.
    """
    frame = cast("HostFrame", _decode(_HOST_DECODER, data, "host", limits))
    kind = type(frame)
    if kind is Call or kind is InvokeHandle:
        if isinstance(frame, InvokeHandle):
            _checked(frame.args, _refuse, frame, "args", limits, depth=-1)
        _checked(cast("Call", frame).kwargs, _refuse, frame, "kwargs", limits, depth=-1)
    elif isinstance(frame, Init):
        _checked(frame.payload, _refuse, frame, "payload", limits)
    return frame
