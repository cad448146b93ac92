"""The one URL policy of a crawl: which URLs and addresses memoryhole may connect to.

Only the configured schemes (``SAFETY_ALLOWED_SCHEMES``, http and https), only URLs with a host,
and no private, loopback, link-local, reserved or shared address unless
``SAFETY_ALLOW_PRIVATE_ADDRESSES`` (``allow_private_addresses`` in ``[crawl]``) allows them.
Every path applies this one :class:`UrlPolicy`:

- Scrapy: the guard middleware (crawlers.middlewares.guard) refuses the URL before it is sent,
  redirect hops included; the DNS resolver (crawlers.resolver) drops every address a host name
  resolves to that the policy refuses, so the check is on the address actually connected to;
- the fast path (crawlers.fastpath.client): the same URL check before each GET, and the same
  address check on every address its resolver returns;
- the browser: every connection Chromium makes goes through a proxy in the crawl process
  (crawlers.browser.proxy) that applies the URL check and resolves the name itself, connecting to
  an address the check allowed (through a vantage, a guard proxy chained to the vantage's proxy
  applies the URL check, and the name resolves at the vantage); the recorder's route guard
  refuses the URL before it is sent.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from twisted.internet.error import DNSLookupError

FIX = "allow_private_addresses = true in [crawl] of memoryhole.toml allows private addresses"


class BlockedAddress(DNSLookupError):
    """A host resolved only to addresses memoryhole refuses to connect to."""


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")             # RFC 6052: IPv4 in the low bits
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")      # RFC 8215: a local translator


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to: IPv4-mapped, 6to4, NAT64, Teredo's client or
    IPv4-compatible (``::a.b.c.d``); None for a plain IPv6 address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or int(ip) >> 32 == 0:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address: not private, loopback, link-local,
    multicast, reserved, unspecified or shared (CGNAT), nor an IPv6 address that leads to such
    an IPv4 one (IPv4-mapped, 6to4, NAT64, Teredo, IPv4-compatible) or to a local NAT64."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


def literal_address(host: str) -> str | None:
    """The host itself when it is an IP literal (``[::1]`` brackets removed), else None."""
    candidate = host.strip("[]")
    try:
        ipaddress.ip_address(candidate.split("%", 1)[0])
    except ValueError:
        return None
    return candidate


@dataclass(frozen=True)
class Refusal:
    """Why a URL is refused: ``reason`` for counters (``scheme``, ``no_host``,
    ``private_address``), ``why`` for people."""

    reason: str
    why: str


@dataclass(frozen=True)
class UrlPolicy:
    schemes: frozenset[str] = frozenset({"http", "https"})
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: Any) -> UrlPolicy:
        """The policy of a crawl, from its Scrapy settings."""
        return cls(frozenset(s.lower() for s in settings.getlist("SAFETY_ALLOWED_SCHEMES")),
                   settings.getbool("SAFETY_ALLOW_PRIVATE_ADDRESSES"))

    def refusal(self, url: str) -> Refusal | None:
        """What refuses ``url`` before any lookup (its scheme, a missing host, a loopback name,
        an IP literal the policy refuses); None when it may go out."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in self.schemes:
            return Refusal("scheme", f"scheme {parts.scheme!r} is not allowed")
        try:
            host = (parts.hostname or "").lower()
        except ValueError:
            host = ""
        if not host:
            return Refusal("no_host", "URL has no host")
        if self.allow_private:
            return None
        if host == "localhost" or host.endswith(".localhost"):
            return Refusal("private_address", f"{host} is a loopback name")
        literal = literal_address(host)
        if literal is not None and not is_public_address(literal):
            return Refusal("private_address", f"{literal} is not a public address")
        return None

    def address_allowed(self, address: str) -> bool:
        """Whether a connection to ``address`` (an IP) may be made."""
        return self.allow_private or is_public_address(address)
