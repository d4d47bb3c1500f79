"""The SSRF guard. Connections go to 127.0.0.1 only; public addresses appear in pure checks."""

import asyncio
import ipaddress
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from chargehook.webhooks.ssrf import UnsafeUrl, check_url, forbidden_reason, guarded_connector

REASONS = [
    ("127.0.0.1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("169.254.1.1", "link-local"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fd00::1", "private"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("2002:7f00:1::1", "loopback"),  # 6to4 around 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address judged, never bound
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("100.64.0.1", "shared"),
    ("240.0.0.1", "reserved"),
    ("93.184.216.34", None),
    ("8.8.8.8", None),
    ("2606:4700::1111", None),
    ("::ffff:8.8.8.8", None),
]


@pytest.mark.parametrize(("address", "reason"), REASONS)
def test_forbidden_reason(address: str, reason: str | None) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/x", "url host 127.0.0.1 is a loopback address"),
        ("http://10.0.0.1/x", "url host 10.0.0.1 is a private address"),
        ("http://169.254.169.254/latest", "is a metadata address"),
        ("http://[::1]:8080/x", "url host ::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/x", "is a loopback address"),
        ("http://0.0.0.0/x", "is an unspecified address"),
        ("http://localhost:9/x", "url host localhost resolves to 127.0.0.1, a loopback address"),
        ("http://2130706433/x", "resolves to 127.0.0.1, a loopback address"),  # decimal form
        ("ftp://example.com/", "scheme"),
        ("not a url", "scheme"),
        ("http:///x", "no host"),
    ],
)
async def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        await check_url(url, allow_private=False)
    assert reason in refused.value.reason and reason in str(refused.value)


async def test_address_refusals_say_private_urls_are_not_allowed_and_how_to_allow_them() -> None:
    with pytest.raises(UnsafeUrl) as refused:
        await check_url("http://10.0.0.1/x", allow_private=False)
    assert refused.value.reason == (
        "url host 10.0.0.1 is a private address; private URLs are not allowed"
        " (set CHARGEHOOK_ALLOW_PRIVATE_URLS=true to allow them, e.g. for a local receiver)"
    )


async def test_check_url_accepts_a_public_literal_without_dns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    refuse_dns(monkeypatch)
    await check_url("http://93.184.216.34/hook", allow_private=False)
    await check_url("https://[2606:4700::1111]/hook", allow_private=False)


async def test_allow_private_skips_the_address_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_dns(monkeypatch)
    await check_url("http://127.0.0.1/x", allow_private=True)
    await check_url("http://anything.internal/x", allow_private=True)
    with pytest.raises(UnsafeUrl, match="scheme"):
        await check_url("file:///etc/passwd", allow_private=True)


async def test_any_private_address_among_the_resolved_ones_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, ["93.184.216.34", "10.1.2.3"])
    with pytest.raises(UnsafeUrl, match=re.escape("resolves to 10.1.2.3, a private address")):
        await check_url("https://hooks.example.com/x", allow_private=False)


async def test_a_name_resolving_only_to_public_addresses_passes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_dns(monkeypatch, ["93.184.216.34", "2606:4700::1111"])
    await check_url("https://hooks.example.com/x", allow_private=False)


async def test_an_unresolvable_name_is_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    refuse_dns(monkeypatch)
    with pytest.raises(UnsafeUrl, match=re.escape("host hooks.example.com does not resolve")):
        await check_url("https://hooks.example.com/x", allow_private=False)


async def test_guarded_connector_refuses_loopback_names() -> None:
    async with serve() as port, aiohttp.ClientSession(connector=guarded_connector(False)) as s:
        with pytest.raises(aiohttp.ClientConnectorError) as refused:
            await s.get(f"http://localhost:{port}/")
    assert "loopback address" in str(refused.value)


async def test_guarded_connector_allows_private_when_told() -> None:
    async with serve() as port, aiohttp.ClientSession(connector=guarded_connector(True)) as s:
        async with s.get(f"http://localhost:{port}/") as response:
            assert response.status == 200
            assert await response.text() == "ok"


@asynccontextmanager
async def serve() -> AsyncIterator[int]:
    """An aiohttp server on 127.0.0.1 answering "ok"; yields its port."""

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", ok)
    async with TestServer(app, host="127.0.0.1") as server:
        assert server.port is not None
        yield server.port


def refuse_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    async def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "no DNS in this test")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)


def fake_dns(monkeypatch: pytest.MonkeyPatch, addresses: list[str]) -> None:
    async def getaddrinfo(host: str, port: int | None, **kwargs: Any) -> Any:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", getaddrinfo)
