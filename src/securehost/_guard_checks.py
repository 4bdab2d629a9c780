"""What the guard checks: audited event -> permission -> allow, or deny inside the plugin.

Every handler receives the running plugin's context and the event arguments and either returns
(allowed) or calls
:meth:`PluginContext.deny`, which counts the denial, records a ``guard.denied`` audit event and
raises
:class:`~securehost.exceptions.PermissionDeniedError` into the plugin. Anything that cannot be
judged with
certainty (an unknown socket family, a path-like object whose ``__fspath__`` could lie, a relative
``os.open``
whose ``dir_fd`` the event does not carry) is denied.
"""

from __future__ import annotations

import ipaddress
import os
import pathlib
import shutil
import socket
import sys
import sysconfig
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable

    from securehost._context import PluginContext

__all__ = ["HANDLERS", "check_native", "record_resolution"]

_O_ACCMODE: Final = getattr(os, "O_ACCMODE", 3)
_WRITE_FLAGS: Final = os.O_CREAT | os.O_TRUNC | os.O_APPEND | getattr(os, "O_TMPFILE", 0)
_DEV_READ: Final = frozenset({"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"})
_DEV_WRITE: Final = frozenset({"/dev/null"})
_ALWAYS_DENIED: Final = frozenset({"os.chdir", "socket.sethostname", "resource.setrlimit"})
_MAX_RESOLVED: Final = 4096


def _library_roots() -> tuple[str, ...]:
    """The interpreter's library and package directories: readable, so that lazy imports work."""
    roots = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            roots.add(os.path.realpath(paths[key]))
    return tuple(sorted(roots))


_READ_ROOTS: Final = _library_roots()
_resolved: OrderedDict[str, frozenset[str]] = OrderedDict()
_resolved_lock = threading.Lock()


def _deny(context: PluginContext, permission: str, detail: str) -> None:
    context.deny(permission, source="guard", detail=detail)


# --- paths
# --------------------------------------------------------------------------------------------------


