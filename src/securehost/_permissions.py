"""Permissions: a small grammar, and matching under which a scope never matches more than it says.

A permission is ``KIND`` or ``KIND:SCOPE``. ``KIND`` is a dotted lowercase name. These kinds are
built in:

* ``fs.read:PATH-GLOB`` (scope required): files and directories opened or listed for reading.
* ``fs.write:PATH-GLOB`` (scope required): files opened for writing, created, removed, renamed,
  linked.
* ``net.connect:HOST[:PORT]`` (scope required): outgoing connections and name look-ups.
* ``net.bind:HOST[:PORT]`` (scope required): sockets bound to a local address.
* ``proc.spawn`` or ``proc.spawn:PATH-GLOB``: new programs (``subprocess``, ``os.system``,
  ``exec*``); only the unscoped form also allows ``fork`` and signalling processes.
* ``env.read:NAME-GLOB`` (scope required): reads of environment variables (advisory in-process).
* ``env.write:NAME-GLOB`` (scope required): ``os.putenv`` / ``os.unsetenv``
  (``os.environ[...] = ...``).
* ``sys.native`` (no scope): loading and calling native code through :mod:`ctypes`.

Any other kind (``agent.control``, ``db.write``) is defined by the host; its scope is optional and
compared as a single glob in which ``*`` matches any run of characters. Where a permission is *written*
(``sign_wheel(permissions=...)``, ``securehost sign --permission``, ``securehost trust add
--max-permission``), :func:`check_kind` also refuses a kind that cannot be meant: an unknown kind in
the built-in namespaces ``fs``, ``net``, ``proc``, ``env`` and ``sys`` (``fs.raed``), and a kind
without a namespace (``network``); the error suggests the built-in kind that was probably meant.

Path globs: ``*`` matches any run of characters within one path segment (never ``/``); ``**`` as a
whole segment matches any number of segments, including none (``/srv/data/**`` matches ``/srv/data``
and everything below it). There is no ``?`` and no ``[...]``. A path scope must be absolute and
normalised: ``.`` and ``..`` segments, empty segments and a trailing ``/`` are rejected, so ``..``
can never widen a grant. :meth:`Permission.matches` refuses any value that is not an absolute,
normalised path; the runtime guard resolves symlinks before matching, so a link inside a granted
directory that points outside it is outside.

Hosts: ``example.com`` matches that name only (case-insensitively, with or without one trailing
dot); ``*.example.com`` matches every name below it (any depth) but not ``example.com``; ``*``
matches every host. IPv4 addresses are written in canonical dotted-quad form; IPv6 addresses in
brackets, in canonical compressed form (``[::1]:8080``). Numeric host names that are not canonical
addresses (``127.1``, ``0x7f.1``) are rejected, because the resolver would read them as addresses. A
missing port matches every port; a port matches that port only. A concrete value without a port (a
name look-up) is matched by the host part alone.

:meth:`Permission.covers` decides whether a *grant* covers a *request* (itself possibly a glob). It
is sound: it answers ``True`` only if every concrete value that the request matches is also matched
by the grant.
"""

from __future__ import annotations

import functools
import ipaddress
import posixpath
import re
from typing import TYPE_CHECKING, Final, final

import attrs

from securehost._models import value_model
from securehost._patterns import lazy_pattern
from securehost.exceptions import PermissionFormatError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["BUILTIN_KINDS", "NO_PERMISSIONS", "Permission", "PermissionSet", "check_kind"]

BUILTIN_KINDS: Final = frozenset(
    {
        "fs.read",
        "fs.write",
        "net.connect",
        "net.bind",
        "proc.spawn",
        "env.read",
        "env.write",
        "sys.native",
    }
)
_PATH_KINDS: Final = frozenset({"fs.read", "fs.write", "proc.spawn"})
_HOST_KINDS: Final = frozenset({"net.connect", "net.bind"})
_NAME_KINDS: Final = frozenset({"env.read", "env.write"})
_SCOPE_REQUIRED: Final = frozenset({"fs.read", "fs.write", "net.connect", "net.bind", "env.read", "env.write"})
_SCOPE_FORBIDDEN: Final = frozenset({"sys.native"})
_RESERVED_NAMESPACES: Final = frozenset(kind.partition(".")[0] for kind in BUILTIN_KINDS)
#: Words people write for a built-in kind (``network``), for the did-you-mean of :func:`check_kind`.
_ALIASES: Final = {
    "net": "net.connect",
    "network": "net.connect",
    "internet": "net.connect",
    "http": "net.connect",
    "https": "net.connect",
    "socket": "net.connect",
    "connect": "net.connect",
    "bind": "net.bind",
    "listen": "net.bind",
    "server": "net.bind",
    "fs": "fs.read",
    "file": "fs.read",
    "files": "fs.read",
    "filesystem": "fs.read",
    "read": "fs.read",
    "write": "fs.write",
    "proc": "proc.spawn",
    "process": "proc.spawn",
    "subprocess": "proc.spawn",
    "spawn": "proc.spawn",
    "exec": "proc.spawn",
    "shell": "proc.spawn",
    "env": "env.read",
    "environ": "env.read",
    "environment": "env.read",
    "native": "sys.native",
    "ctypes": "sys.native",
    "ffi": "sys.native",
}


