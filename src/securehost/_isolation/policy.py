"""What the host asks for: the isolation mode of each plugin, its worker's limits and the protections it demands.

``Host(isolation=...)`` takes one mode for every plugin or a mapping of canonical distribution-name globs to a mode,
like ``grants``. A mode is ``"in-process"`` (the default: the plugin runs in the host's process, watched by the guard),
``"process"`` (a confined worker with :class:`WorkerLimits` defaults) or a :class:`ProcessIsolation` with limits and
required protections. In a mapping the first glob that matches the name wins (mapping order); a name no glob matches
runs in-process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final, Literal, final

import attrs

from securehost._models import value_model
from securehost.exceptions import ConfigurationError

__all__ = ["PROTECTIONS", "IsolationChoice", "ProcessIsolation", "WorkerLimits", "parse_isolation"]

#: Protections a worker can have; ``ProcessIsolation(require=...)`` names some of them.
PROTECTIONS: Final = frozenset({"userns", "netns", "pidns", "landlock", "seccomp", "no_new_privs", "rlimits"})
_MODES: Final = ("in-process", "process")
_MiB: Final = 1 << 20


def _positive(_: object, attribute: attrs.Attribute[int], value: object) -> None:
    if type(value) is not int or value < 1:
        raise TypeError(f"WorkerLimits.{attribute.name} must be a positive int, not {value!r}")


def _seconds(_: object, attribute: attrs.Attribute[float], value: object) -> None:
    if type(value) not in (int, float) or not 0 < value <= 86400:  # type: ignore[operator]
        raise TypeError(f"WorkerLimits.{attribute.name} must be a number of seconds in (0, 86400], not {value!r}")


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class WorkerLimits:
    """Resource limits of one plugin worker; the defaults are hard limits for an ordinary plugin.

    Attributes:
        memory_bytes: address space of the worker (``RLIMIT_AS``); an allocation past it fails with ``MemoryError``.
        cpu_seconds: CPU time of one worker process (``RLIMIT_CPU``); the kernel kills it past that, and the next
            call starts a fresh worker.
        open_files: file descriptors (``RLIMIT_NOFILE``).
        file_size_bytes: the largest file the worker may write (``RLIMIT_FSIZE``).
        processes: processes of the worker's user (``RLIMIT_NPROC``); forks are refused anyway without
            ``proc.spawn``.
        call_timeout: seconds one hook call (or one call of a callable the plugin returned) may take; past it the
            worker's whole process tree is killed and the call fails with ``WorkerTimeoutError``.
        start_timeout: seconds a worker may take to start, confine itself and import the plugin.
        workers: worker processes per plugin; calls are spread over the idle ones.
    """

    memory_bytes: int = attrs.field(default=1024 * _MiB, validator=_positive)
    cpu_seconds: int = attrs.field(default=300, validator=_positive)
    open_files: int = attrs.field(default=256, validator=_positive)
    file_size_bytes: int = attrs.field(default=64 * _MiB, validator=_positive)
    processes: int = attrs.field(default=64, validator=_positive)
    call_timeout: float = attrs.field(default=30.0, validator=_seconds)
    start_timeout: float = attrs.field(default=15.0, validator=_seconds)
    workers: int = attrs.field(default=1, validator=_positive)

    def rlimits(self) -> dict[str, int]:
        """Return the rlimits a worker applies to itself (core dumps are always off)."""
        return {
            "as": self.memory_bytes,
            "cpu": self.cpu_seconds,
            "nofile": self.open_files,
            "fsize": self.file_size_bytes,
            "nproc": self.processes,
            "core": 0,
        }


def _to_require(value: object) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, (set, frozenset, list, tuple)):
        raise TypeError(f"require must be a set of protection names such as {{'landlock', 'seccomp'}}, not {value!r}")
    return frozenset(value)


def _check_require(_: object, __: attrs.Attribute[frozenset[str]], value: frozenset[str]) -> None:
    unknown = sorted(value - PROTECTIONS)
    if unknown:
        raise ConfigurationError(f"unknown protection(s) {unknown} in require; choose from {sorted(PROTECTIONS)}")


def _to_paths(value: object) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise TypeError(f"read_paths must be a list of absolute directory paths, not {value!r}")
    paths = tuple(os.fspath(p) for p in value)
    relative = [p for p in paths if not os.path.isabs(p)]
    if relative:
        raise ConfigurationError(f"read_paths must be absolute; got {relative}")
    return paths


@final
@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class ProcessIsolation:
    """Run a plugin in a worker process confined by the operating system.

    Attributes:
        limits: the worker's resource limits.
        require: protections the host demands (names from :data:`PROTECTIONS`); a plugin whose worker cannot have
            one of them is rejected (``isolation-unavailable``) instead of running with less. Protections not
            required are applied when the kernel has them and reported in ``PluginReport.isolation`` either way.
        read_paths: further directories the worker may read (Landlock), for code the plugin imports from outside
            the interpreter's site directories: an editable install of the host, a source tree on ``sys.path``.
            The rest of the host's ``sys.path`` is not readable in the worker.
    """

    limits: WorkerLimits = attrs.field(factory=WorkerLimits)
    require: frozenset[str] = attrs.field(factory=frozenset, converter=_to_require, validator=_check_require)
    read_paths: tuple[str, ...] = attrs.field(default=(), converter=_to_paths)

    @limits.validator
    def _check_limits(self, _: attrs.Attribute[WorkerLimits], value: object) -> None:
        if not isinstance(value, WorkerLimits):
            raise TypeError(f"ProcessIsolation.limits must be a WorkerLimits, not {type(value).__name__}")


#: A plugin's isolation: ``None`` for in-process, else its :class:`ProcessIsolation`.
IsolationChoice = ProcessIsolation | None
_Spec = Literal["in-process", "process"] | ProcessIsolation


def _one(value: object, where: str) -> IsolationChoice:
    if isinstance(value, ProcessIsolation):
        return value
    if value == "process":
        return ProcessIsolation()
    if value == "in-process":
        return None
    raise ConfigurationError(
        f"{where}: isolation must be 'in-process', 'process' or a ProcessIsolation(...), not {value!r}"
    )


def parse_isolation(value: object) -> tuple[tuple[str, IsolationChoice], ...]:
    """Validate ``Host(isolation=...)`` into ordered ``(glob, choice)`` pairs.

    Raises:
        ConfigurationError: a mode is unknown.
        TypeError: *value* is neither a mode nor a mapping of str globs to modes.
    """
    if isinstance(value, Mapping):
        pairs = []
        for pattern, mode in value.items():
            if not isinstance(pattern, str) or not pattern:
                raise TypeError(f"isolation: keys must be distribution-name globs (str), not {pattern!r}")
            pairs.append((pattern, _one(mode, f"isolation[{pattern!r}]")))
        return tuple(pairs)
    if isinstance(value, (str, ProcessIsolation)):
        return (("*", _one(value, "isolation")),)
    raise TypeError(f"isolation must be a mode or a mapping of name globs to modes, not {type(value).__name__}")
