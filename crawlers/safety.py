"""Which addresses a crawl may connect to: public ones only, unless the config allows more."""

from __future__ import annotations

import ipaddress

from twisted.internet.error import DNSLookupError


class BlockedAddress(DNSLookupError):
    """A host resolved only to addresses memoryhole refuses to connect to."""


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (not private, loopback, link-local,
    multicast, reserved, unspecified, shared (CGNAT) or a 6to4/IPv4-mapped private one)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def literal_address(host: str) -> str | None:
    """The host itself when it is an IP literal (``[::1]`` brackets removed), else None."""
    candidate = host.strip("[]")
    try:
        ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        return None
    return candidate
