"""The strict trust-store loader: TOML text in, the validated parts of a trust store out.

Every problem raises :class:`~securehost.exceptions.TrustStoreError` with a message that starts
with the file and the entry (``store.toml: key[2] ("alice"): names: ...``; entries are numbered from
0 in file order). Nothing is returned until the whole document is valid, so a store never loads
half-way.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import datetime
from typing import Any, Final

from securehost._orchestrator.capabilities import check_pattern
from securehost._permissions import Permission
from securehost._signing.keys import PublicKey
from securehost._trust.model import Threshold, TrustedKey, canonical_name_pattern, check_label, is_key_id, show, to_utc
from securehost._trust.policy import permission_set
from securehost.exceptions import CapabilityFormatError, KeyFormatError, PermissionFormatError, TrustStoreError

__all__ = [
    "MAX_STORE_BYTES",
    "check_not_world_writable",
    "parse_document",
    "read_limited",
]

MAX_STORE_BYTES: Final = 4 * 1024 * 1024
STORE_VERSION: Final = 1
_TOP_FIELDS: Final = frozenset({"version", "revoked", "key", "threshold"})
_KEY_FIELDS: Final = frozenset(
    {"label", "public_key", "key_id", "names", "max_permissions", "capabilities", "valid_after", "valid_before"}
)
_THRESHOLD_FIELDS: Final = frozenset({"pattern", "count"})
_PEM_BEGIN: Final = "-----BEGIN PUBLIC KEY-----"
_PEM_END: Final = "-----END PUBLIC KEY-----"
_HINTS: Final = {
    "public_key_file": " (keys are stored inline, so that the store is one reviewable file: "
    "paste the key into public_key)"
}


def read_limited(path: str | os.PathLike[str], *, limit: int, error: type[Exception], what: str) -> str:
    """Read a regular UTF-8 text file of at most *limit* bytes without blocking on FIFOs or devices.

    Raises:
        Exception: an instance of *error* when the file cannot be read, is not a regular file, is
            too large or is not UTF-8; the message starts with the path.
    """
    source = os.fspath(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"{source}: cannot open {what}: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{source}: {what} is not a regular file")
        if info.st_size > limit:
            raise error(f"{source}: {what} is larger than {limit} bytes")
        with os.fdopen(fd, "rb", closefd=False) as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        raise error(f"{source}: cannot read {what}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{source}: {what} is larger than {limit} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{source}: {what} is not valid UTF-8 (byte {exc.start})") from exc


def check_not_world_writable(path: str | os.PathLike[str], source: str) -> None:
    """Refuse a trust store that every user of the machine could rewrite (POSIX only).

    Raises:
        TrustStoreError: the file's mode has the ``o+w`` bit, or it cannot be examined.
    """
    if os.name != "posix":  # pragma: no cover - POSIX permission bits only
        return
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:  # pragma: no cover - the file was just read
        raise TrustStoreError(f"{source}: cannot examine trust store: {exc.strerror or exc}") from exc
    if mode & stat.S_IWOTH:
        raise TrustStoreError(f"{source}: trust store is writable by every user; run chmod o-w on it")


def parse_document(text: str, *, source: str) -> tuple[dict[str, TrustedKey], frozenset[str], tuple[Threshold, ...]]:
    """Parse and validate trust store TOML into its parts: keys by id, revoked key ids, thresholds.

    :func:`securehost._trust.store.parse_store` builds the :class:`~securehost.TrustStore` from them.

    Raises:
        TrustStoreError: the text is oversized, not TOML, or any part is invalid.
    """
    if not isinstance(text, str) or not isinstance(source, str):
        raise TypeError("text and source must be str")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise TrustStoreError(f"{source}: trust store text is not encodable as UTF-8") from exc
    if size > MAX_STORE_BYTES:
        raise TrustStoreError(f"{source}: trust store is larger than {MAX_STORE_BYTES} bytes")
    # imported here: a host whose trust store is remembered (securehost._trust.memo) parses no TOML on start-up
    if sys.version_info >= (3, 11):
        import tomllib  # noqa: PLC0415
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # noqa: PLC0415
    try:
        document = tomllib.loads(text)
    except (ValueError, RecursionError) as exc:
        raise TrustStoreError(f"{source}: not valid TOML: {exc}") from exc
    return _parse_document(document, source)


def _fail(where: str, message: str) -> TrustStoreError:
    return TrustStoreError(f"{where}: {message}")


def _reject_unknown(table: dict[str, Any], allowed: frozenset[str], where: str) -> None:
    for field in table:
        if field not in allowed:
            raise _fail(where, f"unknown field {json.dumps(field)}{_HINTS.get(field, '')}")


def _parse_document(
    document: dict[str, Any], source: str
) -> tuple[dict[str, TrustedKey], frozenset[str], tuple[Threshold, ...]]:
    _reject_unknown(document, _TOP_FIELDS, source)
    if "version" not in document:
        raise _fail(f"{source}: version", f"missing (the first line should be version = {STORE_VERSION})")
    version = document["version"]
    if type(version) is not int or version != STORE_VERSION:
        raise _fail(f"{source}: version", f"unsupported version {show(version)} (expected {STORE_VERSION})")
    revoked = _parse_revoked(document.get("revoked", []), source)
    keys: dict[str, TrustedKey] = {}
    labels: dict[str, TrustedKey] = {}
    for index, entry in enumerate(_array_of_tables(document, "key", source)):
        trusted = _parse_key(entry, f"{source}: key[{index}]")
        if trusted.key_id in keys:
            raise _fail(trusted.source, f"duplicate key: {keys[trusted.key_id].source} has the same key id")
        if trusted.label in labels:
            raise _fail(
                trusted.source,
                f"duplicate label: {labels[trusted.label].source} has the same label",
            )
        keys[trusted.key_id] = labels[trusted.label] = trusted
    thresholds: dict[str, Threshold] = {}
    for index, entry in enumerate(_array_of_tables(document, "threshold", source)):
        where = f"{source}: threshold[{index}]"
        threshold = _parse_threshold(entry, where)
        if threshold.pattern in thresholds:
            raise _fail(f"{where} ({json.dumps(threshold.pattern)})", "duplicate threshold pattern")
        thresholds[threshold.pattern] = threshold
    return keys, revoked, tuple(thresholds.values())


def _array_of_tables(document: dict[str, Any], field: str, source: str) -> list[dict[str, Any]]:
    value = document.get(field, [])
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise _fail(f"{source}: {field}", f"must be an array of tables ([[{field}]])")
    return value


def _parse_revoked(value: object, source: str) -> frozenset[str]:
    if not isinstance(value, list):
        raise _fail(f"{source}: revoked", "must be an array of key ids")
    seen: set[str] = set()
    for index, key_id in enumerate(value):
        if not is_key_id(key_id):
            raise _fail(
                f"{source}: revoked[{index}]",
                f"{show(key_id)} is not a key id (64 lowercase hex digits)",
            )
        if key_id in seen:
            raise _fail(f"{source}: revoked[{index}]", f"{key_id} is listed twice")
        seen.add(key_id)
    return frozenset(seen)


def _string_list(entry: dict[str, Any], field: str, where: str, *, required: bool) -> list[str]:
    if field not in entry:
        if required:
            raise _fail(where, f"{field}: missing")
        return []
    value = entry[field]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise _fail(where, f"{field}: must be an array of strings")
    return value


def _optional_datetime(entry: dict[str, Any], field: str, where: str) -> datetime | None:
    if field not in entry:
        return None
    value = entry[field]
    if not isinstance(value, datetime):
        raise _fail(where, f"{field}: must be a TOML offset date-time such as 2026-01-01T00:00:00Z")
    try:
        return to_utc(value)
    except TrustStoreError as exc:
        raise _fail(where, f"{field}: {exc}") from exc


def _parse_key(entry: dict[str, Any], where: str) -> TrustedKey:
    label = entry.get("label")
    if isinstance(label, str):
        where = f"{where} ({json.dumps(label[:80], ensure_ascii=False)})"
    _reject_unknown(entry, _KEY_FIELDS, where)
    if "label" not in entry:
        raise _fail(where, "label: missing")
    try:
        label = check_label(label)
    except TrustStoreError as exc:
        raise _fail(where, str(exc)) from exc
    public_text = entry.get("public_key")
    if not isinstance(public_text, str):
        raise _fail(where, "public_key: missing or not a string")
    pem = public_text.strip()
    if "-----" in pem and not (
        pem.startswith(_PEM_BEGIN) and pem.endswith(_PEM_END) and pem.count("-----BEGIN") == 1
    ):  # a PEM loader would silently take the first of two blocks, or ignore trailing text
        raise _fail(where, "public_key: a PEM value must be exactly one PUBLIC KEY block")
    try:
        key = PublicKey.load(public_text.encode("utf-8"))
    except KeyFormatError as exc:
        raise _fail(where, f"public_key: {exc}") from exc
    if "key_id" in entry and entry["key_id"] != key.key_id:
        raise _fail(where, f"key_id: {show(entry['key_id'])} is not the key's id {key.key_id}")
    names: list[str] = []
    for pattern in _string_list(entry, "names", where, required=True):
        try:
            canonical = canonical_name_pattern(pattern)
        except TrustStoreError as exc:
            raise _fail(where, f"names: {exc}") from exc
        if canonical in names:
            raise _fail(where, f"names: {show(pattern)} repeats {json.dumps(canonical)}")
        names.append(canonical)
    if not names:
        raise _fail(where, "names: empty (list the distribution-name patterns this key may sign for)")
    permissions: list[Permission] = []
    for text in _string_list(entry, "max_permissions", where, required=False):
        try:
            permission = Permission.parse(text)
        except PermissionFormatError as exc:
            raise _fail(where, f"max_permissions: {exc}") from exc
        if permission in permissions:
            raise _fail(where, f"max_permissions: {show(text)} is listed twice")
        permissions.append(permission)
    capabilities: list[str] = []
    for text in _string_list(entry, "capabilities", where, required=False):
        try:
            capabilities.append(check_pattern(text))
        except CapabilityFormatError as exc:
            raise _fail(where, f"capabilities: {exc}") from exc
        if capabilities.count(text) > 1:
            raise _fail(where, f"capabilities: {show(text)} is listed twice")
    valid_after = _optional_datetime(entry, "valid_after", where)
    valid_before = _optional_datetime(entry, "valid_before", where)
    if valid_after is not None and valid_before is not None and valid_after >= valid_before:
        raise _fail(where, f"valid_after ({valid_after}) must be earlier than valid_before ({valid_before})")
    return TrustedKey(
        key=key,
        label=label,
        names=names,
        max_permissions=permission_set(permissions),
        capabilities=capabilities,
        valid_after=valid_after,
        valid_before=valid_before,
        source=where,
    )


def _parse_threshold(entry: dict[str, Any], where: str) -> Threshold:
    pattern = entry.get("pattern")
    if isinstance(pattern, str):
        where = f"{where} ({json.dumps(pattern[:80])})"
    _reject_unknown(entry, _THRESHOLD_FIELDS, where)
    if pattern is None:
        raise _fail(where, "pattern: missing")
    try:
        canonical = canonical_name_pattern(pattern)
    except TrustStoreError as exc:
        raise _fail(where, f"pattern: {exc}") from exc
    count = entry.get("count")
    if type(count) is not int or count < 1:
        raise _fail(where, f"count: must be an integer of at least 1, not {show(count)}")
    return Threshold(pattern=canonical, count=count)
