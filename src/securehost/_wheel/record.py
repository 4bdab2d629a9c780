r"""``RECORD`` files (PEP 376, PEP 627, the wheel format): strict parsing, canonical writing.

Decisions:

* The file is UTF-8 (no byte order mark) CSV: ``,`` between fields, ``"`` quoting, exactly three
  fields per row. ``\n`` and ``\r\n`` line ends are read; :meth:`Record.to_bytes` writes ``\n``
  and minimal quoting, like ``installer`` does, so parsing its output gives the same bytes back.
* A hash is ``algorithm=digest`` with the digest in URL-safe base64 without padding, canonical (no
  stray bits) and of the algorithm's length. ``sha256``, ``sha384`` and ``sha512`` are read (the
  wheel specification asks for sha256 "or better"); anything else, ``md5`` and ``sha1`` included,
  is a :class:`~securehost.exceptions.RecordFormatError`. securehost writes ``sha256`` only.
* A size is a decimal integer without sign or leading zeros.
* Hash and size are both present or both empty. Empty fields are for ``RECORD`` itself (and, in
  installed distributions, files such as ``.pyc`` that installers add); :meth:`Record.check_against`
  accepts them in a wheel only on the ``RECORD`` row.
* Paths must be non-empty and free of control characters; a path listed twice is an error.
* :meth:`Record.check_against` requires that ``RECORD`` lists every archive member with the right
  hash and size, lists itself with empty fields, and lists nothing else. ``RECORD.jws`` and
  ``RECORD.p7s`` in the ``.dist-info`` directory (legacy signatures of ``RECORD``) must *not* be
  listed, as the wheel specification says and ``installer`` checks; they are still archive members,
  so the securehost statement signs them like any other file.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import io
import re
from typing import TYPE_CHECKING, Final

import attrs

from securehost._models import value_model
from securehost._verdict import Reason, ReasonCode
from securehost.exceptions import RecordFormatError, WheelFormatError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from securehost._wheel.zipscan import MemberInfo

__all__ = ["HASH_ALGORITHMS", "Record", "RecordEntry"]

#: hash algorithms accepted in a RECORD, with their digest sizes
HASH_ALGORITHMS: Final = {"sha256": 32, "sha384": 48, "sha512": 64}
SIGNATURE_FILES: Final = ("RECORD.jws", "RECORD.p7s")
_MAX_SIZE: Final = 16 << 20
_SIZE_RE: Final = re.compile(r"0|[1-9][0-9]{0,19}")
_B64_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _check_path(_inst: object, _attribute: object, path: str) -> None:
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, not {type(path).__name__}")
    if not path or _CONTROL_RE.search(path):
        raise RecordFormatError(f"RECORD path {path!r} is empty or contains control characters")


def _encode(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class RecordEntry:
    """One ``RECORD`` row.

    Attributes:
        path: the file's path, ``/``-separated.
        algorithm: the hash algorithm (``sha256``, ``sha384``, ``sha512``), or ``None``.
        digest: the raw digest, or ``None``.
        size: the size in bytes, or ``None``.
    """

    path: str = attrs.field(validator=_check_path)
    algorithm: str | None = None
    digest: bytes | None = None
    size: int | None = None

    def __attrs_post_init__(self) -> None:
        if (self.algorithm is None) != (self.digest is None) or (self.digest is None) != (self.size is None):
            raise RecordFormatError(f"RECORD row {self.path!r}: give hash and size, or neither")
        if self.digest is not None and HASH_ALGORITHMS.get(self.algorithm or "") != len(self.digest):
            raise RecordFormatError(f"RECORD row {self.path!r}: bad {self.algorithm} digest")
        if self.size is not None and (isinstance(self.size, bool) or not 0 <= self.size < 10**20):
            raise RecordFormatError(f"RECORD row {self.path!r}: bad size {self.size!r}")

    @property
    def hexdigest(self) -> str | None:
        """The digest in lowercase hex, or ``None``."""
        return None if self.digest is None else self.digest.hex()

    def to_row(self) -> tuple[str, str, str]:
        """Return the three CSV fields."""
        if self.digest is None:
            return (self.path, "", "")
        return (self.path, f"{self.algorithm}={_encode(self.digest)}", str(self.size))

    @classmethod
    def from_row(cls, row: Sequence[str]) -> RecordEntry:
        """Parse the three CSV fields of a row.

        Args:
            row: the fields (untrusted).

        Returns:
            The entry.

        Raises:
            RecordFormatError: the row is malformed.
        """
        if len(row) != 3:
            raise RecordFormatError(f"a RECORD row has {len(row)} fields, not 3")
        path, hash_text, size_text = row
        if not hash_text and not size_text:
            return cls(path=path)
        algorithm, sep, value = hash_text.partition("=")
        if not sep or algorithm not in HASH_ALGORITHMS:
            raise RecordFormatError(f"RECORD row {path!r}: hash {hash_text[:20]!r} is not sha256, sha384 or sha512")
        try:
            if not _B64_RE.fullmatch(value):
                raise ValueError(value)
            digest = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
        except (ValueError, binascii.Error) as exc:
            raise RecordFormatError(f"RECORD row {path!r}: digest is not base64url") from exc
        if _encode(digest) != value:
            raise RecordFormatError(f"RECORD row {path!r}: digest is not canonical base64url")
        if not _SIZE_RE.fullmatch(size_text):
            raise RecordFormatError(f"RECORD row {path!r}: size {size_text[:22]!r} is invalid")
        return cls(path=path, algorithm=algorithm, digest=digest, size=int(size_text))


def _to_tuple(entries: Iterable[RecordEntry]) -> tuple[RecordEntry, ...]:
    return tuple(entries)


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class Record:
    """A parsed ``RECORD`` file.

    Attributes:
        entries: the rows, in file order; paths are unique.
    """

    entries: tuple[RecordEntry, ...] = attrs.field(converter=_to_tuple)
    _by_path: dict[str, RecordEntry] = attrs.field(init=False, repr=False, eq=False)

    @_by_path.default
    def _index(self) -> dict[str, RecordEntry]:
        index: dict[str, RecordEntry] = {}
        for entry in self.entries:
            if index.setdefault(entry.path, entry) is not entry:
                raise RecordFormatError(f"RECORD lists {entry.path!r} twice")
        return index

    @classmethod
    def from_bytes(cls, data: bytes, *, max_size: int = _MAX_SIZE) -> Record:
        """Parse a ``RECORD`` file.

        Args:
            data: the file's bytes (untrusted).
            max_size: reject larger files.

        Returns:
            The record.

        Raises:
            TypeError: *data* is not bytes.
            RecordFormatError: the file is malformed, too large, or lists a path twice.
        """
        if not isinstance(data, bytes):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        if len(data) > max_size:
            raise RecordFormatError(f"RECORD is {len(data)} bytes, more than {max_size}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordFormatError("RECORD is not UTF-8") from exc
        if text.startswith("\ufeff"):
            raise RecordFormatError("RECORD starts with a byte order mark")
        if "\r" in text.replace("\r\n", ""):
            raise RecordFormatError("RECORD has a carriage return that is not part of a CRLF line end")
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        entries = []
        try:
            for row in reader:
                try:
                    entries.append(RecordEntry.from_row(row))
                except RecordFormatError as exc:
                    raise RecordFormatError(f"RECORD line {reader.line_num}: {exc}") from exc
        except csv.Error as exc:
            raise RecordFormatError(f"RECORD line {reader.line_num}: {exc}") from exc
        return cls(entries=entries)

    @classmethod
    def from_members(cls, members: Iterable[MemberInfo], *, record_path: str) -> Record:
        """Build the ``RECORD`` of an archive: every member by path, then ``RECORD`` itself.

        Args:
            members: the verified archive members.
            record_path: the archive path of ``RECORD`` (``{name}-{version}.dist-info/RECORD``).

        Returns:
            The record, with sha256 digests.

        Raises:
            RecordFormatError: a member path is listed twice.
        """
        skip = {record_path, *_signature_paths(record_path)}
        rows = [
            RecordEntry(path=m.name, algorithm="sha256", digest=bytes.fromhex(m.sha256), size=m.size)
            for m in sorted(members, key=lambda m: m.name)
            if m.name not in skip
        ]
        return cls(entries=[*rows, RecordEntry(path=record_path)])

    def to_bytes(self) -> bytes:
        """Serialise canonically: LF line ends, minimal quoting, rows in order."""
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows(entry.to_row() for entry in self.entries)
        return out.getvalue().encode("utf-8")

    def get(self, path: str) -> RecordEntry | None:
        """Return the row for *path*, or ``None``."""
        return self._by_path.get(path)

    def check_against(
        self,
        members: Iterable[MemberInfo],
        *,
        record_path: str,
        digest: Callable[[str, str], str] | None = None,
    ) -> tuple[Reason, ...]:
        """Compare this record with the members of the archive it came from.

        Args:
            members: the verified archive members.
            record_path: the archive path of this ``RECORD``.
            digest: ``digest(path, algorithm)`` returns a member's hex digest under another
                algorithm (:meth:`securehost._wheel.zipsafe.ArchiveScan.digest`); without it, rows that
                use sha384 or sha512 cannot be verified and are mismatches.

        Returns:
            One ``RECORD_MISMATCH`` reason per problem; empty when the record matches.
        """
        reasons: list[Reason] = []

        def mismatch(path: str, message: str) -> None:
            reasons.append(Reason(code=ReasonCode.RECORD_MISMATCH, message=message, subject=path))

        signatures = set(_signature_paths(record_path))
        listed = dict(self._by_path)
        for member in members:
            entry = listed.pop(member.name, None)
            if member.name in signatures:
                if entry is not None:
                    mismatch(member.name, f"RECORD lists the signature file {member.name}")
            elif entry is None:
                mismatch(member.name, f"RECORD does not list {member.name}")
            elif member.name == record_path:
                if entry.digest is not None:
                    mismatch(member.name, "RECORD lists a hash and size for itself")
            elif entry.digest is None or entry.size is None:
                mismatch(member.name, f"RECORD has no hash and size for {member.name}")
            else:
                if entry.size != member.size:
                    mismatch(member.name, f"{member.name} is {member.size} bytes, not {entry.size}")
                actual = _member_digest(member, entry.algorithm or "", digest)
                if actual != entry.hexdigest:
                    mismatch(member.name, f"{member.name} does not match its {entry.algorithm}")
        listed.pop(record_path, None)
        if record_path not in self._by_path:
            mismatch(record_path, "RECORD does not list itself")
        for path in listed:
            mismatch(path, f"RECORD lists {path}, which the archive does not contain")
        return tuple(reasons)


def _signature_paths(record_path: str) -> list[str]:
    directory = record_path.rpartition("/")[0]
    return [f"{directory}/{name}" if directory else name for name in SIGNATURE_FILES]


def _member_digest(member: MemberInfo, algorithm: str, digest: Callable[[str, str], str] | None) -> str | None:
    if algorithm == "sha256":
        return member.sha256
    if digest is None:
        return None
    try:
        return digest(member.name, algorithm)
    except WheelFormatError:
        return None


def sha256_row(path: str, content: bytes) -> RecordEntry:
    """Return a sha256 ``RECORD`` row for *content* (a helper for writers and tests)."""
    return RecordEntry(path=path, algorithm="sha256", digest=hashlib.sha256(content).digest(), size=len(content))
