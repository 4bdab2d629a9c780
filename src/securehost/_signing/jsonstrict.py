"""Strict JSON: one way to read untrusted JSON, one canonical way to write it.

:func:`loads_strict` accepts a subset of JSON in which every document has exactly one meaning: UTF-8
without a byte order mark, no duplicate object keys, no non-finite numbers, no unpaired surrogates,
bounded size and nesting, and an object at the top. :func:`dumps_canonical` writes sorted keys
without whitespace, as UTF-8.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final, NoReturn

from securehost._patterns import lazy_pattern
from securehost._verdict import ReasonCode
from securehost.exceptions import EnvelopeFormatError

__all__ = ["check_keys", "dumps_canonical", "loads_strict"]

_BOM: Final = b"\xef\xbb\xbf"


_surrogate_re = lazy_pattern("[\ud800-\udfff]")


_SURROGATE_ESCAPE_RE: Final = re.compile(r"\\u[dD][89a-fA-F]")
_MAX_NUMBER_CHARS: Final = 64


class _StrictJSONError(ValueError):
    """Raised inside the JSON decoder hooks; the caller wraps it in :class:`EnvelopeFormatError`."""


def _object_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:  # pragma: no branch - a duplicate is always found
            if key in seen:
                raise _StrictJSONError(f"duplicate object key {key[:80]!r}")
            seen.add(key)
    return result


def _reject_constant(name: str) -> NoReturn:
    raise _StrictJSONError(f"non-finite number {name} is not allowed")


def _parse_float(text: str) -> float:
    if len(text) > _MAX_NUMBER_CHARS:
        raise _StrictJSONError(f"number literal longer than {_MAX_NUMBER_CHARS} characters")
    value = float(text)
    if not math.isfinite(value):
        raise _StrictJSONError(f"number {text[:40]} is out of range")
    return value


def _parse_int(text: str) -> int:
    if len(text) > _MAX_NUMBER_CHARS:
        raise _StrictJSONError(f"number literal longer than {_MAX_NUMBER_CHARS} characters")
    return int(text)


_DECODER: Final = json.JSONDecoder(
    object_pairs_hook=_object_pairs,
    parse_constant=_reject_constant,
    parse_float=_parse_float,
    parse_int=_parse_int,
    strict=True,
)


def _check_depth(root: dict[str, Any], max_depth: int) -> None:
    """Check the nesting depth of a decoded document without recursion.

    Raises:
        EnvelopeFormatError: the document nests deeper than *max_depth*.
    """
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(root, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > max_depth:
            raise EnvelopeFormatError(f"JSON nests deeper than {max_depth} levels")
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, (dict, list)):
                push((child, depth + 1))


def _check_surrogates(root: dict[str, Any]) -> None:
    """Reject unpaired surrogates in any key or string of a decoded document.

    Raises:
        EnvelopeFormatError: a string holds an unpaired surrogate.
    """
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and not node.isascii() and _surrogate_re().search(node):
            raise EnvelopeFormatError("JSON string contains an unpaired surrogate escape")


def loads_strict(data: bytes, *, max_bytes: int, max_depth: int) -> dict[str, Any]:
    """Parse untrusted JSON *data* strictly; the top level must be an object.

    Args:
        data: untrusted bytes, UTF-8 encoded without a byte order mark.
        max_bytes: the largest accepted input, checked before anything is decoded.
        max_depth: the deepest accepted nesting of objects and arrays (the top-level object is depth
            1).

    Returns:
        The decoded object; JSON objects become ``dict``, arrays ``list``.

    Raises:
        TypeError: *data* is not ``bytes``.
        EnvelopeFormatError: the input is too large (code ``ENVELOPE_TOO_LARGE``), is not UTF-8,
            starts with a byte order mark, is not JSON, repeats an object key, holds a non-finite or
            overlong number or an unpaired surrogate, nests deeper than *max_depth*, or is not an
            object at the top (code ``ENVELOPE_MALFORMED``).
    """
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    if len(data) > max_bytes:
        raise EnvelopeFormatError(
            f"JSON document of {len(data)} bytes exceeds the limit of {max_bytes} bytes",
            code=ReasonCode.ENVELOPE_TOO_LARGE,
        )
    if data.startswith(_BOM):
        raise EnvelopeFormatError("JSON document starts with a UTF-8 byte order mark")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EnvelopeFormatError(f"JSON document is not valid UTF-8: {exc.reason} at byte {exc.start}") from exc
    try:
        value = _DECODER.decode(text)
    except _StrictJSONError as exc:
        raise EnvelopeFormatError(f"invalid JSON: {exc}") from exc
    except RecursionError as exc:
        raise EnvelopeFormatError(f"JSON nests deeper than {max_depth} levels") from exc
    except ValueError as exc:  # json.JSONDecodeError, int() digit limits
        raise EnvelopeFormatError(f"invalid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise EnvelopeFormatError(f"JSON document must be an object, not {type(value).__name__}")
    if text.count("{") + text.count("[") > max_depth:  # fewer brackets than the limit cannot nest deeper
        _check_depth(value, max_depth)
    # UTF-8 decoding already refused encoded surrogates; only \uD800-\uDFFF escapes can make them.
    if _SURROGATE_ESCAPE_RE.search(text):
        _check_surrogates(value)
    return value


def check_keys(obj: dict[str, Any], expected: frozenset[str], what: str, *, code: ReasonCode) -> None:
    """Check that *obj* has exactly the keys *expected*.

    Raises:
        EnvelopeFormatError: a key is missing or unknown (with *code*).
    """
    if obj.keys() != expected:
        missing = sorted(expected - obj.keys())
        unknown = sorted(k[:80] for k in obj.keys() - expected)[:8]
        raise EnvelopeFormatError(
            f"{what} must have exactly the keys {', '.join(sorted(expected))}: missing {missing}, unknown {unknown}",
            code=code,
        )


def dumps_canonical(value: Any) -> bytes:
    """Serialise *value* as canonical JSON: sorted keys, no whitespace, UTF-8, no ASCII escaping.

    Raises:
        TypeError: *value* holds something that JSON cannot represent.
        ValueError: *value* holds a non-finite float or a circular reference.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
