"""A simulated OCPI CPO on loopback: its own versions and 2.2.1 version details endpoints,
answering only its current token B, recording every call; and what onboarding tests share."""

import asyncio
import base64
import secrets
import string
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

ALPHANUMERIC = string.ascii_uppercase + string.digits


def token_header(token: str) -> dict[str, str]:
    """`Authorization: Token <Base64>`, as OCPI 2.2.1 sends it."""
    return {"Authorization": "Token " + base64.b64encode(token.encode()).decode()}


def raw_token_header(token: str) -> dict[str, str]:
    """`Authorization: Token <token>`, as 2.1.1-style senders do."""
    return {"Authorization": f"Token {token}"}


def new_party() -> str:
    """A party of a test's own (the database is shared by the run), lower case on purpose."""
    return "es-" + "".join(secrets.choice(ALPHANUMERIC) for _ in range(3)).lower()


def new_name() -> str:
    return f"cpo-{secrets.token_hex(5)}"


def envelope(data: Any, status_code: int = 1000) -> dict[str, Any]:
    return {"data": data, "status_code": status_code, "timestamp": "2026-03-01T12:00:00Z"}


@dataclass
class SimulatedCpo:
    token_b: str = field(default_factory=lambda: "cpo-b-" + secrets.token_urlsafe(16))
    version: str = "2.2.1"  # the version its versions endpoint lists
    details_version: str = "2.2.1"  # the version its details say
    behaviour: str = "ok"  # or "slow", "redirect" (to its own details), "huge" (a 2 MiB body)
    base: str = ""
    calls: list[tuple[str, str]] = field(default_factory=list)  # (path, Authorization)

    @property
    def versions_url(self) -> str:
        return f"{self.base}/ocpi/cpo/versions"

    @property
    def endpoints(self) -> list[dict[str, str]]:
        return [
            {"identifier": "credentials", "role": "SENDER", "url": f"{self.base}/ocpi/cpo/cred"},
            {"identifier": "locations", "role": "SENDER", "url": f"{self.base}/ocpi/cpo/locs"},
        ]

    def credentials(self, *parties: str, role: str = "CPO") -> dict[str, Any]:
        """The credentials it POSTs or PUTs: its token B, its versions URL, a role a party."""
        return {
            "token": self.token_b,
            "url": self.versions_url,
            "roles": [
                {
                    "role": role,
                    "party_id": code[3:],
                    "country_code": code[:2],
                    "business_details": {"name": "Simulated CPO"},
                }
                for code in parties
            ],
        }

    def allowed(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        self.calls.append((request.path, header))
        return header == token_header(self.token_b)["Authorization"]

    async def versions(self, request: web.Request) -> web.Response:
        if not self.allowed(request):
            return web.json_response(envelope(None, 2000), status=401)
        if self.behaviour == "slow":
            await asyncio.sleep(5)
        if self.behaviour == "redirect":
            raise web.HTTPFound(f"{self.base}/ocpi/cpo/{self.version}")
        if self.behaviour == "huge":
            return web.json_response(envelope([{"version": "x" * 2**21, "url": self.base}]))
        listed = [{"version": self.version, "url": f"{self.base}/ocpi/cpo/{self.version}"}]
        return web.json_response(envelope(listed))

    async def details(self, request: web.Request) -> web.Response:
        if not self.allowed(request):
            return web.json_response(envelope(None, 2000), status=401)
        return web.json_response(
            envelope({"version": self.details_version, "endpoints": self.endpoints})
        )


@asynccontextmanager
async def simulated_cpo() -> AsyncIterator[SimulatedCpo]:
    cpo = SimulatedCpo()
    app = web.Application()
    app.add_routes(
        [web.get("/ocpi/cpo/versions", cpo.versions), web.get("/ocpi/cpo/{v}", cpo.details)]
    )
    async with TestServer(app, host="127.0.0.1") as server:
        cpo.base = str(server.make_url("")).rstrip("/")
        yield cpo
