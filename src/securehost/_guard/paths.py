"""Path checks of the guard: which file a call names, resolved, judged against the grants.

Paths are made absolute (against the working directory, or against ``dir_fd`` when the event carries
it) and symlinks are resolved before matching; operations that act on a link itself resolve only its
directory. Reads of the interpreter's library and package directories and of a few device files are
always allowed, so that lazy imports and ordinary library code keep working. ``os.open`` with a
relative path is denied unless it comes from a known standard-library tree walker, whose ``dir_fd``
is read from its frame: the audit event does not carry it.
"""

from __future__ import annotations

import os
import pathlib
import sys
import sysconfig
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable

    from securehost._context import PluginContext

__all__ = ["both_paths", "check_path", "deny", "on_open", "path_handler", "resolve", "trusted_path"]

_O_ACCMODE: Final = getattr(os, "O_ACCMODE", 3)
_WRITE_FLAGS: Final = os.O_CREAT | os.O_TRUNC | os.O_APPEND | getattr(os, "O_TMPFILE", 0)
_DEV_READ: Final = frozenset({"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"})
_DEV_WRITE: Final = frozenset({"/dev/null"})


def _library_roots() -> tuple[str, ...]:
    """The interpreter's library and package directories: readable, so that lazy imports work."""
    roots = set()
    paths = sysconfig.get_paths()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        if paths.get(key):
            roots.add(os.path.realpath(paths[key]))
    return tuple(sorted(roots))


_READ_ROOTS: Final = _library_roots()


def deny(context: PluginContext, permission: str, detail: str) -> None:
    context.deny(permission, source="guard", detail=detail)


def trusted_path(context: PluginContext, event: str, value: object) -> str | None:
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
    deny(context, "fs.read", f"{event}: untrusted path-like object {kind.__name__}")
    return None  # pragma: no cover - deny raises


def _base_dir(dir_fd: object) -> str:
    if isinstance(dir_fd, int) and not isinstance(dir_fd, bool) and dir_fd >= 0:
        return os.readlink(f"/proc/self/fd/{dir_fd}")
    return os.getcwd()


def resolve(path: str, dir_fd: object = None, *, follow: bool = True) -> str:
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


def check_path(context: PluginContext, kind: str, resolved: str, event: str) -> None:
    if context.permissions.allows(kind, resolved):
        return
    if kind == "fs.read" and (
        resolved in _DEV_READ or any(resolved == r or resolved.startswith(r + "/") for r in _READ_ROOTS)
    ):
        return
    if kind == "fs.write" and resolved in _DEV_WRITE:
        return
    deny(context, f"{kind}:{resolved}", event)


def _dir_fd_from_caller() -> object:
    """The ``dir_fd`` of a relative ``os.open`` by a known stdlib tree walker, from its frame."""
    frame = sys._getframe(3)  # _dir_fd_from_caller <- on_open <- _audit_hook <- the caller of os.open
    code = frame.f_code
    wanted = _WALKERS.get(code)
    if wanted is None and code.co_name in _WALKER_NAMES:
        _WALKERS.update(_walkers())  # shutil was imported after this module: learn its walker now
        wanted = _WALKERS.get(code)
    return frame.f_locals.get(wanted) if wanted else None


def _walkers() -> dict[Any, str]:
    walkers: dict[Any, str] = {}
    # shutil is not imported for this (it costs a start-up about 1.5 ms): a frame can only be its walker once
    # something imported it, and _dir_fd_from_caller learns the walker then.
    for owner, name in ((sys.modules.get("shutil"), "_rmtree_safe_fd"), (os, "_fwalk")):
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


_WALKER_NAMES: Final = frozenset({"_rmtree_safe_fd", "_fwalk"})
_WALKERS: Final = _walkers()


def on_open(context: PluginContext, args: tuple[Any, ...]) -> None:
    path = trusted_path(context, "open", args[0])
    if path is None:
        return
    mode, flags = args[1], args[2] if isinstance(args[2], int) else 0
    dir_fd: object = None
    if mode is None and not os.path.isabs(path):
        dir_fd = _dir_fd_from_caller()
        if dir_fd is None:
            deny(
                context,
                f"fs.read:{path}",
                "open: relative os.open path (its dir_fd is not audited)",
            )
    resolved = resolve(path, dir_fd)
    access = flags & _O_ACCMODE
    if access != os.O_WRONLY:
        check_path(context, "fs.read", resolved, "open")
    if access != os.O_RDONLY or flags & _WRITE_FLAGS:
        check_path(context, "fs.write", resolved, "open")


def path_handler(
    event: str, kind: str, *, index: int = 0, dir_fd_index: int | None = None, follow: bool = True
) -> Callable[[PluginContext, tuple[Any, ...]], None]:
    def handler(context: PluginContext, args: tuple[Any, ...]) -> None:
        value = args[index] if len(args) > index else None
        path = "." if value is None else trusted_path(context, event, value)
        if path is None:
            return
        dir_fd = args[dir_fd_index] if dir_fd_index is not None and len(args) > dir_fd_index else None
        check_path(context, kind, resolve(path, dir_fd, follow=follow), event)

    return handler


def both_paths(follow_src: bool) -> Callable[[PluginContext, tuple[Any, ...]], None]:
    def handler(context: PluginContext, args: tuple[Any, ...]) -> None:
        src = trusted_path(context, "link/rename", args[0])
        dst = trusted_path(context, "link/rename", args[1])
        if src is not None:
            check_path(context, "fs.write", resolve(src, args[2], follow=follow_src), "link/rename source")
        if dst is not None:
            check_path(context, "fs.write", resolve(dst, args[3], follow=False), "link/rename target")

    return handler
