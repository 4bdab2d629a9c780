"""Structured audit events: every security decision is logged, and optionally appended to a JSON-lines file.

Events go to the stdlib logger ``securehost.audit`` (level INFO, WARNING for rejections and denials) with the event as
``extra={"securehost_event": {...}}``, and to an optional append-only JSON-lines sink that is flushed (and fsynced)
after every event, so nothing is lost if the host crashes right after.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from typing import TYPE_CHECKING, Any, Final, final

import attrs

from securehost._log import INFO, WARNING, LazyLogger
from securehost._models import value_model
from securehost.exceptions import ConfigurationError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["AUDIT_LOGGER_NAME", "AuditEvent", "AuditLog"]

AUDIT_LOGGER_NAME: Final = "securehost.audit"
_logger = LazyLogger(AUDIT_LOGGER_NAME)
_WARNING_EVENTS: Final = frozenset(
    {
        "plugin.rejected",
        "plugin.held",
        "hook.denied",
        "hook.quarantined",
        "hook.impl_skipped",
        "guard.denied",
        "bytecode.tampered",
        "import.verification_failed",
        "import.dependency_denied",
        "import.dependency_reported",
    }
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    to_json = getattr(value, "to_json", None)
    if callable(to_json):
        return _jsonable(to_json())
    return str(value)


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class AuditEvent:
    """One audit event.

    Attributes:
        event: the event name, e.g. ``plugin.accepted``, ``plugin.rejected``, ``hook.denied``.
        time: when it happened (UTC).
        plugin: the plugin (distribution) name the event is about, if any.
        data: further JSON-serialisable facts (reasons, key ids, versions, permissions).
    """

    event: str
    time: dt.datetime
    plugin: str | None = None
    data: dict[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the event as a JSON-serialisable dict."""
        return {"event": self.event, "time": self.time.isoformat(), "plugin": self.plugin, **_jsonable(self.data)}


@final
class AuditLog:
    """Emits audit events to the ``securehost.audit`` logger and to an optional JSON-lines file.

    Args:
        sink: path of an append-only JSON-lines file, or ``None`` for the logger only.

    Raises:
        ConfigurationError: the sink cannot be opened for appending.
    """

    __slots__ = ("_fd", "_lock", "sink")

    def __init__(self, sink: Path | None = None) -> None:
        self.sink = sink
        self._lock = threading.Lock()
        self._fd: int | None = None
        if sink is not None:
            try:
                self._fd = os.open(sink, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            except OSError as exc:
                raise ConfigurationError(f"cannot open audit sink {sink}: {exc}") from exc

    def emit(self, event: str, *, plugin: str | None = None, **data: Any) -> AuditEvent:
        """Record one event and return it.

        A failure to write the sink is logged at ERROR level on the audit logger; it never raises into the host.
        """
        record = AuditEvent(event=event, time=dt.datetime.now(dt.timezone.utc), plugin=plugin, data=data)
        level = WARNING if event in _WARNING_EVENTS else INFO
        logged = _logger.isEnabledFor(level)
        if not logged and self._fd is None:
            return record  # nobody listens: the event is not even turned into JSON (once per plugin at start-up)
        payload = record.to_json()
        if logged:
            reasons = data.get("reasons")
            if reasons and isinstance(reasons, list):  # a rejection's log line says why, not only that
                why = "; ".join(
                    f"[{r.get('code')}] {r.get('message')}" if isinstance(r, dict) else str(r) for r in reasons
                )
                _logger.log(level, "%s %s: %s", event, plugin or "-", why, extra={"securehost_event": payload})
            else:
                _logger.log(level, "%s %s", event, plugin or "-", extra={"securehost_event": payload})
        if self._fd is not None:
            line = (json.dumps(payload, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
            with self._lock:
                try:
                    os.write(self._fd, line)
                    os.fsync(self._fd)
                except OSError as exc:  # pragma: no cover - disk full and the like
                    _logger.error("cannot write audit sink %s: %s", self.sink, exc)
        return record

    def close(self) -> None:
        """Close the sink (idempotent)."""
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
