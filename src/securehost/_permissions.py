"""Permissions: a small grammar, and matching rules under which a scope never matches more than it says.

A permission is ``KIND`` or ``KIND:SCOPE``. ``KIND`` is a dotted lowercase name. Five kinds are built in:

==================  ===============================  ==============================================================
kind                scope                            matches
==================  ===============================  ==============================================================
``fs.read``         absolute path glob (required)    files opened for reading
``fs.write``        absolute path glob (required)    files opened for writing, created, removed, renamed
``net.connect``     ``HOST`` or ``HOST:PORT``        outgoing connections and name look-ups
``proc.spawn``      none, or an absolute path glob   new processes (``subprocess``, ``os.system``, ``exec*``, ...)
``env.read``        variable-name glob (required)    reads of environment variables
==================  ===============================  ==============================================================

Any other kind (``agent.control``, ``db.write``) is defined by the host; its scope is optional and compared as a
single-segment glob.

Globs: ``*`` matches any run of characters within one path segment (never ``/``), ``**`` as a whole segment matches
any number of segments. There is no ``?`` and no ``[...]``. A path scope must be absolute and normalised: ``.`` and
``..`` segments, empty segments and a trailing ``/`` are rejected, so ``..`` can never widen a grant. At run time the
guard resolves symlinks before matching, so a link inside a granted directory that points outside it is outside.

Hosts: ``example.com`` matches that name only; ``*.example.com`` matches every name below it (any depth) but not
``example.com``; ``*`` matches every host. A missing port matches every port; a port matches that port only.

:meth:`Permission.covers` decides whether a *grant* covers a *request* (itself possibly a glob). It is sound: it
answers ``True`` only if every concrete value that the request matches is also matched by the grant.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Final, final

import attrs

from securehost.exceptions import PermissionFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["BUILTIN_KINDS", "Permission", "PermissionSet"]

BUILTIN_KINDS: Final = frozenset({"fs.read", "fs.write", "net.connect", "proc.spawn", "env.read"})
_PATH_KINDS: Final = frozenset({"fs.read", "fs.write", "proc.spawn"})
_SCOPE_REQUIRED: Final = frozenset({"fs.read", "fs.write", "net.connect", "env.read"})
_KIND_RE: Final = re.compile(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*")
_HOST_LABEL_RE: Final = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_ENV_RE: Final = re.compile(r"[A-Za-z0-9_*]+")
_CUSTOM_SCOPE_RE: Final = re.compile(r"[A-Za-z0-9_.*@/+=-]+")
_MAX_LEN: Final = 4096
_DSTAR: Final = "\x00"  # stands for a request's "**" so that a grant's single "*" cannot swallow it


@functools.lru_cache(maxsize=4096)
def _glob_regex(pattern: str, *, segmented: bool) -> re.Pattern[str]:
    """Compile a grant glob; ``*`` never crosses ``/`` (when *segmented*) nor a request's ``**``."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i) and segmented:
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append(r"[^/\x00]*" if segmented else r"[^\x00]*")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _check_path_glob(text: str, kind: str) -> None:
    if not text.startswith("/"):
        raise PermissionFormatError(f"{kind} scope must be an absolute path, got {text!r}")
    if text != "/":
        segments = text[1:].split("/")
        for segment in segments:
            if segment in ("", ".", ".."):
                raise PermissionFormatError(f"{kind} scope {text!r} has an empty, '.' or '..' segment")
            if "**" in segment and segment != "**":
                raise PermissionFormatError(f"{kind} scope {text!r}: '**' must be a whole segment")
    if any(c in text for c in "?[]\x00\\"):
        raise PermissionFormatError(f"{kind} scope {text!r} contains a character that is not allowed")


def _check_host(text: str) -> None:
    host, _, port = text.partition(":")
    if port:
        if not port.isdigit() or not 0 < int(port) < 65536 or port != str(int(port)):
            raise PermissionFormatError(f"net.connect port must be 1-65535, got {port!r}")
    if host == "*":
        return
    labels = host.split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if not labels:
            raise PermissionFormatError("net.connect host '*.' has no domain")
    if not all(_HOST_LABEL_RE.fullmatch(label) for label in labels):
        raise PermissionFormatError(f"net.connect host {host!r} is not a lowercase host name or IPv4 address")


