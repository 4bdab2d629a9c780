"""The host's state directory: highest accepted version per plugin (rollback protection) and disabled plugins.

``state.json`` is written atomically (temporary file, fsync, rename) in a directory only the current user may
write. A state file that cannot be parsed is an error, never a silent reset: a reset would reopen rollbacks. Inside
:meth:`HostState.deferred` (the host wraps each load in it) changes are written once, when the block ends, instead of
once per accepted plugin.
"""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from securehost._fileio import read_file, write_atomic
from securehost._installed.bytecode import private_dir
from securehost._names import check_version, version_above
from securehost.exceptions import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["HostState"]

_FORMAT: Final = 1
_MAX_STATE_BYTES: Final = 16 * 1024 * 1024


@final
class HostState:
    """Persistent host state kept in ``<state_dir>/state.json``.

    Args:
        state_dir: the directory (created with mode 0700 if missing).

    Raises:
        ConfigurationError: the directory is unsafe, or the state file is unreadable or malformed.
    """

    __slots__ = ("_deferred", "_dirty", "_disabled", "_lock", "_path", "_versions")

    def __init__(self, state_dir: Path) -> None:
        directory = private_dir(Path(state_dir))
        self._path = directory / "state.json"
        self._lock = threading.Lock()
        self._versions: dict[str, str] = {}
        self._disabled: set[str] = set()
        self._deferred = 0
        self._dirty = False
        if self._path.exists():
            self._load()

    def _load(self) -> None:
        try:
            data: Any = json.loads(read_file(str(self._path), _MAX_STATE_BYTES))
        except (OSError, ValueError, RecursionError) as exc:
            raise ConfigurationError(f"{self._path}: unreadable host state ({exc}); refusing to reset it") from exc
        if not isinstance(data, dict) or type(data.get("format")) is not int or data["format"] != _FORMAT:
            raise ConfigurationError(f"{self._path}: not a securehost state file of format {_FORMAT}")
        versions = data.get("versions", {})
        disabled = data.get("disabled", [])
        if (
            not isinstance(versions, dict)
            or not isinstance(disabled, list)
            or not all(isinstance(name, str) for name in disabled)
        ):
            raise ConfigurationError(f"{self._path}: malformed host state")
        for name, version in versions.items():
            try:
                check_version(version)
            except (ValueError, TypeError) as exc:  # packaging's InvalidVersion is a ValueError
                raise ConfigurationError(f"{self._path}: bad version {version!r} for {name!r}") from exc
        self._versions = dict(versions)
        self._disabled = set(disabled)

    def _changed(self) -> None:
        """Note a change (the lock is held): write it now, or when the outermost deferred block ends."""
        self._dirty = True
        if not self._deferred:
            self._save()

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Collect changes made in the block and write the state file once, when it ends (if anything changed).

        Raises:
            ConfigurationError: the state file cannot be written.
        """
        with self._lock:
            self._deferred += 1
        try:
            yield
        finally:
            with self._lock:
                self._deferred -= 1
                if not self._deferred and self._dirty:
                    self._save()

    def _save(self) -> None:
        payload = {
            "format": _FORMAT,
            "versions": dict(sorted(self._versions.items())),
            "disabled": sorted(self._disabled),
        }
        data = json.dumps(payload, indent=2).encode() + b"\n"
        try:
            write_atomic(self._path, data, prefix=".state-", durable=True)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write host state {self._path}: {exc}. Until it is written, the versions it records (the "
                "rollback floor) and the disabled plugins are kept by this process only: free space there, or give "
                "the Host a state_dir it can write"
            ) from exc
        self._dirty = False

    def highest(self, name: str) -> str | None:
        """Return the highest version of *name* accepted so far, or ``None``."""
        return self._versions.get(name)

    def record(self, name: str, version: str) -> None:
        """Record that *version* of *name* was accepted (keeps the highest).

        Raises:
            ConfigurationError: the state file cannot be written (outside a deferred block).
        """
        with self._lock:
            current = self._versions.get(name)
            if current is None or version_above(version, current):
                self._versions[name] = version
                self._changed()

    def is_disabled(self, name: str) -> bool:
        """Return whether *name* is disabled."""
        return name in self._disabled

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Enable or disable *name* persistently.

        Raises:
            ConfigurationError: the state file cannot be written.
        """
        with self._lock:
            if disabled == (name in self._disabled):
                return
            if disabled:
                self._disabled.add(name)
            else:
                self._disabled.discard(name)
            self._changed()
