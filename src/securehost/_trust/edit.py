"""Editing a trust store file in place, keeping its comments and formatting.

This is what ``securehost trust add|remove|revoke`` calls. Every edit takes the same steps: read the
file (it must already be a valid store), change the TOML document with ``tomlkit``, render it, load
the result with the strict loader, check that it is exactly the intended store (the edited entry
changed as asked, nothing else changed), and only then replace the file atomically: a temporary
file in the same directory, ``fsync``, ``os.replace``, ``fsync`` of the directory. The file keeps
its permission bits; a new file gets mode ``0o644`` and a header comment. A failed edit leaves the
file byte-for-byte unchanged.

Symbolic links are followed: the file they point to is replaced and the link stays. Concurrent
edits of one file are not serialised (the last writer wins); run one editor at a time.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs
import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import Array

from securehost._permissions import PermissionSet, check_kind
from securehost._trust.allowed_signers import SECUREHOST_NAMESPACE, import_allowed_signers
from securehost._trust.load import (
    MAX_STORE_BYTES,
    check_not_world_writable,
    read_limited,
)
from securehost._trust.model import Threshold, TrustedKey, canonical_name_pattern, is_key_id, show
from securehost._trust.store import TrustStore, parse_store
from securehost.exceptions import ConfigurationError, TrustStoreError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import tzinfo

    from securehost._signing.keys import PublicKey

__all__ = ["add_allowed_signers", "add_key", "remove_key", "revoke", "set_threshold"]

NEW_FILE_MODE: Final = 0o644
HEADER: Final = (
    "securehost trust store: the keys that may sign plugins for this host.",
    "Edit by hand or with `securehost trust add|remove|revoke|threshold` (see `securehost trust --help`).",
    "Format: docs/trust-store.md in the securehost source distribution (the Trust store page of its manual).",
)


def _semantic(store: TrustStore) -> tuple[object, ...]:
    """What an edit must get exactly right: keys in order, revocations, thresholds in order."""
    return tuple(store.keys.items()), store.revoked, store.thresholds


def _new_document() -> tomlkit.TOMLDocument:
    document = tomlkit.document()
    for line in HEADER:
        document.add(tomlkit.comment(line))
    document.add(tomlkit.nl())
    document["version"] = 1
    return document


def _edit(path: str | os.PathLike[str], change: Callable[[Any, TrustStore], TrustStore], *, create: bool) -> TrustStore:
    """Apply *change* (it edits the document, returns the store it intends) and write the result.

    Raises:
        TrustStoreError: the existing file or the edited document is not a valid store.
        ConfigurationError: the file is missing (and *create* is false) or cannot be written.
    """
    source = os.fspath(path)
    target = Path(os.path.realpath(path))
    if target.exists():
        text = read_limited(target, limit=MAX_STORE_BYTES, error=TrustStoreError, what="trust store")
        check_not_world_writable(target, source)
        before = parse_store(text, source=source)
        try:
            document: Any = tomlkit.parse(text)
        except (ValueError, TOMLKitError, RecursionError) as exc:  # pragma: no cover
            raise TrustStoreError(f"{source}: cannot edit this TOML: {exc}") from exc
        mode = stat.S_IMODE(target.stat().st_mode)
    elif create:
        document, before, mode = _new_document(), TrustStore(source=source), NEW_FILE_MODE
    else:
        raise ConfigurationError(f"{source}: trust store does not exist")
    intended = change(document, before)
    new_text = tomlkit.dumps(document)
    after = parse_store(new_text, source=source)
    if _semantic(after) != _semantic(intended):  # guards against tomlkit surprises
        raise TrustStoreError(f"{source}: the edit would not produce the intended store; the file is unchanged")
    _write_atomic(target, new_text.encode("utf-8"), mode, source)
    return after


def _write_atomic(target: Path, data: bytes, mode: int, source: str) -> None:
    try:
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise ConfigurationError(f"{source}: cannot write trust store: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(stream.fileno(), mode)
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise ConfigurationError(f"{source}: cannot write trust store: {exc.strerror or exc}") from exc
    if hasattr(os, "O_DIRECTORY"):
        with contextlib.suppress(OSError):
            directory = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)


def _array(items: Iterable[str]) -> Any:
    array = tomlkit.array()
    array.extend(items)
    array.multiline(len(array) > 1)
    return array


def _new_entry(entries: Any) -> Any:
    """Return an empty entry that fits *entries*: an inline table or a ``[[...]]`` table."""
    if isinstance(entries, Array):
        return tomlkit.inline_table()
    return tomlkit.table()


def _append(entries: Any, entry: Any) -> None:
    """Append *entry* to an array of tables or an array of inline tables.

    tomlkit files the comments and blank lines that precede the next section under the last table;
    they move to the end of the new ``[[...]]`` table, so that they still precede that section.
    """
    if not isinstance(entries, Array):
        body = entries[-1].value.body if len(entries) else []
        trailing: list[tuple[Any, Any]] = []
        while body and body[-1][0] is None:
            trailing.insert(0, body.pop())
        if not trailing:
            trailing = [(None, tomlkit.nl())]
        entry.trivia.indent = "\n"
        for key, item in trailing:
            entry.value.body.append((key, item))
    entries.append(entry)


def _set_optional(entry: Any, field: str, value: object) -> None:
    if value is None:
        if field in entry:
            del entry[field]
    else:
        entry[field] = value


def _fill_entry(entry: Any, trusted: TrustedKey, *, new: bool) -> None:
    entry["label"] = trusted.label
    if new:
        entry["public_key"] = trusted.key.to_openssh()
        entry["key_id"] = trusted.key_id
    entry["names"] = _array(trusted.names)
    permissions = sorted(str(p) for p in trusted.max_permissions.permissions)
    _set_optional(entry, "max_permissions", _array(permissions) if permissions else None)
    _set_optional(entry, "capabilities", _array(list(trusted.capabilities)) if trusted.capabilities else None)
    _set_optional(entry, "valid_after", trusted.valid_after)
    _set_optional(entry, "valid_before", trusted.valid_before)


def _put_keys(document: Any, before: TrustStore, new_keys: Iterable[TrustedKey]) -> TrustStore:
    keys = dict(before.keys)
    order = list(before.keys)
    for trusted in new_keys:
        other = next((k for k in keys.values() if k.label == trusted.label), None)
        if other is not None and other.key_id != trusted.key_id:
            raise TrustStoreError(f"{before.source}: the label {trusted.label!r} is taken by {other.source}")
        if trusted.key_id in before.revoked:
            raise ConfigurationError(
                f"{before.source}: key {trusted.key_id} ({trusted.label}) is revoked; "
                "delete it from revoked by hand if that was a mistake"
            )
        if trusted.key_id in order:
            entries = document["key"]
            _fill_entry(entries[order.index(trusted.key_id)], trusted, new=False)
        else:
            if "key" not in document:
                document["key"] = tomlkit.aot()
            entries = document["key"]
            entry = _new_entry(entries)
            _fill_entry(entry, trusted, new=True)
            _append(entries, entry)
            order.append(trusted.key_id)
        keys[trusted.key_id] = trusted
    return attrs.evolve(before, keys=keys)


def _check_kinds(permissions: PermissionSet | None) -> None:
    """Refuse a kind that cannot be meant where the operator writes it (``fs.raed``, ``network``).

    Raises:
        PermissionFormatError: a kind is refused (the message suggests the built-in kind meant).
    """
    for permission in permissions or ():
        check_kind(permission)


def add_key(
    path: str | os.PathLike[str],
    public_key: PublicKey,
    *,
    label: str,
    names: Iterable[str],
    max_permissions: PermissionSet | None = None,
    valid_after: datetime | None = None,
    valid_before: datetime | None = None,
    capabilities: Iterable[str] = (),
) -> TrustedKey:
    """Add *public_key* to the store at *path* (created if missing), or update its entry.

    Updating replaces the label, names, permissions, capabilities and validity window of the existing entry (an
    omitted ``max_permissions``, ``capabilities``, ``valid_after`` or ``valid_before`` removes it); the stored key
    text stays as it is.

    Returns:
        The key as loaded back from the written file.

    Raises:
        TrustStoreError: an argument is invalid (label, pattern, naive datetime, empty window),
            another key has the same label, or the existing file is not a valid store.
        PermissionFormatError: a permission's kind cannot be meant (``fs.raed``, ``network``; see
            :func:`securehost._permissions.check_kind`).
        ConfigurationError: the key is revoked, or the file cannot be written.
    """
    _check_kinds(max_permissions)
    trusted = TrustedKey(
        key=public_key,
        label=label,
        names=[canonical_name_pattern(n) for n in names],
        max_permissions=max_permissions if max_permissions is not None else PermissionSet(),
        capabilities=capabilities,
        valid_after=valid_after,
        valid_before=valid_before,
    )
    store = _edit(path, lambda document, before: _put_keys(document, before, [trusted]), create=True)
    return store.keys[trusted.key_id]


def add_allowed_signers(
    path: str | os.PathLike[str],
    allowed_signers: str | os.PathLike[str],
    *,
    names: Iterable[str],
    max_permissions: PermissionSet | None = None,
    namespace: str = SECUREHOST_NAMESPACE,
    unsafe_any_namespace: bool = False,
    local_timezone: tzinfo | None = None,
) -> list[TrustedKey]:
    """Import the admitted lines of an ``allowed_signers`` file in one edit.

    See :func:`securehost._trust.allowed_signers.import_allowed_signers` for the import rule.

    Keys already in the store are updated like :func:`add_key` does.

    Raises:
        KeyFormatError: the ``allowed_signers`` file is malformed.
        TrustStoreError: *names* is invalid, a label collides with another key, or the store is
            not valid.
        PermissionFormatError: a permission's kind cannot be meant (``fs.raed``, ``network``).
        ConfigurationError: no line admits *namespace*, a key is revoked, or the file cannot be
            written.
    """
    _check_kinds(max_permissions)
    imported = import_allowed_signers(
        allowed_signers,
        names=names,
        max_permissions=max_permissions,
        namespace=namespace,
        unsafe_any_namespace=unsafe_any_namespace,
        local_timezone=local_timezone,
    )
    if not imported:
        what = os.fspath(allowed_signers) if isinstance(allowed_signers, os.PathLike) else "text"
        raise ConfigurationError(
            f"no line of the allowed_signers {what} admits the signature namespace {namespace!r} "
            f'(add namespaces="{namespace}" to the lines to import)'
        )
    store = _edit(path, lambda document, before: _put_keys(document, before, imported), create=True)
    return [store.keys[k.key_id] for k in imported]


def remove_key(path: str | os.PathLike[str], key_id_or_label: str) -> TrustedKey:
    """Remove the key whose key id or label is *key_id_or_label* (revocations are kept).

    Returns:
        The removed key.

    Raises:
        ConfigurationError: the file does not exist, no key matches, or the file cannot be written.
        TrustStoreError: the existing file is not a valid store.
    """
    removed: list[TrustedKey] = []

    def change(document: Any, before: TrustStore) -> TrustStore:
        trusted = before.find(key_id_or_label)
        if trusted is None:
            raise ConfigurationError(f"{before.source}: no key with id or label {show(key_id_or_label)}")
        removed.append(trusted)
        entries = document["key"]
        del entries[list(before.keys).index(trusted.key_id)]
        if not len(entries):
            del document["key"]
        return attrs.evolve(before, keys={k: v for k, v in before.keys.items() if k != trusted.key_id})

    _edit(path, change, create=False)
    return removed[0]


def revoke(path: str | os.PathLike[str], key_id: str) -> bool:
    """Add *key_id* to the store's ``revoked`` list (the file is created if missing); idempotent.

    A revoked key never counts, even while its ``[[key]]`` entry stays in the file.

    Returns:
        ``True`` if the key id was added, ``False`` if it was already revoked (the file is then
        not rewritten).

    Raises:
        TrustStoreError: *key_id* is not 64 hex digits, or the existing file is not a valid store.
        ConfigurationError: the file cannot be written.
    """
    normalised = key_id.lower() if isinstance(key_id, str) else key_id
    if not is_key_id(normalised):
        raise TrustStoreError(f"{show(key_id)} is not a key id (64 hex digits)")
    target = Path(os.path.realpath(path))
    if target.exists():
        text = read_limited(target, limit=MAX_STORE_BYTES, error=TrustStoreError, what="trust store")
        if normalised in parse_store(text, source=os.fspath(path)).revoked:
            return False

    def change(document: Any, before: TrustStore) -> TrustStore:
        if "revoked" not in document:
            document["revoked"] = _array([])
        document["revoked"].append(normalised)
        document["revoked"].multiline(len(document["revoked"]) > 1)
        return attrs.evolve(before, revoked=before.revoked | {normalised})

    _edit(path, change, create=True)
    return True


def set_threshold(path: str | os.PathLike[str], pattern: str, count: int) -> Threshold:
    """Require *count* unique keys for distributions matching *pattern* (updating its rule).

    Returns:
        The threshold as loaded back from the written file.

    Raises:
        TrustStoreError: the pattern or count is invalid, or the existing file is not a valid store.
        ConfigurationError: the file cannot be written.
    """
    threshold = Threshold(pattern=canonical_name_pattern(pattern), count=count)

    def change(document: Any, before: TrustStore) -> TrustStore:
        patterns = [t.pattern for t in before.thresholds]
        thresholds = list(before.thresholds)
        if threshold.pattern in patterns:
            index = patterns.index(threshold.pattern)
            document["threshold"][index]["count"] = count
            thresholds[index] = threshold
        else:
            if "threshold" not in document:
                document["threshold"] = tomlkit.aot()
            entries = document["threshold"]
            entry = _new_entry(entries)
            entry["pattern"] = threshold.pattern
            entry["count"] = count
            _append(entries, entry)
            thresholds.append(threshold)
        return attrs.evolve(before, thresholds=thresholds)

    store = _edit(path, change, create=True)
    return next(t for t in store.thresholds if t.pattern == threshold.pattern)
