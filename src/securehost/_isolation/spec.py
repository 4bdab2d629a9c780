"""What a plugin worker may do: the :class:`ConfinementSpec` the host derives from the plugin's grants and limits.

The host sends it to the worker as plain data (:meth:`ConfinementSpec.to_dict`); the worker rebuilds it
(:meth:`ConfinementSpec.from_dict`, every field checked again) and applies it with
:func:`securehost._isolation.confine.apply`.
"""

from __future__ import annotations

import os
import resource
import types
from typing import TYPE_CHECKING, Any, Final

import attrs

from securehost._models import value_model

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["PROTECTIONS", "RLIMITS", "ConfinementSpec"]

PROTECTIONS: Final = frozenset({"userns", "netns", "pidns", "landlock", "seccomp", "no_new_privs", "rlimits"})
RLIMITS: Final[Mapping[str, int]] = types.MappingProxyType(
    {
        "as": resource.RLIMIT_AS,
        "cpu": resource.RLIMIT_CPU,
        "nofile": resource.RLIMIT_NOFILE,
        "fsize": resource.RLIMIT_FSIZE,
        "nproc": resource.RLIMIT_NPROC,
        "core": resource.RLIMIT_CORE,
    }
)
"""Limit names a spec may set (bytes for ``as`` and ``fsize``, seconds of CPU for ``cpu``), and their resources."""
_MAX_PORT: Final = 65535


def _paths(value: Iterable[str]) -> tuple[str, ...]:
    """Convert to a tuple, refusing a lone string (which would become a tuple of characters).

    Raises:
        TypeError: *value* is a string.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError("paths must be a sequence of strings, not one string: wrap it in a tuple")
    return tuple(value)


def _check_paths(_inst: object, field: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    """Every path is an absolute ``str`` without NUL.

    Raises:
        ValueError: A path is relative, not a string, or has a NUL.
    """
    for path in value:
        if not isinstance(path, str) or not os.path.isabs(path) or "\0" in path:
            raise ValueError(f"{field.name}: {path!r} is not an absolute path; give absolute paths only")


def _ports(value: Iterable[int] | None) -> tuple[int, ...] | None:
    """``None`` stays ``None`` (every port); anything else becomes a tuple."""
    return None if value is None else tuple(value)


def _check_ports(_inst: object, field: attrs.Attribute[Any], value: tuple[int, ...] | None) -> None:
    """Every port is an ``int`` from 1 to 65535.

    Raises:
        ValueError: A port is out of range or not an integer.
    """
    for port in value or ():
        if type(port) is not int or not 1 <= port <= _MAX_PORT:
            raise ValueError(f"{field.name}: {port!r} is not a TCP port; give integers from 1 to {_MAX_PORT}")


def _names(value: Iterable[str]) -> frozenset[str]:
    """Convert to a frozenset, refusing a lone string (which would become a set of characters).

    Raises:
        TypeError: *value* is a string.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError("require must be a collection of protection names, not one string: wrap it in a set")
    return frozenset(value)


def _rlimits(value: Mapping[str, int]) -> Mapping[str, int]:
    """A read-only copy with ``core`` = 0 unless the caller set it (a core file could leak the worker's memory)."""
    return types.MappingProxyType({"core": 0, **value})


def _check_rlimits(_inst: object, _field: object, value: Mapping[str, int]) -> None:
    """Known names, non-negative integer values.

    Raises:
        ValueError: An unknown name or a bad value.
    """
    for name, limit in value.items():
        if name not in RLIMITS:
            raise ValueError(f"rlimits: unknown limit {name!r}; use one of {sorted(RLIMITS)}")
        if type(limit) is not int or limit < 0:
            raise ValueError(f"rlimits: {name} = {limit!r}; give a non-negative integer")


def _check_require(inst: ConfinementSpec, _field: object, value: frozenset[str]) -> None:
    """Known protection names, and none that the rest of the spec rules out.

    Raises:
        ValueError: An unknown name, or ``netns`` together with ``allow_network``.
    """
    unknown = value - PROTECTIONS
    if unknown:
        raise ValueError(f"require: unknown protections {sorted(unknown)}; use names from {sorted(PROTECTIONS)}")
    if "netns" in value and inst.allow_network:
        raise ValueError("require: 'netns' contradicts allow_network=True (the worker keeps the host's network)")


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class ConfinementSpec:
    """What a worker may do, as plain data the host sends it.

    Paths are absolute; one that does not exist in the worker gets no rule (reported, not an error). Ports are TCP
    (Landlock filters nothing else); on each of ``net_connect_ports`` and ``net_bind_ports``, ``()`` allows no port
    and ``None`` allows every port (a ``net.connect:HOST`` grant without a port). UDP is not filtered by port: it is
    allowed with ``allow_network`` and impossible without it.
    """

    read_paths: tuple[str, ...] = attrs.field(default=(), converter=_paths, validator=_check_paths)
    """Read-only (and execute) trees: the interpreter and its libraries, the plugin's files, ``fs.read`` grants."""
    write_paths: tuple[str, ...] = attrs.field(default=(), converter=_paths, validator=_check_paths)
    """Trees with every right: the private working directory and ``fs.write`` grants."""
    net_connect_ports: tuple[int, ...] | None = attrs.field(default=(), converter=_ports, validator=_check_ports)
    """TCP ports ``connect`` may reach when ``allow_network``."""
    net_bind_ports: tuple[int, ...] | None = attrs.field(default=(), converter=_ports, validator=_check_ports)
    """TCP ports ``bind`` may use when ``allow_network``."""
    allow_network: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    """``net.connect``/``net.bind`` granted: keep the host's network namespace and allow INET sockets."""
    allow_spawn: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    """``proc.spawn`` granted: allow ``fork`` and ``exec`` (threads are always allowed)."""
    rlimits: Mapping[str, int] = attrs.field(factory=dict, converter=_rlimits, validator=_check_rlimits, hash=False)
    """Limits by name from :data:`RLIMITS`; soft = hard = value (so CPU time ends in ``SIGKILL`` at the limit)."""
    require: frozenset[str] = attrs.field(default=frozenset(), converter=_names, validator=_check_require)
    """Protections from :data:`PROTECTIONS` the host demands; :func:`apply` raises if one cannot be applied."""

    def to_dict(self) -> dict[str, object]:
        """This spec as JSON-compatible data (lists, dicts, strings, integers, booleans, ``None``)."""
        return {
            "read_paths": list(self.read_paths),
            "write_paths": list(self.write_paths),
            "net_connect_ports": None if self.net_connect_ports is None else list(self.net_connect_ports),
            "net_bind_ports": None if self.net_bind_ports is None else list(self.net_bind_ports),
            "allow_network": self.allow_network,
            "allow_spawn": self.allow_spawn,
            "rlimits": dict(self.rlimits),
            "require": sorted(self.require),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ConfinementSpec:
        """Rebuild a spec from :meth:`to_dict`'s output, checking every field.

        Raises:
            ValueError: An unknown key, or a field that fails its check.
            TypeError: A field of the wrong type.
        """
        unknown = set(data) - {field.name for field in attrs.fields(cls)}
        if unknown:
            raise ValueError(f"unknown ConfinementSpec fields {sorted(unknown)}; send ConfinementSpec.to_dict() output")
        return cls(**data)
