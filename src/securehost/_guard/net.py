"""Network checks of the guard: connections, binds, name look-ups, and remembered resolutions.

A grant names hosts, a connection names an address. The guard wraps ``_socket.getaddrinfo`` and
remembers which names resolved to which addresses (the last 4096 addresses); a connection to an
address is allowed when a grant names the address or a name that resolved to it. Look-ups of
address literals are not look-ups and pass; the connection is checked. Unix-domain sockets are
judged as files (``fs.write``), abstract ones and unknown address families are denied.
"""

from __future__ import annotations

import _socket
import ipaddress
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final

from securehost._guard.paths import check_path, deny, resolve

if TYPE_CHECKING:
    from securehost._context import PluginContext

__all__ = ["on_bind", "on_connect", "on_lookup", "on_reverse_lookup", "record_resolution"]

_MAX_RESOLVED: Final = 4096
_resolved: OrderedDict[str, frozenset[str]] = OrderedDict()
_resolved_lock = threading.Lock()


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


def _check_address(context: PluginContext, kind: str, address: object, event: str, sock: object = None) -> None:
    if isinstance(address, (str, bytes)) and getattr(sock, "family", None) == getattr(_socket, "AF_UNIX", object()):
        path = os.fsdecode(address)
        if not path or path.startswith("\x00"):
            deny(context, f"{kind}:(abstract unix socket)", event)
        check_path(context, "fs.write", resolve(path), event)
        return
    if not (isinstance(address, tuple) and len(address) >= 2 and isinstance(address[0], (str, bytes))):
        deny(context, f"{kind}:{address!r}"[:200], f"{event}: unsupported address")
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
            if context.permissions.allows(kind, f"{name}:{port}" if isinstance(port, int) else name):
                return
    deny(context, f"{kind}:{value}", event)


def on_connect(context: PluginContext, args: tuple[Any, ...]) -> None:
    if len(args) > 1 and args[1] is not None:
        _check_address(context, "net.connect", args[1], "socket.connect", args[0])


def on_bind(context: PluginContext, args: tuple[Any, ...]) -> None:
    _check_address(context, "net.bind", args[1], "socket.bind", args[0])


def on_lookup(context: PluginContext, args: tuple[Any, ...]) -> None:
    host = args[0] if args else None
    if host is None:
        return
    if not isinstance(host, (str, bytes)):
        deny(context, "net.connect", "name look-up of a non-string host")
        return
    port = args[1] if len(args) > 1 else None
    if _normal_ip(os.fsdecode(host)) is not None:
        return  # an address literal: no name is looked up; the connection itself is checked
    value = _host_value(os.fsdecode(host), port)
    allows = context.permissions.allows
    if allows("net.connect", value) or allows("net.bind", value):
        return
    deny(context, f"net.connect:{value}", "name look-up")


def on_reverse_lookup(context: PluginContext, args: tuple[Any, ...]) -> None:
    target = args[0]
    host = target[0] if isinstance(target, tuple) and target else target
    on_lookup(context, (host,))
