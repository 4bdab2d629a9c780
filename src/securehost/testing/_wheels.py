"""Wheels for tests: build a standards-conforming wheel from a dict of files, and tamper with wheels in named ways.

:func:`build_wheel` writes the archive directly (``.dist-info`` with ``METADATA``, ``WHEEL``, ``entry_points.txt``
and a ``RECORD`` with a SHA-256 row for every member), deterministically and in milliseconds.
:func:`tamper_wheel` makes one named change that an attacker between the signer and the installer could make;
each :class:`WheelTamper` kind is guaranteed to make :func:`securehost.verify_wheel` reject a wheel that a trusted
key signed, with the reason code :attr:`WheelTamper.reason`.
"""

from __future__ import annotations

import base64
import csv
import enum
import hashlib
import io
import json
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from securehost._signing.private import PrivateKey
from securehost._trust.verify import ENVELOPE_FILENAME
from securehost._verdict import ReasonCode
from securehost._version import __version__
from securehost._wheel.wheelfile import describe_wheel, sign_wheel

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Mapping

__all__ = ["WheelTamper", "build_wheel", "tamper_wheel", "wheel_members"]

_DATE: Final = (1980, 1, 1, 0, 0, 0)
_NAME_RE: Final = re.compile(r"[A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9]", re.IGNORECASE)
_GROUP_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_GENERATED: Final = frozenset({"METADATA", "WHEEL", "RECORD", "entry_points.txt", ENVELOPE_FILENAME})
_TAMPERED_PAYLOAD_TYPE: Final = "application/vnd.securehost.tampered+json"


@final
class WheelTamper(str, enum.Enum):
    """Named ways to tamper with a wheel; each one makes :func:`securehost.verify_wheel` reject a signed wheel.

    ``RECORD`` is rewritten to match the change (as an attacker on a mirror would do, so that ``pip`` and
    ``installer`` accept the wheel) except by :attr:`RECORD_MISMATCH`. :attr:`reason` is the reason code that
    verification is guaranteed to report (others may come with it); :attr:`installed_reason` the one a host reports
    once the tampered wheel is installed.
    """

    #: Insert a line of code at the top of a signed module.
    MODIFY_FILE = "modify-file"
    #: Append one byte to a signed module.
    APPEND_BYTE = "append-byte"
    #: Add a module that the statement does not list.
    ADD_FILE = "add-file"
    #: Remove a signed module (and its ``RECORD`` row).
    REMOVE_FILE = "remove-file"
    #: Modify a signed module and leave ``RECORD`` as it was.
    RECORD_MISMATCH = "record-mismatch"
    #: Add an entry-point group to ``entry_points.txt``.
    CHANGE_ENTRY_POINTS = "change-entry-points"
    #: Remove the DSSE envelope (an unsigned copy of a signed wheel).
    DROP_ENVELOPE = "drop-envelope"
    #: Change the envelope's ``payloadType`` (the signatures stay as they are).
    SWAP_PAYLOAD_TYPE = "swap-payload-type"
    #: Flip one bit of the first signature.
    CORRUPT_SIGNATURE = "corrupt-signature"
    #: Re-sign the wheel with a fresh key that no trust store holds (the attacker's own key).
    RESIGN_UNTRUSTED = "resign-untrusted"

    @property
    def reason(self) -> ReasonCode:
        """The reason code :func:`securehost.verify_wheel` is guaranteed to report for a tampered signed wheel."""
        return _WHEEL_REASONS[self]

    @property
    def installed_reason(self) -> ReasonCode:
        """The reason code a :class:`~securehost.Host` reports when the tampered wheel is installed and loaded.

        Installing checks nothing, so changed files show up as changed installed files. For
        :attr:`ADD_FILE` this holds when the wheel's first module is inside a package (the file is added to that
        package); an extra *top-level* module is not noticed by the host.
        """
        return _INSTALLED_REASONS[self]

    @property
    def needs_envelope(self) -> bool:
        """Whether the kind changes the envelope, so that it applies to signed wheels only."""
        return self in (WheelTamper.DROP_ENVELOPE, WheelTamper.SWAP_PAYLOAD_TYPE, WheelTamper.CORRUPT_SIGNATURE)