_kind_re = lazy_pattern(r"[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*")


_host_label_re = lazy_pattern(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


_env_re = lazy_pattern(r"[A-Za-z0-9_*]+")


_custom_scope_re = lazy_pattern(r"[A-Za-z0-9_.*@/+=-]+")


_MAX_LEN: Final = 4096
_DSTAR: Final = "\x00"  # stands for a request's "**" so that a grant's single "*" cannot swallow it


@functools.lru_cache(maxsize=4096)
def _glob_regex(pattern: str, *, segmented: bool) -> re.Pattern[str]:
    """Compile a grant glob; ``*`` never crosses ``/`` (when *segmented*) nor a request's ``**``."""
    if segmented:
        if pattern == "/":
            return re.compile("/")
        out: list[str] = []
        for segment in pattern.split("/")[1:]:
            if segment == "**":
                out.append("(?:/.*)?")  # any number of whole segments, including none
            else:
                # a segment is never empty in a normalised path: "/*" does not match "/"
                body = "[^/\x00]*".join(re.escape(part) for part in segment.split("*"))
                out.append("/(?=[^/\x00])" + body)
        return re.compile("".join(out), re.DOTALL)
    return re.compile("[^\x00]*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _check_path_glob(text: str, kind: str) -> None:
    if not text.startswith("/"):
        raise PermissionFormatError(f"{kind} scope must be an absolute path, got {text[:80]!r}")
    if text != "/":
        for segment in text[1:].split("/"):
            if segment in ("", ".", ".."):
                raise PermissionFormatError(f"{kind} scope {text[:80]!r} has an empty, '.' or '..' segment")
            if "**" in segment and segment != "**":
                raise PermissionFormatError(f"{kind} scope {text[:80]!r}: '**' must be a whole segment")
    if any(c in text for c in "?[]\x00\\"):
        raise PermissionFormatError(f"{kind} scope {text[:80]!r} contains a character that is not allowed")


def _split_host(text: str) -> tuple[str, str]:
    """Split ``HOST[:PORT]`` (``HOST`` may be a bracketed IPv6 address); no validation."""
    if text.startswith("["):
        host, sep, rest = text.partition("]")
        if not sep:
            return text, ""
        return host + "]", rest[1:] if rest.startswith(":") else rest
    host, _, port = text.partition(":")
    return host, port


def _check_host(text: str, kind: str) -> None:
    host, port = _split_host(text)
    if text.startswith("[") and port == "" and not text.endswith("]"):
        raise PermissionFormatError(f"{kind} host {text[:80]!r} is malformed")
    if (port or text.endswith(":")) and (
        not port.isascii() or not port.isdigit() or port != str(int(port)) or not 0 < int(port) < 65536
    ):
        raise PermissionFormatError(f"{kind} port must be 1-65535, got {port[:80]!r}")
    if _canonical_host(host) != host:
        raise PermissionFormatError(f"{kind} host {host[:80]!r} is not a canonical host name or address")


def _canonical_host(host: str) -> str | None:
    """Return the canonical spelling of a grant or request host (``None``: not a valid host)."""
    if host == "*":
        return host
    if host.startswith("[") and host.endswith("]"):
        try:
            addr = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
        return f"[{addr.compressed}]" if addr.scope_id is None else None
    labels = host.split(".")
    if labels[0] == "*":
        labels = labels[1:]
        if not labels:
            return None
    if not all(_host_label_re().fullmatch(label) for label in labels):
        return None
    if all(label.isdigit() for label in labels) or labels[-1].isdigit():
        # numeric names are addresses to the resolver: only canonical dotted quads are allowed
        try:
            return host if str(ipaddress.IPv4Address(host)) == host else None
        except ValueError:
            return None
    return host


def _normalise_concrete_host(value: str) -> tuple[str, str] | None:
    """Normalise a concrete ``host[:port]``; ``None`` if it is ambiguous or malformed."""
    host, port = _split_host(value)
    if port and (not port.isascii() or not port.isdigit() or not 0 <= int(port) < 65536):
        return None
    if port:
        port = str(int(port))
    if host.startswith("[") and host.endswith("]"):
        try:
            addr = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
        if addr.ipv4_mapped is not None:
            return str(addr.ipv4_mapped), port
        return f"[{addr.compressed}]", port
    host = host.lower()
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    if host == "*" or host.startswith("*.") or _canonical_host(host) != host:
        return None
    return host, port


@final
@value_model
@attrs.frozen(order=False, repr=False, eq=False)
class Permission:
    """One permission, ``kind`` plus an optional ``scope``. Build it with :meth:`parse`."""

    kind: str
    scope: str | None = None

    @classmethod
    def parse(cls, text: str) -> Permission:
        """Parse ``KIND`` or ``KIND:SCOPE``.

        Raises:
            TypeError: *text* is not a :class:`str`.
            PermissionFormatError: the text does not follow the grammar (see the module
                documentation).
        """
        if not isinstance(text, str):
            raise TypeError(f"permission must be a str, not {type(text).__name__}")
        return _parse_cached(text)

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
        if self.kind in _HOST_KINDS:
            return _host_covers(self.scope, request.scope)
        segmented = self.kind in _PATH_KINDS
        subject = request.scope.replace("**", _DSTAR) if segmented else request.scope
        return _glob_regex(self.scope, segmented=segmented).fullmatch(subject) is not None

    def matches(self, value: str) -> bool:
        """Return whether this permission allows the concrete *value* (path, ``host:port``, name).

        Paths must be absolute and normalised (resolve symlinks first); any other path is refused.
        Characters such as ``*`` in a value are literal characters, never wildcards.
        """
        if not isinstance(value, str) or "\x00" in value or not value:
            return False
        if self.kind in _PATH_KINDS:
            if not value.startswith("/") or posixpath.normpath(value) != value or value.startswith("//"):
                return False
        elif self.kind in _HOST_KINDS:
            concrete = _normalise_concrete_host(value)
            if concrete is None:
                return False
            if self.scope is None:
                return True
            return _host_matches(self.scope, *concrete)
        if self.scope is None:
            return True
        segmented = self.kind in _PATH_KINDS
        return _glob_regex(self.scope, segmented=segmented).fullmatch(value) is not None


@functools.lru_cache(maxsize=4096)
def _parse_cached(text: str) -> Permission:
    if not text or len(text) > _MAX_LEN or text != text.strip():
        raise PermissionFormatError(f"invalid permission {text[:80]!r}")
    kind, sep, scope = text.partition(":")
    if not _kind_re().fullmatch(kind):
        raise PermissionFormatError(f"invalid permission kind {kind[:80]!r}")
    if sep and not scope:
        raise PermissionFormatError(f"permission {text[:80]!r} has an empty scope")
    if not sep:
        if kind in _SCOPE_REQUIRED:
            raise PermissionFormatError(f"{kind} requires a scope ({kind}:...)")
        return Permission(kind)
    if kind in _SCOPE_FORBIDDEN:
        raise PermissionFormatError(f"{kind} takes no scope")
    if kind in _PATH_KINDS:
        _check_path_glob(scope, kind)
    elif kind in _HOST_KINDS:
        _check_host(scope, kind)
    elif kind in _NAME_KINDS:
        if not _env_re().fullmatch(scope):
            raise PermissionFormatError(f"{kind} scope {scope[:80]!r} is not a variable-name glob")
    elif not _custom_scope_re().fullmatch(scope) or "**" in scope:
        raise PermissionFormatError(f"scope {scope[:80]!r} of {kind} contains a character that is not allowed")
    return Permission(kind, scope)


def _suggestion(kind: str) -> str | None:
    """Return the built-in kind that *kind* most probably means, if any."""
    alias = _ALIASES.get(kind) or _ALIASES.get(kind.rpartition(".")[2])
    import difflib  # noqa: PLC0415 - only a mistake pays for it

    close = difflib.get_close_matches(kind, sorted(BUILTIN_KINDS), n=1, cutoff=0.6)
    if close:
        return close[0]
    namespace = kind.partition(".")[0]
    if alias is None and namespace in _RESERVED_NAMESPACES:
        return min(k for k in BUILTIN_KINDS if k.startswith(namespace + "."))
    return alias


def check_kind(permission: Permission | str) -> Permission:
    """Refuse a permission whose kind cannot be meant; return it parsed.

    A built-in kind passes, and so does a host-defined kind with a namespace outside the built-in ones
    (``db.write``). Refused: an unknown kind in a built-in namespace (``fs.raed``, ``net.listen``) and a kind
    without a namespace (``network``), with the built-in kind that was probably meant.

    Raises:
        TypeError: *permission* is neither a :class:`Permission` nor a :class:`str`.
        PermissionFormatError: the text is malformed, or its kind is refused (the message suggests a kind).
    """
    if isinstance(permission, Permission):
        kind, scope = permission.kind, permission.scope
    elif isinstance(permission, str):
        kind, sep, rest = permission.partition(":")
        scope = rest if sep else None
    else:
        raise TypeError(f"permission must be a Permission or a str, not {type(permission).__name__}")
    namespace, dot, _ = kind.partition(".")
    if kind in BUILTIN_KINDS or not _kind_re().fullmatch(kind) or (dot and namespace not in _RESERVED_NAMESPACES):
        # the kind first, so that "fs.raed:/srv/**" is a typo and not a scope that a host-defined kind cannot have
        return permission if isinstance(permission, Permission) else Permission.parse(permission)
    suggestion = _suggestion(kind)
    hint = ""
    if suggestion is not None:
        keep_scope = scope is not None and suggestion != "sys.native"
        scoped = f"{suggestion}:{scope}" if keep_scope else suggestion
        hint = f"; did you mean {scoped!r}?"
    if dot:
        siblings = ", ".join(sorted(k for k in BUILTIN_KINDS if k.startswith(namespace + ".")))
        problem = f"unknown permission kind {kind!r}: the {namespace}.* kinds are {siblings}"
    else:
        problem = (
            f"unknown permission kind {kind!r}: the built-in kinds are {', '.join(sorted(BUILTIN_KINDS))}, and a "
            "host-defined kind has a namespace (db.write)"
        )
    raise PermissionFormatError(problem + hint)


def _host_matches(grant: str, host: str, port: str) -> bool:
    grant_host, grant_port = _split_host(grant)
    if grant_port and port and grant_port != port:
        return False
    if grant_host == "*":
        return True
    if grant_host.startswith("*."):
        suffix = grant_host[1:]
        return not host.startswith("[") and host.endswith(suffix) and len(host) > len(suffix)
    return grant_host == host


def _host_covers(grant: str, request: str) -> bool:
    grant_host, grant_port = _split_host(grant)
    request_host, request_port = _split_host(request)
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


def _frozen(items: Iterable[Permission]) -> frozenset[Permission]:
    return frozenset(items)


@final
@value_model
@attrs.frozen(repr=False, eq=False)
class PermissionSet:
    """An immutable set of permissions with coverage queries."""

    permissions: frozenset[Permission] = attrs.field(factory=frozenset, converter=_frozen)
    _by_kind: dict[str, tuple[Permission, ...]] = attrs.field(init=False, eq=False, repr=False, hash=False)

    def __attrs_post_init__(self) -> None:
        by_kind: dict[str, list[Permission]] = {}
        for p in sorted(self.permissions, key=str):
            by_kind.setdefault(p.kind, []).append(p)
        object.__setattr__(self, "_by_kind", {k: tuple(v) for k, v in by_kind.items()})

    @classmethod
    def parse(cls, texts: Iterable[str]) -> PermissionSet:
        """Parse every string in *texts*.

        Raises:
            TypeError: *texts* is a single string, or holds something that is not a string.
            PermissionFormatError: one of the strings is not a valid permission.
        """
        if isinstance(texts, str):
            raise TypeError("PermissionSet.parse() takes an iterable of strings, not one string")
        parsed = frozenset(Permission.parse(t) for t in texts)
        return cls(parsed) if parsed else NO_PERMISSIONS

    def __iter__(self) -> Iterator[Permission]:
        return iter(sorted(self.permissions, key=str))

    def __len__(self) -> int:
        return len(self.permissions)

    def __contains__(self, item: object) -> bool:
        return item in self.permissions

    def covers(self, request: Permission) -> bool:
        """Return whether some permission in this set covers *request*."""
        return any(p.covers(request) for p in self._by_kind.get(request.kind, ()))

    def missing(self, requests: Iterable[Permission]) -> PermissionSet:
        """Return the permissions among *requests* that this set does not cover."""
        missing = frozenset(r for r in requests if not self.covers(r))
        return PermissionSet(missing) if missing else NO_PERMISSIONS

    def allows(self, kind: str, value: str | None = None) -> bool:
        """Return whether a permission of *kind* allows *value* (``None``: an unscoped use)."""
        for p in self._by_kind.get(kind, ()):
            if value is None:
                if p.scope is None:
                    return True
            elif p.matches(value):
                return True
        return False

    def restrict(self, *grants: PermissionSet) -> PermissionSet:
        """Return the permissions of this (requested) set that every one of *grants* covers."""
        if not self.permissions:
            return self
        kept = frozenset(p for p in self.permissions if all(g.covers(p) for g in grants))
        return PermissionSet(kept) if kept else NO_PERMISSIONS

    def strings(self) -> tuple[str, ...]:
        """Return the permissions as sorted strings."""
        return tuple(str(p) for p in self)


#: The empty set, shared: a :class:`PermissionSet` is immutable, and most plugins request nothing.
NO_PERMISSIONS: Final = PermissionSet()
