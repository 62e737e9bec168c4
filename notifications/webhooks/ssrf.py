"""The SSRF guard: webhook URLs may only reach public addresses.

A URL is refused when its host is, or resolves to, an address that is not globally
routable (private, loopback, link-local, carrier-grade NAT, multicast, reserved,
unspecified; IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry).
It is checked when an endpoint is saved (``url_refusal``) and again on every new
connection (``transport``), against the DNS answers that connection then uses, so a
name that changes its answers after it was saved gains nothing. The setting
``WEBHOOK_ALLOW_PRIVATE_URLS`` turns the guard off (local receivers, tests).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(Exception):
    """The host is, or resolves to, an address webhooks may not reach."""


def guard_enabled() -> bool:
    return not settings.WEBHOOK_ALLOW_PRIVATE_URLS


def address_allowed(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses ``host`` resolves to, in the resolver's order (the one seam tests
    replace to make a name resolve somewhere). Raises OSError when it does not resolve."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in answers:
        seen[ipaddress.ip_address(sockaddr[0].split("%", 1)[0])] = None
    return list(seen)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def addresses_checked(host: str, port: int) -> list[IPAddress]:
    """The addresses a connection to ``host`` may use. Raises BlockedAddress when the host
    or any of its DNS answers is not public (one private answer among public ones is how
    a rebinding attack looks), OSError when the name does not resolve."""
    literal = _literal(host)
    addresses = [literal] if literal is not None else resolve(host, port)
    if not addresses:
        raise OSError(f"{host} has no address")
    if guard_enabled():
        refused = [a for a in addresses if not address_allowed(a)]
        if refused:
            raise BlockedAddress(f"{host} resolves to {refused[0]}, which is not a public address")
    return addresses


def url_refusal(url: str) -> str | None:
    """Why ``url`` may not be a webhook URL, or None when it may."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "Only http and https URLs are allowed."
    host = parts.hostname
    if not host:
        return "The URL has no host."
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "The URL's port is not a number between 0 and 65535."
    if not guard_enabled():
        return None
    try:
        addresses_checked(host, port)
    except BlockedAddress:
        return "Webhook URLs may not point at private, loopback or link-local addresses."
    except (OSError, UnicodeError):
        return f"The host {host} does not resolve."
    return None
