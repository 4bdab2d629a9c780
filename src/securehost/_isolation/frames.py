"""The frames between the host and a plugin worker: frozen msgspec structs, their field bounds and the frame limits.

:mod:`securehost._isolation.codec` encodes and decodes them; the values they carry are checked by
:mod:`securehost._isolation.values`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal, TypeAlias, Union

import msgspec
from msgspec import Meta

__all__ = [
    "DEFAULT_LIMITS", "HANDLE_EXT_CODE", "INT64_MAX", "INT64_MIN", "MAX_AUDIT_FIELDS", "MAX_AUDIT_TEXT",
    "MAX_ERROR_TYPE", "MAX_MESSAGE", "MAX_NAME", "MAX_TRACEBACK", "PLAIN_DATA", "PROTOCOL_VERSION", "TYPED_DEPTH",
    "Audit", "Call", "Failure", "Frame", "Handle", "HostFrame", "Init", "InvokeHandle", "Limits", "Ready",
    "ReleaseHandle", "Result", "Shutdown", "TypedCall", "TypedResult", "WorkerFrame",
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
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1


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

_Id = Annotated[int, Meta(ge=0, le=INT64_MAX)]
_Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
_AuditValue = Annotated[str, Meta(max_length=MAX_AUDIT_TEXT)] | Annotated[int, Meta(le=INT64_MAX)] | float | bool | None


class Frame(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True, tag_field="k"):
    """Base of every frame: frozen, encoded as a tagged array, unknown fields rejected."""


class Init(Frame, frozen=True, tag="init"):
    """Host -> worker, first frame: the protocol version, the plugin to load and what the worker needs (plain data)."""

    protocol: _Id
    plugin: _Name
    payload: dict[str, Any]


class Call(Frame, frozen=True, tag="call"):
    """Host -> worker: call the plugin's implementation of ``hook`` with ``kwargs``; answered by Result or Failure."""

    id: _Id
    hook: _Name
    kwargs: dict[_Name, Any]


class InvokeHandle(Frame, frozen=True, tag="invoke"):
    """Host -> worker: call the callable registered as ``handle``; answered by Result or Failure with ``id``."""

    id: _Id
    handle: _Id
    args: list[Any]
    kwargs: dict[_Name, Any]


class ReleaseHandle(Frame, frozen=True, tag="release"):
    """Host -> worker: the host dropped its last reference to ``handle``; no answer."""

    handle: _Id


class Shutdown(Frame, frozen=True, tag="shutdown"):
    """Host -> worker: exit now; no answer."""


class Ready(Frame, frozen=True, tag="ready"):
    """Worker -> host, answer to Init: the worker's protocol version and plain data (for instance the hookimpls)."""

    protocol: _Id
    info: dict[str, Any]


class Result(Frame, frozen=True, tag="result"):
    """Worker -> host: the value returned for request ``id``; may hold callable handles."""

    id: _Id
    value: Any


class Failure(Frame, frozen=True, tag="failure"):
    """Worker -> host: request ``id`` raised (``id`` 0: the worker failed outside a request, e.g. during Init)."""

    id: _Id
    error_type: Annotated[str, Meta(max_length=MAX_ERROR_TYPE)]
    message: Annotated[str, Meta(max_length=MAX_MESSAGE)]
    traceback: Annotated[str, Meta(max_length=MAX_TRACEBACK)]


class Audit(Frame, frozen=True, tag="audit"):
    """Worker -> host: an audit event from inside the worker, with flat scalar fields."""

    event: Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
    fields: Annotated[dict[Annotated[str, Meta(max_length=MAX_NAME)], _AuditValue], Meta(max_length=MAX_AUDIT_FIELDS)]


class Handle(msgspec.Struct, frozen=True):
    """A callable handle as decoded, before the host's ``handle_factory`` replaces it."""

    id: int


HostFrame: TypeAlias = Init | Call | InvokeHandle | ReleaseHandle | Shutdown
WorkerFrame: TypeAlias = Ready | Result | Failure | Audit

# --- the typed fast path -----------------------------------------------------------------------------------------

#: Containers a value may nest and still be checked by msgspec alone (see :data:`TypedResult`).
TYPED_DEPTH: Final = 6


def _typed_value(depth: int) -> Any:
    """Plain data without ``bytes``, nested at most ``depth`` containers deep, as a type msgspec checks while decoding.

    msgspec cannot express a recursive type, and a union may hold only one of ``str`` and ``bytes``; so this is the
    plain-data rule unrolled ``depth`` times, ``bytes`` left out. Each level holds the level below twice (in the
    list and in the dict), so the type has about 2**depth nodes: 6 levels cost 1 ms to build.
    """
    scalar: Any = Union[None, bool, Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX)], float, str]  # noqa: UP007
    value = scalar
    for _ in range(depth):
        value = Union[scalar, list[value], dict[str, value]]  # type: ignore[valid-type]  # noqa: UP007
    return value


_TypedValue: Any = _typed_value(TYPED_DEPTH)
#: A Result frame whose value is plain data without ``bytes``, nested at most :data:`TYPED_DEPTH` deep. Every frame
#: that decodes as this is valid without a walk in Python; one that does not is decoded again the long way.
TypedResult: Final[Any] = tuple[Literal["result"], _Id, _TypedValue]
#: The same for a Call frame's keyword arguments.
TypedCall: Final[Any] = tuple[Literal["call"], _Id, _Name, dict[_Name, _TypedValue]]
