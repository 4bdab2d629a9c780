"""The worker's seccomp filter: allow by default, refuse the system calls a plugin never needs that widen the attack.

Built with ``pyseccomp`` (an optional extra: ``pip install 'securehost[isolation]'``), a thin :mod:`ctypes` layer over
the system's ``libseccomp.so.2`` with the API of libseccomp's own Python bindings. libseccomp writes the BPF program,
including the architecture check: a system call made through another ABI (32-bit ``int 0x80`` or x32 on x86_64)
kills the process instead of slipping past rules written for the native numbers.

Refused with ``EPERM`` always: debugging other processes (``ptrace``, ``process_vm_*``), ``io_uring`` (a second system
call interface that seccomp cannot see into), kernel keyrings, ``bpf``, the mount API, new namespaces (``unshare``,
``setns``, ``clone`` with a ``CLONE_NEW*`` flag), ``chroot``, kernel modules and ``kexec``, ``perf_event_open``,
``userfaultfd``, ``personality`` (except the query ``0xffffffff``; a sign-extended ``-1`` is refused), terminal input
injection (``TIOCSTI``/``TIOCLINUX``), and new sockets other than ``AF_INET``/``AF_INET6`` (those only with network
access); ``socketpair(AF_UNIX)`` stays allowed, since it reaches nothing outside the process (asyncio needs it), while
``socket(AF_UNIX)`` could connect to a host socket such as Docker's, which Landlock before ABI 9 does not guard.
``clone3`` fails with ``ENOSYS`` so that the C library falls back to ``clone``, whose flags a filter can read. Without
``proc.spawn``: ``execve``, ``execveat``, ``fork``, ``vfork`` and ``clone`` without ``CLONE_THREAD``; threads still
work.

Comparisons on ``int`` arguments are masked to 32 bits where a match *allows* a call; where a match *refuses* one, high
garbage bits only make the comparison fail towards refusal.
"""

from __future__ import annotations

import errno
import importlib
from pathlib import Path
from typing import Any, Final

__all__ = ["INSTALL_HINT", "import_binding", "install_filter", "probe"]

INSTALL_HINT: Final = "pip install 'securehost[isolation]'"
ALWAYS_REFUSED: Final = (
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsmount",
    "fsconfig",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    "chroot",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "perf_event_open",
    "userfaultfd",
)
SPAWN_REFUSED: Final = ("execve", "execveat", "fork", "vfork")

_CLONE_THREAD: Final = 0x00010000
_CLONE_NEW_FLAGS: Final = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)
_AF_UNIX: Final = 1
_AF_INET: Final = 2
_AF_INET6: Final = 10
_TIOCSTI: Final = 0x5412
_TIOCLINUX: Final = 0x541C
_PERSONALITY_QUERY: Final = 0xFFFFFFFF
_LOW32: Final = 0xFFFFFFFF
_NR_SCMP_ERROR: Final = -1


def import_binding() -> Any:
    """Import ``pyseccomp`` (which loads ``libseccomp.so.2``).

    Raises:
        ImportError: ``pyseccomp`` is not installed.
        OSError: ``libseccomp.so.2`` could not be loaded.
        RuntimeError: ``pyseccomp`` found no ``libseccomp`` on this system.
    """
    return importlib.import_module("pyseccomp")


def probe() -> tuple[bool, str]:
    """Whether :func:`install_filter` can work here (binding, library, kernel), and why not."""
    try:
        import_binding()
    except ImportError:
        return False, f"pyseccomp is not installed: {INSTALL_HINT}"
    except (OSError, RuntimeError) as exc:
        return False, f"libseccomp.so.2 cannot be loaded ({exc}): apt-get install libseccomp2"
    try:
        actions = Path("/proc/sys/kernel/seccomp/actions_avail").read_text(encoding="ascii").split()
    except OSError:
        actions = []
    if "errno" not in actions:
        return False, "this kernel has no seccomp filters (CONFIG_SECCOMP_FILTER) or cannot return an errno from one"
    return True, ""


def install_filter(binding: Any, *, allow_network: bool, allow_spawn: bool) -> tuple[str, ...]:
    """Build the filter and load it on every thread of this process (``SECCOMP_FILTER_FLAG_TSYNC``).

    Load it last: it refuses system calls (``unshare``, ``execve``) that the earlier steps may need.

    Args:
        binding: The ``pyseccomp`` module.
        allow_network: Allow new ``AF_INET``/``AF_INET6`` sockets.
        allow_spawn: Allow ``fork``/``exec``.

    Returns:
        The names that this ``libseccomp`` does not know (so no rule refuses them); empty on a current system.

    Raises:
        OSError: ``libseccomp`` or the kernel refused the filter.
    """
    seccomp = binding
    filt = seccomp.SyscallFilter(seccomp.ALLOW)
    filt.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    filt.set_attr(seccomp.Attr.CTL_TSYNC, 1)
    eperm = seccomp.ERRNO(errno.EPERM)
    unknown: list[str] = []
    refused = ALWAYS_REFUSED if allow_spawn else ALWAYS_REFUSED + SPAWN_REFUSED
    for name in refused:
        _add(filt, seccomp, eperm, name, unknown)
    _add(filt, seccomp, seccomp.ERRNO(errno.ENOSYS), "clone3", unknown)
    for flag in _CLONE_NEW_FLAGS:
        _add(filt, seccomp, eperm, "clone", unknown, seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    if not allow_spawn:
        _add(filt, seccomp, eperm, "clone", unknown, seccomp.Arg(0, seccomp.MASKED_EQ, _CLONE_THREAD, 0))
    _add(filt, seccomp, eperm, "personality", unknown, seccomp.Arg(0, seccomp.NE, _PERSONALITY_QUERY))
    for request in (_TIOCSTI, _TIOCLINUX):
        _add(filt, seccomp, eperm, "ioctl", unknown, seccomp.Arg(1, seccomp.MASKED_EQ, _LOW32, request))
    _add_socket_rules(filt, seccomp, eperm, unknown, allow_network=allow_network)
    filt.load()
    return tuple(unknown)


def _add_socket_rules(filt: Any, seccomp: Any, action: int, unknown: list[str], *, allow_network: bool) -> None:
    """Refuse ``socket`` for every family but INET/INET6 (and those too without network), ``socketpair`` but UNIX."""
    if allow_network:
        _add(filt, seccomp, action, "socket", unknown, seccomp.Arg(0, seccomp.LT, _AF_INET))
        _add(filt, seccomp, action, "socket", unknown, seccomp.Arg(0, seccomp.GT, _AF_INET6))
        for family in range(_AF_INET + 1, _AF_INET6):
            _add(filt, seccomp, action, "socket", unknown, seccomp.Arg(0, seccomp.MASKED_EQ, _LOW32, family))
    else:
        _add(filt, seccomp, action, "socket", unknown)
    _add(filt, seccomp, action, "socketpair", unknown, seccomp.Arg(0, seccomp.LT, _AF_UNIX))
    _add(filt, seccomp, action, "socketpair", unknown, seccomp.Arg(0, seccomp.GT, _AF_UNIX))


def _add(filt: Any, seccomp: Any, action: int, name: str, unknown: list[str], *args: Any) -> None:
    """Add one rule for *name*; a name this ``libseccomp`` cannot resolve is noted in *unknown* instead.

    Raises:
        OSError: ``libseccomp`` rejected the rule.
    """
    number = int(seccomp.resolve_syscall(seccomp.Arch.NATIVE, name))
    if number == _NR_SCMP_ERROR:
        unknown.append(name)
        return
    filt.add_rule(action, number, *args)
