"""Host names: which a server answers to, and which name this machine.

The server refuses requests whose ``Host`` is not one of its names (api.origin), and the
CLI sends its API key only to a server on this machine (rag.server_file).
"""

from __future__ import annotations

import ipaddress
import socket

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def host_name(host: str) -> str:
    """The name of a ``Host`` header value or a url's host: lower case, without port, IPv6 brackets or final dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":")[0]  # name:port (a bare IPv6 address has several colons)
    return host.rstrip(".")


def is_loopback(name: str) -> bool:
    """Whether ``name`` (as :func:`host_name` gives it) is this machine's loopback: localhost, *.localhost
    (RFC 6761: never looked up in DNS), 127.0.0.0/8 or ::1."""
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_this_machine(name: str) -> bool:
    """Whether ``name`` is the loopback or an address of one of this machine's interfaces.

    Other names are not looked up: DNS may answer anything, so only an address proves itself,
    by letting a socket bind to it.
    """
    if is_loopback(name):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if address.is_unspecified or address.is_multicast:
        return False
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.bind((str(address), 0))
    except OSError:
        return False
    return True
