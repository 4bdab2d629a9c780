"""Landlock for the worker: read-only and read-write path rules, TCP port rules and IPC scoping, through ``landlockpy``.

``landlockpy`` (an optional extra: ``pip install 'securehost[isolation]'``) is imported on first use, so the host can
import :mod:`securehost._isolation.confine` without it. Rights are taken up to :data:`MAX_ABI`, the newest Landlock ABI
this module was tested with: a newer kernel gets the same, tested behaviour rather than rights nobody has exercised.

What the ruleset handles (denies unless a rule grants it): every filesystem right of the ABI (1: read, write, execute,
make, remove; 2: ``REFER``; 3: ``TRUNCATE``; 5: ``IOCTL_DEV``), TCP ``bind``/``connect`` from ABI 4 (unless the spec
allows every port), and from ABI 6 the scoping of abstract UNIX sockets and signals to the worker's own domain.
"""

from __future__ import annotations

import ctypes
import importlib
import os
from typing import TYPE_CHECKING, Any, Final

import attrs

from securehost._models import value_model

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["MAX_ABI", "NET_ABI", "LandlockResult", "abi_version", "import_binding", "kernel_abi", "probe", "restrict"]

INSTALL_HINT: Final = "pip install 'securehost[isolation]'"
MAX_ABI: Final = 7
"""The newest Landlock ABI whose rights this module handles."""

_SYS_LANDLOCK_CREATE_RULESET: Final = 444  # the same number on every architecture
_CREATE_RULESET_VERSION: Final = 1
NET_ABI: Final = 4
"""The first Landlock ABI with TCP port rules (Linux 6.7)."""
_SCOPE_ABI: Final = 6
# Rights that a rule on a file (not a directory) may carry; the kernel rejects the others with EINVAL.
_FILE_RIGHTS: Final = ("EXECUTE", "WRITE_FILE", "READ_FILE", "TRUNCATE", "IOCTL_DEV")
_READ_RIGHTS: Final = ("EXECUTE", "READ_FILE", "READ_DIR")
_SKIPPED_ERRORS: Final = (FileNotFoundError, NotADirectoryError, PermissionError)


@value_model
@attrs.frozen(kw_only=True, repr=False, eq=False)
class LandlockResult:
    """What :func:`restrict` put in force."""

    abi: int
    """The ABI whose rights were handled (the kernel's, capped at :data:`MAX_ABI`)."""
    net_filtered: bool
    """TCP ``connect`` or ``bind`` is filtered by port (ABI 4+, and the spec does not allow every port)."""
    scoped: bool
    """Abstract UNIX sockets and signals are scoped to the worker's domain (ABI 6+)."""
    skipped: tuple[str, ...]
    """Paths that got no rule because they do not exist or this user cannot reach them, each with the reason."""


def import_binding() -> Any:
    """Import ``landlockpy``.

    Raises:
        ImportError: It is not installed.
    """
    return importlib.import_module("landlockpy")


def abi_version(binding: Any) -> int:
    """The kernel's Landlock ABI, capped at :data:`MAX_ABI`; 0 when the kernel has no Landlock."""
    try:
        return min(int(binding.abi_version()), MAX_ABI)
    except OSError:  # ENOSYS (not built in) or EOPNOTSUPP (built in, not enabled at boot)
        return 0


def kernel_abi() -> int:
    """The kernel's Landlock ABI (uncapped) without the binding, for the probe's messages; 0 without Landlock."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    version = int(
        libc.syscall(
            ctypes.c_long(_SYS_LANDLOCK_CREATE_RULESET),
            None,
            ctypes.c_size_t(0),
            ctypes.c_uint32(_CREATE_RULESET_VERSION),
        )
    )
    return max(version, 0)


def probe() -> tuple[int, str]:
    """The ABI :func:`restrict` would use and ``""``, or 0 and why not (no Landlock, or the binding is missing)."""
    try:
        binding = import_binding()
    except ImportError:
        return 0, f"the kernel has Landlock ABI {kernel_abi()} but landlockpy is not installed: {INSTALL_HINT}"
    abi = abi_version(binding)
    return abi, "" if abi else "this kernel has no Landlock (not built in, or not in the lsm= boot parameter)"


def _flags(flag_type: Any, names: Iterable[str]) -> Any:
    """The OR of *flag_type*'s members called *names*."""
    value = flag_type(0)
    for name in names:
        value |= getattr(flag_type, name)
    return value


def restrict(
    binding: Any,
    *,
    read_paths: Iterable[str],
    write_paths: Iterable[str],
    connect_ports: tuple[int, ...] | None,
    bind_ports: tuple[int, ...] | None,
    allow_network: bool,
) -> LandlockResult:
    """Create the ruleset, add the rules and enforce it on this thread and its future children.

    The caller must already have set ``no_new_privs`` (the kernel requires it of a process without ``CAP_SYS_ADMIN``)
    and must be single-threaded (a Landlock domain applies to the calling thread and the threads it starts later).

    Args:
        binding: The ``landlockpy`` module.
        read_paths: Read-only trees (read files, list directories, execute).
        write_paths: Trees in which every handled right is granted.
        connect_ports: TCP ports ``connect`` may reach; ``None``: every port.
        bind_ports: TCP ports ``bind`` may use; ``None``: every port.
        allow_network: Whether the worker keeps the host's network; without it no port rule is added.

    Returns:
        What is in force.

    Raises:
        OSError: The kernel has no Landlock, or refused the ruleset, a rule or the enforcement.
    """
    abi = abi_version(binding)
    if abi == 0:
        raise OSError(0, "this kernel has no Landlock (not built in, or not in the lsm= boot parameter)")
    handled_fs = binding.fs_for_abi(abi)
    handled_net = binding.AccessNet(0)
    net = binding.net_for_abi(abi)
    if abi >= NET_ABI:
        if connect_ports is not None:
            handled_net |= net & binding.AccessNet.CONNECT_TCP
        if bind_ports is not None:
            handled_net |= net & binding.AccessNet.BIND_TCP
    scoped = binding.scope_for_abi(abi)
    file_rights = handled_fs & _flags(binding.AccessFS, _FILE_RIGHTS)
    read_rights = handled_fs & _flags(binding.AccessFS, _READ_RIGHTS)
    skipped: list[str] = []
    with binding.Ruleset(handled_fs=handled_fs, handled_net=handled_net, scoped=scoped, best_effort=False) as ruleset:
        for path in read_paths:
            _allow_path(ruleset, path, read_rights, read_rights & file_rights, skipped)
        for path in write_paths:
            _allow_path(ruleset, path, handled_fs, file_rights, skipped)
        if allow_network:
            for port in connect_ports or ():
                ruleset.allow_port(port, binding.AccessNet.CONNECT_TCP)
            for port in bind_ports or ():
                ruleset.allow_port(port, binding.AccessNet.BIND_TCP)
        ruleset.restrict(no_new_privs=False)
    return LandlockResult(
        abi=abi,
        net_filtered=bool(handled_net),
        scoped=bool(scoped),
        skipped=tuple(skipped),
    )


def _allow_path(ruleset: Any, path: str, dir_rights: Any, file_rights: Any, skipped: list[str]) -> None:
    """Add one path-beneath rule: *dir_rights* on a directory, *file_rights* on anything else; note what is skipped."""
    try:
        ruleset.allow_path(path, dir_rights if os.path.isdir(path) else file_rights)
    except _SKIPPED_ERRORS as exc:
        skipped.append(f"{path}: {exc.strerror or exc}")
