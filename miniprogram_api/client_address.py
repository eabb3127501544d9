"""Who a request comes from: the peer, or behind trusted reverse proxies the client their X-Forwarded-For names."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

from litestar.types import Scope

from backend.settings import Networks

UNKNOWN = "unknown"
"""The address of a request without a peer (the ASGI server did not say)."""

Address = IPv4Address | IPv6Address


def client_address(scope: Scope, trusted_proxies: Networks) -> str:
    """The address a request comes from. From a trusted proxy, X-Forwarded-For is read from the right (each proxy
    appends the address it was reached from) past the trusted hops, and the first untrusted one is the client, as
    nginx's realip with `real_ip_recursive on` and Werkzeug's ProxyFix do; the hops left of it are the client's own
    word, which anyone can forge. An entry that is not an address ends the walk at the last trusted hop. From
    anyone else the header is ignored. Never raises: the header is whatever the caller sent."""
    peer = scope.get("client")
    if not peer or not peer[0]:
        return UNKNOWN
    address = _address(peer[0])
    if address is None:  # not an IP (a test client's name, a Unix socket): nothing to trust or compare
        return peer[0]
    if not _trusted(address, trusted_proxies):
        return str(address)
    for hop in reversed(_forwarded_for(scope)):
        hop_address = _address(hop)
        if hop_address is None:
            break
        address = hop_address
        if not _trusted(address, trusted_proxies):
            break
    return str(address)


def _forwarded_for(scope: Scope) -> list[str]:
    # Several X-Forwarded-For headers are one list, in order (RFC 9110, 5.3).
    values = (value.decode("latin-1") for name, value in scope["headers"] if name.lower() == b"x-forwarded-for")
    return [hop.strip() for value in values for hop in value.split(",")]


def _address(text: str) -> Address | None:
    try:
        address = ip_address(text)
    except ValueError:
        return None
    # A dual-stack listener reports an IPv4 peer as ::ffff:a.b.c.d; it is the IPv4 address to networks and budgets.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, trusted_proxies: Networks) -> bool:
    return any(address in network for network in trusted_proxies)