_WHEEL_REASONS: Final = {
    WheelTamper.MODIFY_FILE: ReasonCode.DIGEST_MISMATCH,
    WheelTamper.APPEND_BYTE: ReasonCode.DIGEST_MISMATCH,
    WheelTamper.ADD_FILE: ReasonCode.FILE_NOT_SIGNED,
    WheelTamper.REMOVE_FILE: ReasonCode.SIGNED_FILE_MISSING,
    WheelTamper.RECORD_MISMATCH: ReasonCode.RECORD_MISMATCH,
    WheelTamper.CHANGE_ENTRY_POINTS: ReasonCode.ENTRY_POINTS_MISMATCH,
    WheelTamper.DROP_ENVELOPE: ReasonCode.ENVELOPE_MISSING,
    WheelTamper.SWAP_PAYLOAD_TYPE: ReasonCode.SIGNATURE_INVALID,
    WheelTamper.CORRUPT_SIGNATURE: ReasonCode.SIGNATURE_INVALID,
    WheelTamper.RESIGN_UNTRUSTED: ReasonCode.KEY_UNKNOWN,
}
_INSTALLED_REASONS: Final = {
    **_WHEEL_REASONS,
    WheelTamper.MODIFY_FILE: ReasonCode.INSTALLED_FILE_MODIFIED,
    WheelTamper.APPEND_BYTE: ReasonCode.INSTALLED_FILE_MODIFIED,
    WheelTamper.ADD_FILE: ReasonCode.INSTALLED_FILE_UNSIGNED,
    WheelTamper.REMOVE_FILE: ReasonCode.INSTALLED_FILE_MISSING,
    WheelTamper.RECORD_MISMATCH: ReasonCode.INSTALLED_FILE_MODIFIED,
    WheelTamper.CHANGE_ENTRY_POINTS: ReasonCode.INSTALLED_FILE_MODIFIED,
}


# --- building ------------------------------------------------------------------------------------------------


