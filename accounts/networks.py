"""Where an API key may be used from: its networks, and the client address of a request.

A key's ``allowed_networks`` is a list of CIDRs, IPv4 or IPv6 ("203.0.113.0/24",
"2001:db8::/32"; a bare address is its own /32 or /128); empty: anywhere. A call from
outside them is a 403 naming the client address (``NetworkDenied``).

The client address is ``REMOTE_ADDR``. Behind a reverse proxy that is the proxy's, so
``X-Forwarded-For`` is read only when ``API_TRUSTED_PROXIES`` (CIDRs) covers the peer:
the client is then the rightmost address of the header that is not a trusted proxy (the
ones to its left are whatever the client chose to send, and prove nothing). Without that
setting the header is ignored: anyone could write it.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from rest_framework import exceptions, status

from softafrik.errors import DomainError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_NETWORKS = 100  # a key's list is checked on every call: a short list, not a firewall


class NetworkDenied(DomainError, exceptions.PermissionDenied):
    """A 403: the call comes from outside the key's networks. A DomainError, so each
    dialect's exception handler shapes it with its message (as ``ScopeDenied``)."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "forbidden"


def networks_clean(values: Iterable[str]) -> list[str]:
    """``values`` as normalized CIDRs ("10.1.2.3/8" -> "10.0.0.0/8", "2001:DB8::1" ->
    "2001:db8::1/128"), without duplicates, in the given order. Raises ValueError naming
    the first entry that is not an IPv4 or IPv6 network."""
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValueError("Expected a list of networks in CIDR notation (e.g. 203.0.113.0/24, 2001:db8::/32).")
    cleaned: list[str] = []
    for value in values:
        text = str(value).strip()
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(
                f"{text!r} is not an IP network in CIDR notation (e.g. 203.0.113.0/24, 2001:db8::/32)."
            ) from None
        if str(network) not in cleaned:
            cleaned.append(str(network))
    if len(cleaned) > MAX_NETWORKS:
        raise ValueError(f"At most {MAX_NETWORKS} networks per key.")
    return cleaned


def validate_networks(value) -> None:
    """Model and form validator of ``ApiKey.allowed_networks``."""
    try:
        networks_clean(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid") from exc


@functools.lru_cache(maxsize=1024)
def _parsed(networks: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(network, strict=False) for network in networks)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client of a dual-stack socket reads "::ffff:203.0.113.5": match it as IPv4.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def _in(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(request) -> str:
    """The caller's address: REMOTE_ADDR, or the client a trusted proxy forwarded for
    (see the module's docstring). "" when there is none (a test client without one)."""
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = _parsed(tuple(settings.API_TRUSTED_PROXIES))
    peer = _address(remote)
    if not trusted or peer is None or not _in(peer, trusted):
        return str(peer) if peer is not None else remote
    forwarded = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    for hop in reversed(forwarded):
        address = _address(hop)
        if address is None:
            return str(peer)  # a garbled hop: trust nothing to its left
        if not _in(address, trusted):
            return str(address)
    return str(_address(forwarded[0])) if forwarded else str(peer)  # every hop a proxy of ours


def network_check(*, allowed_networks: list[str], request) -> None:
    """Raise NetworkDenied unless the request comes from one of ``allowed_networks``
    (empty: anywhere)."""
    if not allowed_networks:
        return
    client = client_address(request)
    address = _address(client)
    if address is None or not _in(address, _parsed(tuple(allowed_networks))):
        raise NetworkDenied(
            f"This API key is limited to the networks {', '.join(allowed_networks)}; "
            f"this call comes from {client or 'an unknown address'}."
        )
