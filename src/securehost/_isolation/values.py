"""Plain data: the checks every value crossing the process boundary passes, and the pre-scan of a frame's bytes.

Values are ``None``, ``bool``, ``int`` (signed 64-bit), ``float``, ``str``, ``bytes``, ``list``, ``tuple`` and
``dict`` with ``str`` keys, nested at most :attr:`~securehost._isolation.frames.Limits.max_depth` containers deep.

Two checks, one rule. :func:`is_plain` is the fast one every value passes first: a yes/no answer, no callback, no
allocation, one loop per container (about 1 µs for a small dict). Only a value it refuses takes :func:`walk`, which
says where and what the offending item is, and lets a callback decide about it (refuse it, or replace it: the worker
turns callables into handles, the host turns handles into its objects). A property test holds the two to the same
answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast

from securehost._isolation.frames import DEFAULT_LIMITS, INT64_MAX, INT64_MIN, PLAIN_DATA, Limits
from securehost.exceptions import NotTransferableError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "Other", "RejectError", "check_transferable", "is_plain", "not_transferable", "prescan", "refuse", "type_name",
    "walk",
]  # fmt: skip


class RejectError(Exception):
    """A value is not plain data; ``path`` collects the location innermost first while the walk unwinds."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.path: list[str] = []

    def where(self, root: str) -> str:
        return root + "".join(reversed(self.path))


_SCALARS: Final = frozenset({type(None), bool, float, str, bytes})
Other: TypeAlias = "Callable[[object], object]"


def type_name(value: object) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"


def refuse(value: object) -> object:
    raise RejectError(type_name(value))


def is_plain(value: Any, limit: int, depth: int = 0) -> bool:
    """Whether ``value`` is plain data nested at most ``limit`` containers deep (the same rule as :func:`walk`).

    ``depth`` is the nesting of ``value``'s own containers; -1 checks the items of an argument list or dict. The hot
    path of every frame: scalars are answered without a loop, each container with one loop and no calls for its
    scalar items.
    """
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is int:
        return bool(INT64_MIN <= value <= INT64_MAX)
    if kind is dict:
        if depth >= limit:
            return False
        for key in value:
            if type(key) is not str:
                return False
        items = value.values()
    elif kind is list or kind is tuple:
        if depth >= limit:
            return False
        items = value
    else:
        return False
    depth += 1
    for item in items:
        kind = type(item)
        if kind in _SCALARS:
            continue
        if kind is int:
            if INT64_MIN <= item <= INT64_MAX:
                continue
            return False
        if (kind is dict or kind is list or kind is tuple) and is_plain(item, limit, depth):
            continue
        return False
    return True


def walk(value: object, other: Other, limit: int, depth: int = 0) -> object:
    """Check that ``value`` is plain data; ``other`` decides about anything else (raise, or return a replacement).

    Returns ``value`` itself, or a copy of the containers in which ``other`` replaced something: plain data costs
    no allocation. ``depth`` is the nesting of ``value``'s own containers; -1 walks the items of an argument list.
    """
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is int:
        if INT64_MIN <= cast("int", value) <= INT64_MAX:
            return value
        raise RejectError("int outside the signed 64-bit range")
    if kind is list or kind is tuple or kind is dict:
        if depth >= limit:
            raise RejectError(f"{kind.__name__} nested deeper than {limit} containers")
        if kind is dict:
            return _walk_dict(cast("dict[object, object]", value), other, limit, depth + 1)
        return _walk_items(cast("list[object]", value), other, limit, depth + 1)
    return other(value)


def _walk_items(items: list[object], other: Other, limit: int, depth: int) -> object:
    copy: list[object] | None = None
    for index, item in enumerate(items):
        kind = type(item)
        if kind in _SCALARS or (kind is int and INT64_MIN <= cast("int", item) <= INT64_MAX):
            continue  # the common case, without a call
        try:
            new = walk(item, other, limit, depth)
        except RejectError as reject:
            reject.path.append(f"[{index}]")
            raise
        if new is not item:
            copy = list(items) if copy is None else copy
            copy[index] = new
    return items if copy is None else copy


def _walk_dict(mapping: dict[object, object], other: Other, limit: int, depth: int) -> object:
    copy: dict[object, object] | None = None
    for key, item in mapping.items():
        if type(key) is not str:
            raise RejectError(f"dict key of type {type_name(key)}")
        kind = type(item)
        if kind in _SCALARS or (kind is int and INT64_MIN <= cast("int", item) <= INT64_MAX):
            continue
        try:
            new = walk(item, other, limit, depth)
        except RejectError as reject:
            reject.path.append(f"[{key[:40]!r}]")
            raise
        if new is not item:
            copy = dict(mapping) if copy is None else copy
            copy[key] = new
    return mapping if copy is None else copy


def not_transferable(label: str, root: str, reject: RejectError) -> NotTransferableError:
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
    if is_plain(value, limits.max_depth):
        return
    try:
        walk(value, refuse, limits.max_depth)
    except RejectError as reject:
        raise not_transferable(f"argument {name!r}", name, reject) from None


# Header byte -> (bytes of its length field, bytes that always follow); for str/bin/ext the length comes on top.
_FIXED: Final = {0xC0: 0, 0xC2: 0, 0xC3: 0, 0xCA: 4, 0xCB: 8, 0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2}
_FIXED.update({0xD2: 4, 0xD3: 8, 0xD4: 2, 0xD5: 3, 0xD6: 5, 0xD7: 9, 0xD8: 17})
_SIZED: Final = {0xC4: (1, 0), 0xC5: (2, 0), 0xC6: (4, 0), 0xD9: (1, 0), 0xDA: (2, 0), 0xDB: (4, 0)}
_SIZED.update({0xC7: (1, 1), 0xC8: (2, 1), 0xC9: (4, 1)})
_CONTAINERS: Final = {0xDC: (2, 1), 0xDD: (4, 1), 0xDE: (2, 2), 0xDF: (4, 2)}  # (length field, objects per entry)


def prescan(data: bytes, limits: Limits) -> str | None:
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
