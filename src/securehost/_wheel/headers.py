"""A fast reader for the plain header block of a ``METADATA`` or ``WHEEL`` file, with the email parser as its fallback.

Parsing ``METADATA`` with :mod:`email` costs about 0.2 ms a file, twice per plugin on every start-up (discovery reads
the name and version, the installed check the ``Requires-Dist`` lines), and importing :mod:`email.parser` costs a
process about 9 ms (``securehost verify`` and ``install`` read a wheel's ``METADATA`` and ``WHEEL``). Almost every
``METADATA`` and ``WHEEL`` is plain: ASCII, one ``Name: value`` per line, no folded lines. For exactly that form,
:func:`plain_headers` gives what ``email.parser`` with the ``compat32`` policy gives (each value after the colon without
leading blanks, every occurrence in order); for anything else it returns ``None`` and the caller uses the email parser,
so the two never disagree on a file either accepts.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["header_values", "plain_headers"]

_NAME: Final = re.compile(rb"[\x21-\x39\x3b-\x7e]+")


def plain_headers(raw: bytes) -> dict[str, list[str]] | None:
    """Return the header block as lowercase name -> values, or ``None`` when it is not plain."""
    if not raw.isascii() or raw.startswith(b"From "):
        return None
    headers: dict[str, list[str]] = {}
    for line in raw.split(b"\n"):
        if line.endswith(b"\r"):
            line = line[:-1]  # noqa: PLW2901 - CRLF lines
        if not line:
            return headers
        name, colon, value = line.partition(b":")
        if not colon or b"\r" in line or _NAME.fullmatch(name) is None:
            return None  # a folded line, a bare CR, a line that is no header: the email parser decides
        headers.setdefault(name.decode().lower(), []).append(value.lstrip(b" \t").decode())
    return headers


def header_values(raw: bytes, name: str) -> list[str]:
    """Return every value of header *name* in the header block of *raw* (as ``compat32``'s ``get_all``).

    Raises:
        ValueError: the email parser fails on a header block that is not plain (it rarely does).
    """
    plain = plain_headers(raw)
    if plain is not None:
        return plain.get(name.lower(), [])
    import email.parser  # noqa: PLC0415 - only for METADATA that is not plain
    import email.policy  # noqa: PLC0415

    message = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    return [str(value) for value in message.get_all(name) or []]
