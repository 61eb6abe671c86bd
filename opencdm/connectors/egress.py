"""The operator's egress allow-list (``OPENCDM_LINK_EGRESS_ALLOW``): which hosts links may reach.

Without a list, links connect anywhere (and a link check's messages can tell an open port from a
closed one, so a user can probe the server's network). With a list, a link's host must match an
allowed host name (``db.example.com``, ``*.example.com``) or resolve, every address of it, into an
allowed network (``10.0.0.0/8``, ``192.0.2.7``). Nothing is connected before the check, and a
refusal reads the same whether anything listens there or not. For network entries the driver then
connects to the address that was checked, so a DNS answer that changes in between (rebinding)
cannot redirect it.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket

from opencdm.connectors.base import ConnectorContext
from opencdm.errors import InvalidInput


def address(host: str, port: int, ctx: ConnectorContext, name: str = "linkConfig.host") -> str:
    """The address to connect to for ``host``: ``host`` itself without an allow-list or when a
    host-name entry allows it, else its checked IP address; InvalidInput when it is not allowed."""
    if not ctx.egress:
        return host
    names = [e.lower() for e in ctx.egress if not _network(e)]
    if any(fnmatch.fnmatchcase(host.lower().rstrip("."), pattern) for pattern in names):
        return host
    networks = [n for n in (_network(e) for e in ctx.egress) if n is not None]
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        found = set()
    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in sorted(found)]
    if not addresses or not all(any(a in net for net in networks) for a in addresses):
        raise InvalidInput(f"{name} [{host}] is not among the hosts and networks this server lets links reach "
                           "(OPENCDM_LINK_EGRESS_ALLOW).", code="Cdm.0014")
    return str(addresses[0])


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry.strip(), strict=False)
    except ValueError:
        return None
