"""securehost's loggers, which import :mod:`logging` only once a record could reach a handler.

A library does not configure logging: securehost adds one ``NullHandler`` to its ``securehost`` logger, so that
without a handler of the application's its records go nowhere rather than to stderr through logging's last-resort
handler. An application that has not imported :mod:`logging` at all has configured no handler either, so every
record would reach that ``NullHandler`` and nothing else: :class:`LazyLogger` drops it without importing
:mod:`logging` (about 4 ms of every start-up) and without formatting it. Once anything has imported
:mod:`logging`, records go through the standard logger of the same name, as they always did.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, Final, final

if TYPE_CHECKING:
    import logging

__all__ = ["DEBUG", "ERROR", "INFO", "WARNING", "LazyLogger"]

DEBUG: Final = 10
INFO: Final = 20
WARNING: Final = 30
ERROR: Final = 40

_setup_lock = threading.Lock()
_set_up = False


def _standard(name: str) -> logging.Logger:
    """The standard logger *name*, with securehost's ``NullHandler`` in place before its first record."""
    global _set_up  # noqa: PLW0603 - once per process
    import logging  # noqa: PLC0415 - the point of this module

    if not _set_up:
        with _setup_lock:
            if not _set_up:
                logging.getLogger("securehost").addHandler(logging.NullHandler())
                _set_up = True
    return logging.getLogger(name)


@final
class LazyLogger:
    """The subset of :class:`logging.Logger` securehost uses, for the logger *name* (see the module docstring)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def standard(self) -> logging.Logger:
        """The standard logger of this name (imports :mod:`logging`)."""
        return _standard(self.name)

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        """Whether a record at *level* could reach a handler (``False`` while nothing has imported logging)."""
        return "logging" in sys.modules and _standard(self.name).isEnabledFor(level)

    def _emit(self, level: int, msg: str, args: tuple[object, ...], kwargs: dict[str, Any]) -> None:
        if self.isEnabledFor(level):  # the record names the caller of log(), warning() ... as its origin
            _standard(self.name).log(level, msg, *args, stacklevel=3, **kwargs)

    def log(self, level: int, msg: str, *args: object, **kwargs: Any) -> None:
        """Log *msg* at *level*, as :meth:`logging.Logger.log` does, if a handler could receive it."""
        self._emit(level, msg, args, kwargs)

    def debug(self, msg: str, *args: object, **kwargs: Any) -> None:
        """Log at DEBUG level."""
        self._emit(DEBUG, msg, args, kwargs)

    def info(self, msg: str, *args: object, **kwargs: Any) -> None:
        """Log at INFO level."""
        self._emit(INFO, msg, args, kwargs)

    def warning(self, msg: str, *args: object, **kwargs: Any) -> None:
        """Log at WARNING level."""
        self._emit(WARNING, msg, args, kwargs)

    def error(self, msg: str, *args: object, **kwargs: Any) -> None:
        """Log at ERROR level."""
        self._emit(ERROR, msg, args, kwargs)
