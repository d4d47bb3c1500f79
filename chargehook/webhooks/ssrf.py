"""The SSRF guard: chargehook calls only public addresses with subscribers' URLs.

Subscriber URLs come from API users, so without a guard they could make chargehook call its
own admin port, the database, the cloud metadata service or anything else on the private
network (server-side request forgery). A check when the subscription is created is not enough:
a name can resolve to a public address then and to 127.0.0.1 a second later (DNS rebinding).
So the URL is checked at creation and again before each delivery attempt (`check_url`), and
the addresses a delivery actually connects to are checked at connect time (`GuardedResolver`),
which leaves no window between the check and the connection.

`allow_private` (the `allow_private_urls` setting) switches the address checks off, for
development and for deployments that deliver inside their own network.
"""

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Iterable
from typing import NamedTuple

import aiohttp
import aiohttp.abc
from aiohttp.resolver import DefaultResolver
from yarl import URL

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = frozenset({"http", "https"})
METADATA = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeUrl(Exception):
    """The URL must not be called: the reason says why (shown to API users)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ForbiddenAddress(OSError):
    """A delivery's host resolved to a forbidden address; an OSError so aiohttp reports a
    connection error (ClientConnectorError) like for any other unreachable host."""


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and is routed to, if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def forbidden_reason(address: Address) -> str | None:
    """Pure: why chargehook must not call this address, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        address = embedded_ipv4(address) or address
    if address in METADATA:
        return "metadata"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address in SHARED:
        return "shared"
    if address.is_reserved:
        return "reserved"
    # Site-local (fec0::/10) is deprecated but still routed by some stacks; ipaddress calls it
    # global.
    site_local = isinstance(address, ipaddress.IPv6Address) and address.is_site_local
    if address.is_private or site_local:
        return "private"
    return None if address.is_global else "reserved"


def refusal(host: str, addresses: Iterable[Address]) -> str | None:
    """Why a connection to `host` at these addresses is refused, or None when all are public."""
    for address in addresses:
        reason = forbidden_reason(address)
        if reason is None:
            continue
        article = "an" if reason[0] in "aeiou" else "a"
        where = "is" if str(address) == host else f"resolves to {address},"
        return (
            f"url host {host} {where} {article} {reason} address; private URLs are not allowed"
            " (set CHARGEHOOK_ALLOW_PRIVATE_URLS=true to allow them, e.g. for a local receiver)"
        )
    return None


def literal_ip(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class Target(NamedTuple):
    host: str  # as written, decoded: what ipaddress parses
    lookup: str  # IDNA-encoded: what getaddrinfo resolves
    port: int | None


def parse(url: str) -> Target:
    try:
        parsed = URL(url)
    except (ValueError, TypeError) as exc:
        raise UnsafeUrl(f"url is not valid: {exc}") from exc
    if parsed.scheme not in SCHEMES:
        raise UnsafeUrl(f"url scheme must be http or https, not {parsed.scheme or 'missing'!r}")
    if not parsed.host or not parsed.raw_host:
        raise UnsafeUrl("url has no host")
    return Target(parsed.host, parsed.raw_host, parsed.port)


async def resolve(host: str, port: int | None) -> list[Address]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"url host {host} does not resolve") from exc
    if not infos:
        raise UnsafeUrl(f"url host {host} does not resolve")
    return [ipaddress.ip_address(sockaddr[0]) for *_, sockaddr in infos]


async def check_url(url: str, allow_private: bool) -> None:
    """Raise UnsafeUrl unless `url` is http(s) with a host and, unless `allow_private`, every
    address its host resolves to is public. Literal IPs are judged without DNS."""
    target = parse(url)
    if allow_private:
        return
    literal = literal_ip(target.host)
    if literal is not None:
        host, addresses = str(literal), [literal]
    else:
        host, addresses = target.lookup, await resolve(target.lookup, target.port)
    problem = refusal(host, addresses)
    if problem is not None:
        raise UnsafeUrl(problem)


class GuardedResolver(aiohttp.abc.AbstractResolver):
    """aiohttp's DefaultResolver, refusing hosts that resolve to any forbidden address.

    The addresses checked are the ones aiohttp connects to, so DNS rebinding between a
    `check_url` and the connection cannot slip a private address through.
    """

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self._inner: aiohttp.abc.AbstractResolver | None = None

    def inner(self) -> aiohttp.abc.AbstractResolver:
        # Made on first use: DefaultResolver needs the running loop, the constructor does not.
        if self._inner is None:
            self._inner = DefaultResolver()
        return self._inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[aiohttp.abc.ResolveResult]:
        results = await self.inner().resolve(host, port, family)
        if not self.allow_private:
            problem = refusal(host, (ipaddress.ip_address(r["host"]) for r in results))
            if problem is not None:
                raise ForbiddenAddress(errno.EACCES, problem)
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


def guarded_connector(allow_private: bool) -> aiohttp.TCPConnector:
    """A TCPConnector whose every name lookup goes through GuardedResolver.

    aiohttp skips the resolver for literal-IP hosts, so callers must ALSO `await check_url`
    before each attempt, and must not follow redirects (allow_redirects=False): a redirect
    to a literal IP would bypass both guards. The connector does not own the resolver and
    never closes it; DefaultResolver holds nothing to close unless aiodns is installed.
    """
    return aiohttp.TCPConnector(resolver=GuardedResolver(allow_private))