def _trusted_path(context: PluginContext, event: str, value: object) -> str | None:
    """Return the path *value* names (``None`` for a descriptor); deny untrusted path-likes."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return os.fsdecode(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return None
    if isinstance(value, os.DirEntry):
        return os.fsdecode(value.path)
    kind = type(value)
    if (
        isinstance(value, pathlib.PurePath)
        and getattr(kind, "__fspath__", None) is pathlib.PurePath.__fspath__
        and getattr(kind, "__str__", None) is pathlib.PurePath.__str__
    ):
        return str(value)
    _deny(context, "fs.read", f"{event}: untrusted path-like object {kind.__name__}")
    return None  # pragma: no cover - _deny raises


def _base_dir(dir_fd: object) -> str:
    if isinstance(dir_fd, int) and not isinstance(dir_fd, bool) and dir_fd >= 0:
        return os.readlink(f"/proc/self/fd/{dir_fd}")
    return os.getcwd()


def _resolve(path: str, dir_fd: object = None, *, follow: bool = True) -> str:
    """Make *path* absolute (against *dir_fd* or the working directory) and resolve its symlinks.

    With ``follow=False`` the last component is kept as it is (the operation acts on a link, not its
    target).
    """
    if not os.path.isabs(path):
        path = os.path.join(_base_dir(dir_fd), path)
    if follow:
        return os.path.realpath(path)
    head, tail = os.path.split(path)
    if tail in ("", ".", ".."):
        return os.path.realpath(path)
    return os.path.join(os.path.realpath(head), tail)


def _check_path(context: PluginContext, kind: str, resolved: str, event: str) -> None:
    if context.permissions.allows(kind, resolved):
        return
    if kind == "fs.read" and (
        resolved in _DEV_READ
        or any(resolved == r or resolved.startswith(r + "/") for r in _READ_ROOTS)
    ):
        return
    if kind == "fs.write" and resolved in _DEV_WRITE:
        return
    _deny(context, f"{kind}:{resolved}", event)


def _dir_fd_from_caller() -> object:
    """The ``dir_fd`` of a relative ``os.open`` by a known stdlib tree walker, from its frame."""
    frame = sys._getframe(
        3
    )  # _dir_fd_from_caller <- _on_open <- _audit_hook <- the caller of os.open
    wanted = _WALKERS.get(frame.f_code)
    return frame.f_locals.get(wanted) if wanted else None


def _walkers() -> dict[Any, str]:
    walkers: dict[Any, str] = {}
    for owner, name in ((shutil, "_rmtree_safe_fd"), (os, "_fwalk")):
        function = getattr(owner, name, None)
        code = getattr(function, "__code__", None)
        if code is None:
            continue
        # Python <= 3.12 pass the parameter ``topfd`` as dir_fd; 3.13 walks a stack with ``dirfd``
        if code.co_argcount and code.co_varnames[0] == "topfd":
            walkers[code] = "topfd"
        elif "dirfd" in code.co_varnames:
            walkers[code] = "dirfd"
    return walkers


_WALKERS: Final = _walkers()


def _on_open(context: PluginContext, args: tuple[Any, ...]) -> None:
    path = _trusted_path(context, "open", args[0])
    if path is None:
        return
    mode, flags = args[1], args[2] if isinstance(args[2], int) else 0
    dir_fd: object = None
    if mode is None and not os.path.isabs(path):
        dir_fd = _dir_fd_from_caller()
        if dir_fd is None:
            _deny(
                context,
                f"fs.read:{path}",
                "open: relative os.open path (its dir_fd is not audited)",
            )
    resolved = _resolve(path, dir_fd)
    access = flags & _O_ACCMODE
    if access != os.O_WRONLY:
        _check_path(context, "fs.read", resolved, "open")
    if access != os.O_RDONLY or flags & _WRITE_FLAGS:
        _check_path(context, "fs.write", resolved, "open")


def _path_handler(
    event: str, kind: str, *, index: int = 0, dir_fd_index: int | None = None, follow: bool = True
) -> Callable[[PluginContext, tuple[Any, ...]], None]:
    def handler(context: PluginContext, args: tuple[Any, ...]) -> None:
        value = args[index] if len(args) > index else None
        path = "." if value is None else _trusted_path(context, event, value)
        if path is None:
            return
        dir_fd = (
            args[dir_fd_index] if dir_fd_index is not None and len(args) > dir_fd_index else None
        )
        _check_path(context, kind, _resolve(path, dir_fd, follow=follow), event)

    return handler


def _both_paths(follow_src: bool) -> Callable[[PluginContext, tuple[Any, ...]], None]:
    def handler(context: PluginContext, args: tuple[Any, ...]) -> None:
        src = _trusted_path(context, "link/rename", args[0])
        dst = _trusted_path(context, "link/rename", args[1])
        if src is not None:
            _check_path(
                context, "fs.write", _resolve(src, args[2], follow=follow_src), "link/rename source"
            )
        if dst is not None:
            _check_path(
                context, "fs.write", _resolve(dst, args[3], follow=False), "link/rename target"
            )

    return handler


# --- programs, processes, environment
# --------------------------------------------------------------------------


def _check_program(
    context: PluginContext, program: object, event: str, *, cwd: object = None, env: object = None
) -> None:
    name = (
        os.fsdecode(program)
        if isinstance(program, (str, bytes))
        else _trusted_path(context, event, program)
    )
    if not name:
        _deny(context, "proc.spawn", f"{event}: no program")
        return
    if os.sep in name:
        base = _trusted_path(context, event, cwd) if cwd is not None else None
        resolved = os.path.realpath(os.path.join(base or os.getcwd(), name))
    else:
        search = (
            env.get("PATH", env.get(b"PATH")) if isinstance(env, dict) else os.environ.get("PATH")
        )
        found = shutil.which(name, path=os.fsdecode(search) if search is not None else None)
        if found is None:
            _deny(context, f"proc.spawn:{name}", f"{event}: program not found on PATH")
            return
        resolved = os.path.realpath(found)
    if not context.permissions.allows("proc.spawn", resolved):
        _deny(context, f"proc.spawn:{resolved}", event)


def _on_popen(context: PluginContext, args: tuple[Any, ...]) -> None:
    _check_program(context, args[0], "subprocess.Popen", cwd=args[2], env=args[3])


def _on_system(context: PluginContext, args: tuple[Any, ...]) -> None:
    _check_program(context, "/bin/sh", "os.system")


def _on_exec(context: PluginContext, args: tuple[Any, ...]) -> None:
    _check_program(context, args[0], "os.exec")


def _on_spawnp(context: PluginContext, args: tuple[Any, ...]) -> None:
    _check_program(context, args[0], "os.posix_spawnp", env=args[2] if len(args) > 2 else None)


def _unscoped(permission: str) -> Callable[[PluginContext, tuple[Any, ...]], None]:
    def handler(context: PluginContext, args: tuple[Any, ...]) -> None:
        if not context.permissions.allows(permission, None):
            _deny(context, permission, "needs the unscoped permission")

    return handler


def _on_env_write(context: PluginContext, args: tuple[Any, ...]) -> None:
    key = args[0]
    name = os.fsdecode(key) if isinstance(key, (str, bytes)) else repr(key)
    if not context.permissions.allows("env.write", name):
        _deny(context, f"env.write:{name}", "os.putenv/os.unsetenv")


def _always_denied(context: PluginContext, args: tuple[Any, ...]) -> None:
    _deny(context, "(not grantable)", "changes process-wide state that belongs to the host")


def check_native(context: PluginContext, event: str) -> None:
    """Deny ``ctypes`` and native-extension events unless the plugin has ``sys.native``."""
    if not context.permissions.allows("sys.native", None):
        _deny(context, "sys.native", event)


def _on_sqlite_connect(context: PluginContext, args: tuple[Any, ...]) -> None:
    database = args[0]
    if isinstance(database, bytes):
        database = os.fsdecode(database)
    path = (
        database
        if isinstance(database, str)
        else _trusted_path(context, "sqlite3.connect", database)
    )
    if path is None:
        return
    if path.startswith("file:"):
        path = path[5:].split("?", 1)[0].split("#", 1)[0]
    if path in ("", ":memory:"):
        return
    _check_path(context, "fs.write", _resolve(path), "sqlite3.connect")


# --- network
# --------------------------------------------------------------------------------------------------


def _normal_ip(text: str) -> str | None:
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return str(addr.ipv4_mapped)
    return str(addr)


def record_resolution(host: object, infos: list[Any]) -> None:
    """Remember that *host* resolved to the addresses in *infos* (``getaddrinfo`` results)."""
    name = os.fsdecode(host).lower().rstrip(".") if isinstance(host, (str, bytes)) else None
    if not name:
        return
    with _resolved_lock:
        for info in infos:
            sockaddr = info[4] if len(info) > 4 else None
            ip = _normal_ip(str(sockaddr[0])) if isinstance(sockaddr, tuple) and sockaddr else None
            if ip is None or ip == name:
                continue
            _resolved[ip] = _resolved.get(ip, frozenset()) | {name}
            _resolved.move_to_end(ip)
            while len(_resolved) > _MAX_RESOLVED:
                _resolved.popitem(last=False)


def _host_value(host: str, port: object) -> str:
    ip = _normal_ip(host)
    shown = host if ip is None else (f"[{ip}]" if ":" in ip else ip)
    return f"{shown}:{port}" if isinstance(port, int) and not isinstance(port, bool) else shown


def _check_address(
    context: PluginContext, kind: str, address: object, event: str, sock: object = None
) -> None:
    if isinstance(address, (str, bytes)) and getattr(sock, "family", None) == getattr(
        socket, "AF_UNIX", object()
    ):
        path = os.fsdecode(address)
        if not path or path.startswith("\x00"):
            _deny(context, f"{kind}:(abstract unix socket)", event)
        _check_path(context, "fs.write", _resolve(path), event)
        return
    if not (
        isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], (str, bytes))
    ):
        _deny(context, f"{kind}:{address!r}"[:200], f"{event}: unsupported address")
        return
    host = os.fsdecode(address[0])
    value = _host_value(host, address[1])
    if context.permissions.allows(kind, value):
        return
    ip = _normal_ip(host)
    if kind == "net.connect" and ip is not None:
        with _resolved_lock:
            names = _resolved.get(ip, frozenset())
        port = address[1]
        for name in sorted(names):
            if context.permissions.allows(
                kind, f"{name}:{port}" if isinstance(port, int) else name
            ):
                return
    _deny(context, f"{kind}:{value}", event)


def _on_connect(context: PluginContext, args: tuple[Any, ...]) -> None:
    if len(args) > 1 and args[1] is not None:
        _check_address(context, "net.connect", args[1], "socket.connect", args[0])


def _on_bind(context: PluginContext, args: tuple[Any, ...]) -> None:
    _check_address(context, "net.bind", args[1], "socket.bind", args[0])


def _on_lookup(context: PluginContext, args: tuple[Any, ...]) -> None:
    host = args[0] if args else None
    if host is None:
        return
    if not isinstance(host, (str, bytes)):
        _deny(context, "net.connect", "name look-up of a non-string host")
        return
    port = args[1] if len(args) > 1 else None
    if _normal_ip(os.fsdecode(host)) is not None:
        return  # an address literal: no name is looked up; the connection itself is checked
    value = _host_value(os.fsdecode(host), port)
    allows = context.permissions.allows
    if allows("net.connect", value) or allows("net.bind", value):
        return
    _deny(context, f"net.connect:{value}", "name look-up")


def _on_reverse_lookup(context: PluginContext, args: tuple[Any, ...]) -> None:
    target = args[0]
    host = target[0] if isinstance(target, tuple) and target else target
    _on_lookup(context, (host,))


HANDLERS: Final[dict[str, Callable[[PluginContext, tuple[Any, ...]], None]]] = {
    "open": _on_open,
    "os.listdir": _path_handler("os.listdir", "fs.read"),
    "os.scandir": _path_handler("os.scandir", "fs.read"),
    "os.listxattr": _path_handler("os.listxattr", "fs.read"),
    "os.getxattr": _path_handler("os.getxattr", "fs.read"),
    "os.remove": _path_handler("os.remove", "fs.write", dir_fd_index=1, follow=False),
    "os.rmdir": _path_handler("os.rmdir", "fs.write", dir_fd_index=1, follow=False),
    "os.mkdir": _path_handler("os.mkdir", "fs.write", dir_fd_index=2, follow=False),
    "os.chmod": _path_handler("os.chmod", "fs.write", dir_fd_index=2),
    "os.chown": _path_handler("os.chown", "fs.write", dir_fd_index=3),
    "os.utime": _path_handler("os.utime", "fs.write", dir_fd_index=3),
    "os.truncate": _path_handler("os.truncate", "fs.write"),
    "os.setxattr": _path_handler("os.setxattr", "fs.write"),
    "os.removexattr": _path_handler("os.removexattr", "fs.write"),
    "os.chflags": _path_handler("os.chflags", "fs.write"),
    "os.lchflags": _path_handler("os.lchflags", "fs.write", follow=False),
    "os.symlink": _path_handler("os.symlink", "fs.write", index=1, dir_fd_index=2, follow=False),
    "os.link": _both_paths(follow_src=True),
    "os.rename": _both_paths(follow_src=False),
    "shutil.rmtree": _path_handler("shutil.rmtree", "fs.write", follow=False),
    "sqlite3.connect": _on_sqlite_connect,
    "sqlite3.connect/handle": lambda context, args: None,
    "sqlite3.enable_load_extension": lambda context, args: check_native(
        context, "sqlite3.enable_load_extension"
    ),
    "sqlite3.load_extension": lambda context, args: check_native(context, "sqlite3.load_extension"),
    "subprocess.Popen": _on_popen,
    "os.system": _on_system,
    "os.exec": _on_exec,
    "os.posix_spawn": _on_exec,
    "os.posix_spawnp": _on_spawnp,
    "os.spawn": _on_exec,
    "os.startfile": _on_exec,
    "os.fork": _unscoped("proc.spawn"),
    "os.forkpty": _unscoped("proc.spawn"),
    "os.kill": _unscoped("proc.spawn"),
    "os.killpg": _unscoped("proc.spawn"),
    "signal.pthread_kill": _unscoped("proc.spawn"),
    "os.putenv": _on_env_write,
    "os.unsetenv": _on_env_write,
    "socket.connect": _on_connect,
    "socket.sendto": _on_connect,
    "socket.sendmsg": _on_connect,
    "socket.bind": _on_bind,
    "socket.getaddrinfo": _on_lookup,
    "socket.gethostbyname": _on_lookup,
    "socket.gethostbyname_ex": _on_lookup,
    "socket.gethostbyaddr": _on_reverse_lookup,
    "socket.getnameinfo": _on_reverse_lookup,
    **dict.fromkeys(_ALWAYS_DENIED, _always_denied),
}
