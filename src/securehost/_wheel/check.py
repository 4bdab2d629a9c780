"""Every wheel-level check on a scanned archive, collected into one result.

:func:`inspect_wheel` takes the verified members of :func:`securehost._wheel.zipsafe.read_archive` and
checks what a wheel adds to a zip: the file name, the ``.dist-info`` and ``.data`` directories,
``METADATA``, ``WHEEL``, ``entry_points.txt``, ``RECORD`` against the members, and forbidden files.
It never raises for bad content; the zip-level reasons stay in the scan, so a caller rejects a wheel
when ``scan.reasons`` or ``inspection.reasons`` is non-empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import attrs

from securehost._models import value_model
from securehost._verdict import Reason, ReasonCode
from securehost._wheel.entrypoints import parse_entry_points
from securehost._wheel.info import (
    Metadata,
    WheelFilename,
    WheelMetadata,
    find_dist_info,
    forbidden_files,
    installed_path,
    parse_metadata,
    parse_wheel_metadata,
    top_level_dirs,
)
from securehost._wheel.record import Record
from securehost.exceptions import WheelFormatError

if TYPE_CHECKING:
    from securehost._wheel.zipsafe import ArchiveScan

__all__ = ["WheelInfo", "WheelInspection", "inspect_wheel"]

_RECORD_MAX: Final = 16 << 20
_METADATA_MAX: Final = 1 << 20


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class WheelInfo:
    """What a wheel says about itself, once every file parsed.

    Attributes:
        filename: the parsed file name.
        dist_info: the ``.dist-info`` directory name.
        metadata: ``METADATA``'s name and version.
        wheel: the ``WHEEL`` file.
        entry_points: ``entry_points.txt`` as ``{group: {name: value}}`` (empty when absent).
        record: the parsed ``RECORD``.
    """

    filename: WheelFilename
    dist_info: str
    metadata: Metadata
    wheel: WheelMetadata
    entry_points: dict[str, dict[str, str]] = attrs.field(hash=False)
    record: Record = attrs.field(hash=False)

    @property
    def name(self) -> str:
        """The canonical distribution name."""
        return self.filename.name

    @property
    def version(self) -> str:
        """The normalised version."""
        return self.filename.version

    @property
    def data_dir(self) -> str:
        """The ``{name}-{version}.data`` directory name."""
        return self.dist_info[: -len(".dist-info")] + ".data"

    @property
    def record_path(self) -> str:
        """The archive path of ``RECORD``."""
        return f"{self.dist_info}/RECORD"

    def installed_path(self, archive_name: str) -> tuple[str, str]:
        """Map a member to ``(scheme, path)``; see :func:`securehost._wheel.info.installed_path`.

        Raises:
            WheelFormatError: the member is in the data directory but under no known scheme.
        """
        return installed_path(archive_name, data_dir=self.data_dir, root_is_purelib=self.wheel.root_is_purelib)


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class WheelInspection:
    """The result of :func:`inspect_wheel`.

    Attributes:
        info: the wheel's metadata, or ``None`` when a required file could not be parsed.
        reasons: every wheel-level problem, in the order found.
    """

    info: WheelInfo | None
    reasons: tuple[Reason, ...]

    @property
    def ok(self) -> bool:
        """``True`` when no reason was found."""
        return not self.reasons


def inspect_wheel(filename: str, scan: ArchiveScan) -> WheelInspection:
    """Run every wheel-level check on a scanned archive.

    Args:
        filename: the wheel's file name (a base name; untrusted).
        scan: the archive scan.

    Returns:
        The parsed metadata (when it parsed) and every reason found.
    """
    reasons: list[Reason] = list(forbidden_files(scan.names))

    def reason(code: ReasonCode, message: str, subject: str | None = None) -> None:
        reasons.append(Reason(code=code, message=message, subject=subject))

    try:
        parsed_name = WheelFilename.parse(filename)
    except WheelFormatError as exc:
        reason(ReasonCode.WHEEL_FILENAME_INVALID, str(exc), filename)
        return WheelInspection(info=None, reasons=tuple(reasons))
    try:
        dist_info = find_dist_info(scan.names, parsed_name)
    except WheelFormatError as exc:
        reason(ReasonCode.WHEEL_METADATA_INVALID, str(exc))
        return WheelInspection(info=None, reasons=tuple(reasons))

    metadata: Metadata | None = None
    wheel: WheelMetadata | None = None
    entry_points: dict[str, dict[str, str]] | None = {}
    record: Record | None = None
    try:
        metadata = parse_metadata(_read(scan, f"{dist_info}/METADATA", _METADATA_MAX))
        if (metadata.canonical_name, metadata.version) != (parsed_name.name, parsed_name.version):
            reason(
                ReasonCode.WHEEL_METADATA_INVALID,
                f"METADATA says {metadata.name} {metadata.version}, the file name "
                f"{parsed_name.name} {parsed_name.version}",
            )
    except WheelFormatError as exc:
        reason(ReasonCode.WHEEL_METADATA_INVALID, str(exc), f"{dist_info}/METADATA")
    try:
        wheel = parse_wheel_metadata(_read(scan, f"{dist_info}/WHEEL", _METADATA_MAX))
        if wheel.tags != parsed_name.tags:
            reason(
                ReasonCode.WHEEL_METADATA_INVALID,
                f"WHEEL tags {sorted(wheel.tags)} differ from the file name's {sorted(parsed_name.tags)}",
            )
    except WheelFormatError as exc:
        reason(ReasonCode.WHEEL_METADATA_INVALID, str(exc), f"{dist_info}/WHEEL")
    entry_points_path = f"{dist_info}/entry_points.txt"
    if scan.get(entry_points_path) is not None:
        try:
            entry_points = parse_entry_points(_read(scan, entry_points_path, _METADATA_MAX))
        except WheelFormatError as exc:
            entry_points = None
            reason(ReasonCode.WHEEL_METADATA_INVALID, str(exc), entry_points_path)
    record_path = f"{dist_info}/RECORD"
    try:
        record = Record.from_bytes(_read(scan, record_path, _RECORD_MAX))
    except WheelFormatError as exc:
        reason(ReasonCode.RECORD_INVALID, str(exc), record_path)
    else:
        reasons.extend(record.check_against(scan.members, record_path=record_path, digest=scan.digest))
    _check_data_dirs(scan, dist_info, reasons)
    if metadata is None or wheel is None or entry_points is None or record is None:
        return WheelInspection(info=None, reasons=tuple(reasons))
    info = WheelInfo(
        filename=parsed_name,
        dist_info=dist_info,
        metadata=metadata,
        wheel=wheel,
        entry_points=entry_points,
        record=record,
    )
    return WheelInspection(info=info, reasons=tuple(reasons))


def _read(scan: ArchiveScan, name: str, max_size: int) -> bytes:
    if scan.get(name) is None:
        raise WheelFormatError(f"the wheel has no verified {name}")
    return scan.read(name, max_size=max_size)


def _check_data_dirs(scan: ArchiveScan, dist_info: str, reasons: list[Reason]) -> None:
    data_dir = dist_info[: -len(".dist-info")] + ".data"
    for directory in top_level_dirs(scan.names, ".data"):
        if directory != data_dir:
            reasons.append(
                Reason(
                    code=ReasonCode.WHEEL_METADATA_INVALID,
                    message=f"{directory} is not the wheel's data directory {data_dir}",
                    subject=directory,
                )
            )
    for name in scan.names:
        if name.startswith(data_dir + "/"):
            try:
                installed_path(name, data_dir=data_dir, root_is_purelib=True)
            except WheelFormatError as exc:
                reasons.append(Reason(code=ReasonCode.WHEEL_METADATA_INVALID, message=str(exc), subject=name))
