"""Signing and verifying ``.whl`` files.

:func:`sign_wheel` writes the DSSE envelope into the wheel's ``.dist-info`` and lists it in ``RECORD``;
:func:`verify_wheel` collects every reason against a wheel into a :class:`~securehost.Verdict` and never raises for
bad input. Both read the archive with the hardened reader (:func:`securehost._wheel.zipsafe.read_archive`), never with
:mod:`zipfile` alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from securehost._permissions import check_kind
from securehost._signing.envelope import DEFAULT_LIMITS, Envelope, EnvelopeLimits
from securehost._signing.predicate import ConfigDeclaration, PluginPredicate, Subject
from securehost._signing.private import PrivateKey
from securehost._signing.statement import Statement
from securehost._trust.verify import ENVELOPE_FILENAME, check_statement
from securehost._verdict import Reason, ReasonCode, Verdict
from securehost._wheel.check import WheelInfo, inspect_wheel
from securehost._wheel.record import Record, RecordEntry
from securehost._wheel.zipsafe import ArchiveScan, ZipLimits, read_archive
from securehost.exceptions import EnvelopeFormatError, SigningError, WheelFormatError

if TYPE_CHECKING:
    import zipfile
    from collections.abc import Iterable, Sequence

    from securehost._trust.store import TrustStore

__all__ = ["describe_wheel", "require_verified_wheel", "sign_wheel", "verify_wheel"]

_ZIP_LIMITS: Final = ZipLimits()
_R = ReasonCode


def _scan(path: Path, limits: ZipLimits) -> tuple[ArchiveScan | None, Reason | None]:
    try:
        return read_archive(path, limits=limits), None
    except (WheelFormatError, OSError) as exc:
        return None, Reason(code=_R.ZIP_UNREADABLE, message=f"cannot read {path.name}: {exc}")


def _envelope_name(info: WheelInfo) -> str:
    return f"{info.dist_info}/{ENVELOPE_FILENAME}"


def _subjects(scan: ArchiveScan, info: WheelInfo) -> tuple[Subject, ...]:
    skip = {info.record_path, _envelope_name(info)}
    return tuple(Subject(name=m.name, sha256=m.sha256) for m in scan.members if m.name not in skip)


def _default_issued_at() -> dt.datetime:
    """Return ``SOURCE_DATE_EPOCH`` when it is set (and not empty), else now, in whole seconds.

    Raises:
        SigningError: ``SOURCE_DATE_EPOCH`` is not a decimal number of seconds that is a valid time.
    """
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    try:
        if not (epoch.isascii() and epoch.isdigit()):
            raise ValueError(epoch)
        return dt.datetime.fromtimestamp(int(epoch), dt.timezone.utc)
    except (ValueError, OverflowError, OSError) as exc:
        raise SigningError(f"SOURCE_DATE_EPOCH={epoch[:40]!r} is not a number of seconds since 1970") from exc


# --- signing ---------------------------------------------------------------------------------------------------


def sign_wheel(
    wheel: str | os.PathLike[str],
    keys: PrivateKey | Sequence[PrivateKey],
    *,
    permissions: Iterable[str] = (),
    output: str | os.PathLike[str] | None = None,
    issued_at: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
    replace_statement: bool = False,
    limits: ZipLimits = _ZIP_LIMITS,
    capabilities: Iterable[str] = (),
    config: Mapping[str, Any] | None = None,
) -> Path:
    """Sign a wheel: put a DSSE envelope over an in-toto statement of every file into its ``.dist-info``.

    If the wheel is already signed, the keys' signatures are added to the existing statement (for thresholds),
    which must still describe the wheel's files; changing permissions or expiry needs ``replace_statement=True``,
    which drops the existing signatures. Output is deterministic for Ed25519 and ECDSA keys given the same
    ``issued_at`` (default: ``SOURCE_DATE_EPOCH`` if set, else now).

    Args:
        wheel: the wheel file.
        keys: one or more signing keys.
        permissions: the permissions the plugin requests (built-in kinds, or host-defined kinds with a namespace of
            their own such as ``db.write``).
        output: where to write the signed wheel (default: replace *wheel*): a directory (one that exists, or a path
            ending in a separator, created as needed) or a file path that keeps the wheel's file name.
        issued_at: the statement's issue time (UTC, whole seconds).
        expires_at: the statement's expiry (UTC, whole seconds), if any.
        replace_statement: make a new statement even if the wheel is signed already.
        limits: limits for reading the archive.
        capabilities: the capabilities the plugin offers (``data.transform``; see :doc:`/plugin-authors`).
        config: the plugin's configuration declaration, ``{"schema": <JSON Schema>, "defaults": {...}}``.

    Returns:
        The path of the signed wheel.

    Raises:
        SigningError: the archive is unsound, its files do not match its own ``RECORD``, the existing envelope or
            statement is malformed or does not describe the wheel, the permissions or expiry would change without
            *replace_statement*, the statement cannot be built (for instance, *expires_at* is not after
            *issued_at*, a time is not UTC in whole seconds, ``SOURCE_DATE_EPOCH`` is invalid, a capability is
            malformed or the configuration declaration is unusable), capabilities or configuration would change
            without *replace_statement*, or *output* renames the wheel (the message says why).
        PermissionFormatError: a permission is malformed, or its kind cannot be meant: an unknown kind in a built-in
            namespace (``fs.raed``) or a kind without a namespace (``network``); the message suggests the kind.
        TypeError: *permissions* is a single string.
        ValueError: *keys* is empty.
        OSError: the wheel cannot be read or the output written.
    """
    path = Path(wheel)
    key_list = [keys] if isinstance(keys, PrivateKey) else list(keys)
    if not key_list:
        raise ValueError("at least one signing key is required")
    requested = _permission_strings(permissions)
    if isinstance(capabilities, str):
        raise TypeError("capabilities must be an iterable of capability strings, not a single string")
    offered = tuple(sorted(set(capabilities)))
    declared = _declaration(path, config)
    target = _target(path, output)
    scan, failure = _scan(path, limits)
    if scan is None or scan.reasons:
        found = [failure] if failure else list(scan.reasons if scan else ())
        raise SigningError(f"{path.name} is not a sound zip archive: " + "; ".join(str(r) for r in found[:5]))
    inspection = inspect_wheel(path.name, scan)
    if inspection.info is None or inspection.reasons:
        raise SigningError(f"{path.name} cannot be signed: " + "; ".join(str(r) for r in inspection.reasons[:5]))
    info = inspection.info
    subjects = _subjects(scan, info)
    envelope = _existing_envelope(scan, info) if not replace_statement else None
    if envelope is not None:
        try:
            statement = Statement.from_envelope(envelope)
        except EnvelopeFormatError as exc:
            raise SigningError(
                f"{path.name}: the existing statement is malformed ({exc}); use replace_statement"
            ) from exc
        mismatches = _compare(statement, info, scan)
        if mismatches:
            raise SigningError(
                f"{path.name}: the existing statement does not describe the wheel: "
                + "; ".join(str(r) for r in mismatches[:5])
            )
        predicate = statement.predicate
        if (
            (requested and predicate.permissions != requested)
            or (expires_at and predicate.expires_at != expires_at)
            or (offered and predicate.capabilities != offered)
            or (declared is not None and predicate.config != declared)
        ):
            raise SigningError(
                f"{path.name} is already signed with other permissions, expiry, capabilities or configuration; "
                "use replace_statement (--replace-statement) to re-sign from scratch"
            )
    else:
        try:
            predicate = PluginPredicate(
                name=info.name,
                version=info.version,
                tags=tuple(sorted(info.wheel.tags)),
                permissions=requested,
                entry_points=info.entry_points,
                issued_at=issued_at or _default_issued_at(),
                expires_at=expires_at,
                capabilities=offered,
                config=declared,
            )
            envelope = Statement(subjects=subjects, predicate=predicate).to_envelope()
        except (ValueError, TypeError) as exc:  # EnvelopeFormatError is a ValueError
            raise SigningError(f"{path.name}: cannot build the statement: {exc}") from exc
    for key in key_list:
        envelope = envelope.sign(key)
    _rewrite(path, scan, info, envelope.to_bytes(), target)
    return target


def _declaration(path: Path, config: Mapping[str, Any] | None) -> ConfigDeclaration | None:
    if config is None:
        return None
    if not isinstance(config, Mapping) or set(config) != {"schema", "defaults"}:
        raise TypeError('config must be a mapping with exactly the keys "schema" and "defaults"')
    try:
        return ConfigDeclaration.from_json(config["schema"], config["defaults"])
    except ValueError as exc:
        raise SigningError(f"{path.name}: cannot build the statement: {exc}") from exc


def _permission_strings(permissions: Iterable[str]) -> tuple[str, ...]:
    """Validate *permissions*; return them sorted by text and unique, the order of the predicate."""
    if isinstance(permissions, str):
        raise TypeError("permissions must be an iterable of permission strings, not a single string")
    # Sorted by text: PermissionSet's own order cannot compare a missing scope with a scope.
    return tuple(sorted({str(check_kind(text)) for text in permissions}))


def _target(source: Path, output: str | os.PathLike[str] | None) -> Path:
    """Return where the signed wheel goes.

    That is *source*, a directory (one that exists, or a path with a trailing separator), or a path with the same
    file name.

    Raises:
        SigningError: *output* names a file other than the wheel's file name (a renamed wheel does not verify).
    """
    if output is None:
        return source
    text = os.fspath(output)
    target = Path(text)
    if target.is_dir() or text.endswith(("/", os.sep)):
        return target / source.name
    if target.name != source.name:
        raise SigningError(f"the signed wheel must keep its file name {source.name!r}, not {target.name!r}")
    return target


def _envelope_member(scan: ArchiveScan, info: WheelInfo, limits: EnvelopeLimits = DEFAULT_LIMITS) -> bytes | None:
    """Return the envelope file of a scanned wheel, or ``None`` when the wheel has none.

    Raises:
        EnvelopeFormatError: the envelope is larger than the limit (code ``ENVELOPE_TOO_LARGE``).
        WheelFormatError: its bytes changed on disk since the scan.
    """
    name = _envelope_name(info)
    member = scan.get(name)
    if member is None:
        return None
    if member.size > limits.max_envelope_bytes:
        raise EnvelopeFormatError(
            f"the envelope is {member.size} bytes, more than {limits.max_envelope_bytes}", code=_R.ENVELOPE_TOO_LARGE
        )
    return scan.read(name, max_size=limits.max_envelope_bytes)


def _existing_envelope(scan: ArchiveScan, info: WheelInfo) -> Envelope | None:
    try:
        data = _envelope_member(scan, info)
        return None if data is None else Envelope.from_bytes(data)
    except (EnvelopeFormatError, WheelFormatError) as exc:
        raise SigningError(f"the wheel's existing envelope is malformed ({exc}); use replace_statement") from exc


def _rewrite(source: Path, scan: ArchiveScan, info: WheelInfo, envelope: bytes, target: Path) -> None:
    """Write the wheel again with the envelope and an updated RECORD, byte-for-byte deterministic.

    The signed wheel gets the file mode of *source* (a temporary file is created ``0600``).
    """
    envelope_name = _envelope_name(info)
    record_path = info.record_path
    rows = [e for e in info.record.entries if e.path not in (record_path, envelope_name)]
    rows.append(
        RecordEntry(
            path=envelope_name, algorithm="sha256", digest=hashlib.sha256(envelope).digest(), size=len(envelope)
        )
    )
    rows.append(RecordEntry(path=record_path))
    record = Record(entries=rows).to_bytes()
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".securehost-", suffix=".whl")
    os.close(fd)
    try:
        import zipfile  # noqa: PLC0415 - signing writes with zipfile; verifying reads with securehost's own reader

        with zipfile.ZipFile(source) as src, zipfile.ZipFile(tmp, "w") as dst:
            date_time = src.getinfo(record_path).date_time
            for item in src.infolist():
                if item.filename in (record_path, envelope_name) or item.is_dir():
                    continue
                data = src.read(item)
                member = scan.get(item.filename)
                if member is None or hashlib.sha256(data).hexdigest() != member.sha256:
                    raise SigningError(f"{item.filename} changed while the wheel was being signed")
                _write(dst, item.filename, data, item.date_time, item.external_attr)
            _write(dst, envelope_name, envelope, date_time, 0o100644 << 16)
            _write(dst, record_path, record, date_time, 0o100644 << 16)
        os.chmod(tmp, stat.S_IMODE(os.stat(source).st_mode))
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(dst: zipfile.ZipFile, name: str, data: bytes, date_time: tuple[int, ...], attr: int) -> None:
    import zipfile  # noqa: PLC0415 - imported by sign_wheel already

    item = zipfile.ZipInfo(name, date_time=date_time)  # type: ignore[arg-type]
    item.compress_type = zipfile.ZIP_DEFLATED
    item.create_system = 3
    item.external_attr = attr
    dst.writestr(item, data)


# --- verification ----------------------------------------------------------------------------------------------


def verify_wheel(
    wheel: str | os.PathLike[str],
    store: TrustStore,
    *,
    now: dt.datetime | None = None,
    limits: ZipLimits = _ZIP_LIMITS,
    envelope_limits: EnvelopeLimits = DEFAULT_LIMITS,
) -> Verdict:
    """Verify a wheel against *store*; return a verdict with every reason, never raising for bad input.

    Accepted only when the zip is sound, the wheel's metadata and ``RECORD`` are consistent, no start-up hook
    (``.pth``, ``sitecustomize``) would be installed, the envelope is well formed and carries enough valid
    signatures from trusted, unrevoked, in-window keys whose scope covers the name, the statement matches the
    wheel's name, version, tags and entry points, every member is signed with its exact digest (nothing extra,
    nothing missing), the statement has not expired, and every requested permission is vouched for.

    Args:
        wheel: the wheel file.
        store: the trust store.
        now: judge times at this moment (default: now, UTC).
        limits: zip limits.
        envelope_limits: envelope and statement limits.

    Returns:
        The verdict.
    """
    path = Path(wheel)
    scan, failure = _scan(path, limits)
    if scan is None:
        return Verdict(subject=str(path), reasons=(failure,) if failure else ())
    reasons = list(scan.reasons)
    inspection = inspect_wheel(path.name, scan)
    reasons.extend(inspection.reasons)
    info = inspection.info
    if info is None:
        return Verdict(subject=str(path), reasons=tuple(reasons))
    try:
        envelope_bytes = _envelope_member(scan, info, envelope_limits)
    except EnvelopeFormatError as exc:  # larger than the limit
        reasons.append(Reason(code=exc.code, message=str(exc)))
        return Verdict(subject=str(path), name=info.name, version=info.version, reasons=tuple(reasons))
    except WheelFormatError as exc:  # the file changed on disk since the scan
        reasons.append(Reason(code=_R.ZIP_UNREADABLE, message=f"cannot read the envelope: {exc}"))
        return Verdict(subject=str(path), name=info.name, version=info.version, reasons=tuple(reasons))
    check = check_statement(envelope_bytes, store, now=now, limits=envelope_limits)
    reasons.extend(check.reasons)
    statement = check.statement
    if statement is not None:
        reasons.extend(_compare(statement, info, scan))
    return Verdict(
        subject=str(path),
        reasons=tuple(reasons),
        name=info.name,
        version=info.version,
        signers=check.signers,
        permissions=statement.predicate.permissions if statement is not None else (),
        evidence=check.evidence,
    )


def _compare(statement: Statement, info: WheelInfo, scan: ArchiveScan) -> list[Reason]:
    predicate = statement.predicate
    reasons = []
    if predicate.name != info.name:
        reasons.append(Reason(code=_R.NAME_MISMATCH, message=f"statement names {predicate.name}, wheel is {info.name}"))
    if predicate.version != info.version:
        reasons.append(
            Reason(code=_R.VERSION_MISMATCH, message=f"statement says {predicate.version}, wheel is {info.version}")
        )
    if frozenset(predicate.tags) != frozenset(info.wheel.tags):
        reasons.append(Reason(code=_R.TAGS_MISMATCH, message=f"statement tags {list(predicate.tags)} differ"))
    signed_eps = {group: dict(entries) for group, entries in predicate.entry_points.items()}
    if signed_eps != info.entry_points:
        reasons.append(Reason(code=_R.ENTRY_POINTS_MISMATCH, message="entry_points.txt differs from the statement"))
    signed = statement.subject_map()
    actual = {s.name: s.sha256 for s in _subjects(scan, info)}
    for name, digest in actual.items():
        expected = signed.get(name)
        if expected is None:
            reasons.append(
                Reason(code=_R.FILE_NOT_SIGNED, message=f"{name} is not in the signed statement", subject=name)
            )
        elif expected != digest:
            reasons.append(
                Reason(code=_R.DIGEST_MISMATCH, message=f"{name} differs from what was signed", subject=name)
            )
    reasons.extend(
        Reason(code=_R.SIGNED_FILE_MISSING, message=f"{name} was signed but is not in the wheel", subject=name)
        for name in signed
        if name not in actual
    )
    return reasons


def require_verified_wheel(wheel: str | os.PathLike[str], store: TrustStore, **kwargs: Any) -> Verdict:
    """Like :func:`verify_wheel`, but raise when the wheel is rejected.

    Raises:
        PluginRejectedError: the verdict is negative; ``exc.verdict`` has every reason.
    """
    from securehost.exceptions import PluginRejectedError  # noqa: PLC0415

    verdict = verify_wheel(wheel, store, **kwargs)
    if not verdict:
        raise PluginRejectedError(f"{verdict.subject} rejected: {verdict.reasons[0]}", verdict=verdict)
    return verdict


def describe_wheel(wheel: str | os.PathLike[str], *, limits: ZipLimits = _ZIP_LIMITS) -> dict[str, Any]:
    """Return a wheel's signed statement and signers without any trust decision (``securehost inspect``).

    Raises:
        WheelFormatError: the wheel is unreadable or has no envelope.
        EnvelopeFormatError: the envelope or its statement is malformed.
    """
    path = Path(wheel)
    scan, failure = _scan(path, limits)
    if scan is None:
        raise WheelFormatError(str(failure))
    inspection = inspect_wheel(path.name, scan)
    if inspection.info is None:
        raise WheelFormatError("; ".join(str(r) for r in inspection.reasons) or f"{path.name} is not a wheel")
    data = _envelope_member(scan, inspection.info)
    if data is None:
        raise WheelFormatError(f"{path.name} has no {ENVELOPE_FILENAME}: it is not signed")
    envelope = Envelope.from_bytes(data)
    statement = Statement.from_envelope(envelope)
    return {
        "wheel": str(path),
        "predicate": statement.predicate.to_json(),
        "subjects": statement.subject_map(),
        "signatures": [s.keyid for s in envelope.signatures],
        "problems": [r.to_json() for r in (*scan.reasons, *inspection.reasons)],
    }