@final
@attrs.frozen(order=True)
class Permission:
    """One permission, ``kind`` plus an optional ``scope``. Build it with :meth:`parse`."""

    kind: str
    scope: str | None = None

    @classmethod
    def parse(cls, text: str) -> Permission:
        """Parse ``KIND`` or ``KIND:SCOPE``.

        Raises:
            PermissionFormatError: the text does not follow the grammar (see the module documentation).
        """
        if not isinstance(text, str):
            raise TypeError(f"permission must be a str, not {type(text).__name__}")
        if not text or len(text) > _MAX_LEN or text != text.strip():
            raise PermissionFormatError(f"invalid permission {text[:80]!r}")
        kind, sep, scope = text.partition(":")
        if not _KIND_RE.fullmatch(kind):
            raise PermissionFormatError(f"invalid permission kind {kind[:80]!r}")
        if sep and not scope:
            raise PermissionFormatError(f"permission {text!r} has an empty scope")
        if not sep:
            if kind in _SCOPE_REQUIRED:
                raise PermissionFormatError(f"{kind} requires a scope ({kind}:...)")
            return cls(kind)
        if kind in _PATH_KINDS:
            _check_path_glob(scope, kind)
        elif kind == "net.connect":
            _check_host(scope)
        elif kind == "env.read":
            if not _ENV_RE.fullmatch(scope):
                raise PermissionFormatError(f"env.read scope {scope!r} is not a variable-name glob")
        elif not _CUSTOM_SCOPE_RE.fullmatch(scope) or "**" in scope:
            raise PermissionFormatError(f"scope {scope!r} of {kind} contains a character that is not allowed")
        return cls(kind, scope)

    def __str__(self) -> str:
        return self.kind if self.scope is None else f"{self.kind}:{self.scope}"

    def covers(self, request: Permission) -> bool:
        """Return whether this grant covers every concrete use that *request* allows."""
        if request.kind != self.kind:
            return False
        if self.scope is None:
            return True
        if request.scope is None:
            return False
        if self.kind == "net.connect":
            return _host_covers(self.scope, request.scope)
        segmented = self.kind in _PATH_KINDS
        subject = request.scope.replace("**", _DSTAR) if segmented else request.scope
        return _glob_regex(self.scope, segmented=segmented).fullmatch(subject) is not None

    def matches(self, value: str) -> bool:
        """Return whether this permission allows the concrete *value* (a path, ``host:port``, a name).

        Paths must already be absolute and resolved (symlinks followed); anything with a ``..`` segment is refused.
        """
        if self.scope is None:
            return True
        if self.kind in _PATH_KINDS and ("/../" in f"{value}/" or "\x00" in value):
            return False
        if "*" in value:
            return False
        try:
            concrete = Permission(self.kind, value)
        except (TypeError, ValueError):  # pragma: no cover - attrs does no validation here
            return False
        return self.covers(concrete)


def _host_covers(grant: str, request: str) -> bool:
    grant_host, _, grant_port = grant.partition(":")
    request_host, _, request_port = request.partition(":")
    if grant_port and grant_port != request_port:
        return False
    if grant_host == "*":
        return True
    if request_host == "*":
        return False
    if grant_host.startswith("*."):
        suffix = grant_host[1:]
        return request_host.endswith(suffix) and len(request_host) > len(suffix)
    return grant_host == request_host


@final
@attrs.frozen
class PermissionSet:
    """An immutable set of permissions with coverage queries."""

    permissions: frozenset[Permission] = attrs.field(factory=frozenset, converter=frozenset)

    @classmethod
    def parse(cls, texts: Iterable[str]) -> PermissionSet:
        """Parse every string in *texts*.

        Raises:
            PermissionFormatError: one of the strings is not a valid permission.
        """
        return cls(frozenset(Permission.parse(t) for t in texts))

    def __iter__(self) -> Iterator[Permission]:
        return iter(sorted(self.permissions))

    def __len__(self) -> int:
        return len(self.permissions)

    def __contains__(self, item: object) -> bool:
        return item in self.permissions

    def covers(self, request: Permission) -> bool:
        """Return whether some permission in this set covers *request*."""
        return any(p.covers(request) for p in self.permissions)

    def allows(self, kind: str, value: str | None = None) -> bool:
        """Return whether some permission of *kind* allows the concrete *value* (``None`` for unscoped uses)."""
        for p in self.permissions:
            if p.kind != kind:
                continue
            if value is None:
                if p.scope is None:
                    return True
            elif p.matches(value):
                return True
        return False

    def restrict(self, *grants: PermissionSet) -> PermissionSet:
        """Return the permissions of this (requested) set that every one of *grants* covers."""
        return PermissionSet(frozenset(p for p in self.permissions if all(g.covers(p) for g in grants)))

    def strings(self) -> tuple[str, ...]:
        """Return the permissions as sorted strings."""
        return tuple(str(p) for p in self)
