"""What the guard checks: audited event -> permission -> allow, or deny inside the plugin.

Every handler receives the running plugin's context and the event arguments and either returns
(allowed) or calls :meth:`PluginContext.deny`, which counts the denial, records a ``guard.denied``
audit event and raises :class:`~securehost.exceptions.PermissionDeniedError` into the plugin.
Anything that cannot be judged with certainty (an unknown socket family, a path-like object whose
``__fspath__`` could lie, a relative ``os.open`` whose ``dir_fd`` the event does not carry) is
denied.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

from securehost._context import run_as_host
from securehost._guard.net import (
    on_bind,
    on_connect,
    on_lookup,
    on_reverse_lookup,
    record_resolution,
)
from securehost._guard.paths import (
    both_paths,
    check_path,
    deny,
    on_open,
    path_handler,
    resolve,
    trusted_path,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from securehost._context import PluginContext

__all__ = ["HANDLERS", "check_native", "record_resolution"]

_ALWAYS_DENIED: Final = frozenset({"os.chdir", "socket.sethostname", "resource.setrlimit"})

# --- programs, processes, environment ------------------------------------------------------------


def _which(name: str, search: str | None) -> str | None:
    """``shutil.which``, with ``shutil`` imported on the first spawn (as the host: it costs a start-up ~1.5 ms)."""
    import shutil  # noqa: PLC0415

    return shutil.which(name, path=search)


def _check_program(
    context: PluginContext, program: object, event: str, *, cwd: object = None, env: object = None
) -> None:
    name = os.fsdecode(program) if isinstance(program, (str, bytes)) else trusted_path(context, event, program)
    if not name:
        deny(context, "proc.spawn", f"{event}: no program")
        return
    if os.sep in name:
        base = trusted_path(context, event, cwd) if cwd is not None else None
        resolved = os.path.realpath(os.path.join(base or os.getcwd(), name))
    else:
        search = env.get("PATH", env.get(b"PATH")) if isinstance(env, dict) else os.environ.get("PATH")
        found = run_as_host(_which, name, os.fsdecode(search) if search is not None else None)
        if found is None:
            deny(context, f"proc.spawn:{name}", f"{event}: program not found on PATH")
            return
        resolved = os.path.realpath(found)
    if not context.permissions.allows("proc.spawn", resolved):
        deny(context, f"proc.spawn:{resolved}", event)


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
            deny(context, permission, "needs the unscoped permission")

    return handler


def _on_env_write(context: PluginContext, args: tuple[Any, ...]) -> None:
    key = args[0]
    name = os.fsdecode(key) if isinstance(key, (str, bytes)) else repr(key)
    if not context.permissions.allows("env.write", name):
        deny(context, f"env.write:{name}", "os.putenv/os.unsetenv")


def _always_denied(context: PluginContext, args: tuple[Any, ...]) -> None:
    deny(context, "(not grantable)", "changes process-wide state that belongs to the host")


def check_native(context: PluginContext, event: str) -> None:
    """Deny ``ctypes`` and native-extension events unless the plugin has ``sys.native``."""
    if not context.permissions.allows("sys.native", None):
        deny(context, "sys.native", event)


def _on_sqlite_connect(context: PluginContext, args: tuple[Any, ...]) -> None:
    database = args[0]
    if isinstance(database, bytes):
        database = os.fsdecode(database)
    path = database if isinstance(database, str) else trusted_path(context, "sqlite3.connect", database)
    if path is None:
        return
    if path.startswith("file:"):
        path = path[5:].split("?", 1)[0].split("#", 1)[0]
    if path in ("", ":memory:"):
        return
    check_path(context, "fs.write", resolve(path), "sqlite3.connect")


HANDLERS: Final[dict[str, Callable[[PluginContext, tuple[Any, ...]], None]]] = {
    "open": on_open,
    "os.listdir": path_handler("os.listdir", "fs.read"),
    "os.scandir": path_handler("os.scandir", "fs.read"),
    "os.listxattr": path_handler("os.listxattr", "fs.read"),
    "os.getxattr": path_handler("os.getxattr", "fs.read"),
    "os.remove": path_handler("os.remove", "fs.write", dir_fd_index=1, follow=False),
    "os.rmdir": path_handler("os.rmdir", "fs.write", dir_fd_index=1, follow=False),
    "os.mkdir": path_handler("os.mkdir", "fs.write", dir_fd_index=2, follow=False),
    "os.chmod": path_handler("os.chmod", "fs.write", dir_fd_index=2),
    "os.chown": path_handler("os.chown", "fs.write", dir_fd_index=3),
    "os.utime": path_handler("os.utime", "fs.write", dir_fd_index=3),
    "os.truncate": path_handler("os.truncate", "fs.write"),
    "os.setxattr": path_handler("os.setxattr", "fs.write"),
    "os.removexattr": path_handler("os.removexattr", "fs.write"),
    "os.chflags": path_handler("os.chflags", "fs.write"),
    "os.lchflags": path_handler("os.lchflags", "fs.write", follow=False),
    "os.symlink": path_handler("os.symlink", "fs.write", index=1, dir_fd_index=2, follow=False),
    "os.link": both_paths(follow_src=True),
    "os.rename": both_paths(follow_src=False),
    "shutil.rmtree": path_handler("shutil.rmtree", "fs.write", follow=False),
    "sqlite3.connect": _on_sqlite_connect,
    "sqlite3.connect/handle": lambda context, args: None,
    "sqlite3.enable_load_extension": lambda context, args: check_native(context, "sqlite3.enable_load_extension"),
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
    "socket.connect": on_connect,
    "socket.sendto": on_connect,
    "socket.sendmsg": on_connect,
    "socket.bind": on_bind,
    "socket.getaddrinfo": on_lookup,
    "socket.gethostbyname": on_lookup,
    "socket.gethostbyname_ex": on_lookup,
    "socket.gethostbyaddr": on_reverse_lookup,
    "socket.getnameinfo": on_reverse_lookup,
    **dict.fromkeys(_ALWAYS_DENIED, _always_denied),
}