def _check_member_path(path: object, dist_info: str) -> str:
    if not isinstance(path, str):
        raise TypeError(f"file names must be strings, not {type(path).__name__}")
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"file name {path!r} must be a relative POSIX path without '.', '..' or empty segments")
    if parts[0].endswith(".dist-info") and (parts[0] != dist_info or (path.count("/") == 1 and parts[1] in _GENERATED)):
        raise ValueError(f"file name {path!r}: the builder writes the .dist-info metadata itself")
    return path


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _record(members: Mapping[str, bytes], record_path: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for path, data in members.items():
        if path != record_path:
            writer.writerow([path, _record_hash(data), len(data)])
    writer.writerow([record_path, "", ""])
    return out.getvalue().encode()


def _entry_points_text(entry_points: Mapping[str, Mapping[str, str]]) -> bytes:
    lines: list[str] = []
    for group, entries in entry_points.items():
        if not isinstance(group, str) or not _GROUP_RE.fullmatch(group):
            raise ValueError(f"entry-point group {group!r} is not a valid group name")
        if not hasattr(entries, "items"):
            kind = type(entries).__name__
            raise TypeError(f"entry_points[{group!r}] must map entry-point names to values, not be a {kind}")
        lines.append(f"[{group}]")
        for name, value in entries.items():
            if not (isinstance(name, str) and isinstance(value, str)):
                raise TypeError(f"entry point {name!r} in {group!r}: names and values must be strings")
            if not name.strip() or "=" in name or name.startswith("[") or any(c in name + value for c in "\r\n"):
                raise ValueError(f"entry point {name!r} = {value!r} in {group!r} cannot be written")
            lines.append(f"{name.strip()} = {value.strip()}")
        lines.append("")
    return "\n".join(lines).encode()


def _write_zip(target: Path, members: Mapping[str, bytes]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            item = zipfile.ZipInfo(name, date_time=_DATE)
            item.compress_type = zipfile.ZIP_DEFLATED
            item.create_system = 3
            item.external_attr = 0o100644 << 16
            archive.writestr(item, data)


def build_wheel(
    directory: str | os.PathLike[str],
    files: Mapping[str, bytes | str],
    *,
    name: str,
    version: str,
    entry_points: Mapping[str, Mapping[str, str]] | None = None,
    requires: Iterable[str] = (),
    tag: str = "py3-none-any",
) -> Path:
    """Write an unsigned, standards-conforming wheel of *files* into *directory*; return its path.

    The archive holds *files* (archive path → content; ``str`` is written as UTF-8) and a ``.dist-info`` with
    ``METADATA`` (metadata 2.1), ``WHEEL``, ``entry_points.txt`` (when *entry_points* is given) and ``RECORD``, in
    that order, with fixed timestamps: the same arguments give the same bytes.

    Args:
        directory: where the wheel goes (created if needed).
        files: the archive members; other files of the ``.dist-info`` (``licenses/...``) may be included.
        name: the distribution name (``acme-csv``); the file name uses its normalised form (``acme_csv``).
        version: a PEP 440 version, written in normalised form.
        entry_points: group → entry-point name → ``module:attr``.
        requires: ``Requires-Dist`` values.
        tag: the compatibility tag, possibly compressed (``py2.py3-none-any``).

    Returns:
        The wheel's path.

    Raises:
        ValueError: the name, version, tag, a file name or an entry point is invalid, or a file name collides with
            the metadata the builder writes.
        TypeError: a file name or content has the wrong type.
        OSError: the wheel cannot be written.
    """
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not a valid distribution name")
    try:
        normal_version = str(Version(version))
    except InvalidVersion as exc:
        raise ValueError(f"{version!r} is not a PEP 440 version") from exc
    try:
        tags = sorted(str(t) for t in parse_tag(tag))
    except (ValueError, IndexError) as exc:
        raise ValueError(f"{tag!r} is not a compatibility tag") from exc
    if isinstance(requires, str):
        raise TypeError("requires must be a list of requirement strings, not a single string")
    stem = f"{canonicalize_name(name).replace('-', '_')}-{normal_version}"
    dist_info = f"{stem}.dist-info"
    members: dict[str, bytes] = {}
    for path in sorted(files):
        content = files[path]
        if not isinstance(content, (bytes, str)):
            raise TypeError(f"{path!r}: content must be bytes or str, not {type(content).__name__}")
        members[_check_member_path(path, dist_info)] = content.encode() if isinstance(content, str) else content
    metadata = [f"Metadata-Version: 2.1\nName: {name}\nVersion: {normal_version}\n"]
    metadata.extend(f"Requires-Dist: {requirement}\n" for requirement in requires)
    members[f"{dist_info}/METADATA"] = ("".join(metadata) + "\n").encode()
    wheel = f"Wheel-Version: 1.0\nGenerator: securehost.testing ({__version__})\nRoot-Is-Purelib: true\n"
    members[f"{dist_info}/WHEEL"] = (wheel + "".join(f"Tag: {t}\n" for t in tags)).encode()
    if entry_points is not None:
        members[f"{dist_info}/entry_points.txt"] = _entry_points_text(entry_points)
    record_path = f"{dist_info}/RECORD"
    members[record_path] = _record(members, record_path)
    target = Path(directory) / f"{stem}-{tag}.whl"
    _write_zip(target, members)
    return target


# --- tampering -----------------------------------------------------------------------------------------------


def wheel_members(wheel: str | os.PathLike[str]) -> dict[str, bytes]:
    """Return every file member of a (test) wheel, in archive order.

    Raises:
        OSError: the file cannot be read.
        zipfile.BadZipFile: it is not a zip archive.
    """
    with zipfile.ZipFile(wheel) as archive:
        return {item.filename: archive.read(item) for item in archive.infolist() if not item.is_dir()}


def _dist_info(members: Iterable[str]) -> str:
    found = sorted({n.split("/")[0] for n in members if n.count("/") == 1 and n.endswith(".dist-info/RECORD")})
    if len(found) != 1:
        raise ValueError(f"expected exactly one .dist-info/RECORD, found {found or 'none'}")
    return found[0]


def _pick_target(members: Mapping[str, bytes], dist_info: str, target: str | None) -> str:
    if target is not None:
        if target not in members or target.startswith(f"{dist_info}/"):
            raise ValueError(f"{target!r} is not a file of the wheel outside its .dist-info")
        return target
    payload = sorted(n for n in members if not n.startswith(f"{dist_info}/"))
    modules = [n for n in payload if n.endswith(".py")]
    if not payload:
        raise ValueError("the wheel has no file outside its .dist-info to tamper with")
    return (modules or payload)[0]


def _tamper_envelope(data: bytes, kind: WheelTamper) -> bytes:
    document = json.loads(data)
    if kind is WheelTamper.SWAP_PAYLOAD_TYPE:
        document["payloadType"] = _TAMPERED_PAYLOAD_TYPE
    else:
        signature = bytearray(base64.b64decode(document["signatures"][0]["sig"]))
        signature[0] ^= 0x01
        document["signatures"][0]["sig"] = base64.b64encode(bytes(signature)).decode()
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def tamper_wheel(
    wheel: str | os.PathLike[str],
    kind: WheelTamper | str,
    output: str | os.PathLike[str],
    *,
    target: str | None = None,
) -> Path:
    """Write a copy of *wheel* into the directory *output*, tampered in the way *kind* names; return its path.

    The copy keeps the wheel's file name. For a wheel signed by a trusted key, :func:`securehost.verify_wheel`
    rejects the copy with ``WheelTamper(kind).reason``.

    Args:
        wheel: the wheel (built by :func:`build_wheel`, ``python -m build`` or any other tool).
        kind: a :class:`WheelTamper` or its value (``"modify-file"``).
        output: the directory for the copy (created if needed; must not be the wheel's own directory).
        target: the member to change or remove (default: the first module outside the ``.dist-info``).

    Returns:
        The tampered copy.

    Raises:
        ValueError: *kind* is unknown, the wheel has no envelope and *kind* needs one, the wheel has nothing to
            tamper with, *target* is not a member, or *output* is the wheel's directory.
        OSError: a file cannot be read or written.
        zipfile.BadZipFile: *wheel* is not a zip archive.
    """
    kind = WheelTamper(kind)
    source = Path(wheel)
    destination = Path(output) / source.name
    if destination.resolve() == source.resolve():
        raise ValueError("the tampered copy must go to another directory than the wheel")
    members = wheel_members(source)
    dist_info = _dist_info(members)
    record_path = f"{dist_info}/RECORD"
    envelope_path = f"{dist_info}/{ENVELOPE_FILENAME}"
    if kind.needs_envelope and envelope_path not in members:
        raise ValueError(f"{kind.value} needs a signed wheel; {source.name} has no {ENVELOPE_FILENAME}")
    if kind is WheelTamper.RESIGN_UNTRUSTED:
        permissions = describe_wheel(source)["predicate"]["permissions"] if envelope_path in members else []
        destination.parent.mkdir(parents=True, exist_ok=True)
        return sign_wheel(
            source, PrivateKey.generate(), permissions=permissions, output=destination, replace_statement=True
        )
    record = members.pop(record_path)
    if kind is WheelTamper.DROP_ENVELOPE:
        del members[envelope_path]
    elif kind in (WheelTamper.SWAP_PAYLOAD_TYPE, WheelTamper.CORRUPT_SIGNATURE):
        members[envelope_path] = _tamper_envelope(members[envelope_path], kind)
    elif kind is WheelTamper.CHANGE_ENTRY_POINTS:
        path = f"{dist_info}/entry_points.txt"
        injected = b"\n[securehost.tampered]\ninjected = securehost_tampered:run\n"
        members[path] = members.get(path, b"") + injected
    elif kind is WheelTamper.ADD_FILE:
        chosen = _pick_target(members, dist_info, target)
        top = chosen.split("/")[0] if "/" in chosen else ""
        members[f"{top}/_securehost_tampered.py" if top else "_securehost_tampered.py"] = b"import os\n"
    else:
        chosen = _pick_target(members, dist_info, target)
        if kind is WheelTamper.REMOVE_FILE:
            del members[chosen]
        elif kind is WheelTamper.APPEND_BYTE:
            members[chosen] += b"\n"
        else:  # MODIFY_FILE, RECORD_MISMATCH
            members[chosen] = b"__import__('os').getpid()  # tampered\n" + members[chosen]
    members[record_path] = record if kind is WheelTamper.RECORD_MISMATCH else _record(members, record_path)
    _write_zip(destination, members)
    return destination
