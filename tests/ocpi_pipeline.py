"""The whole pipeline as processes (`chargehook ingest` and one process of each worker kind)
and a CPO's steps through it, for the e2e tests that drive a CPO end to end."""

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import msgspec

from lab.services import free_port
from tests import processes
from tests.ocpi_cpo import SimulatedCpo
from tests.ocpi_cpo import token_header as token
from tests.receiver import Receiver
from tests.support import ADMIN_TOKEN, answers_ok, eventually

FIXTURES = Path(__file__).parent / "fixtures" / "ocpi"
WORKERS = ("persist", "billing", "notify", "ocpi")
exact = msgspec.json.Decoder(float_hook=Decimal)


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = msgspec.json.decode((FIXTURES / f"{name}.json").read_bytes())
    return loaded


def at(minutes: int) -> str:
    return f"2026-03-01T10:{minutes:02d}:00Z"


def period(minutes: int, kwh: str) -> dict[str, Any]:
    return {"start_date_time": at(minutes), "dimensions": [{"type": "ENERGY", "volume": kwh}]}


@asynccontextmanager
async def pipeline(amqp_url: str, database_url: str) -> AsyncIterator[str]:
    """`chargehook ingest` and one process of each worker kind; the ingest's base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = processes.chargehook_env(
        amqp_url=amqp_url,
        database_url=database_url,
        http_port=str(port),
        admin_token=ADMIN_TOKEN,
        allow_private_urls="true",
        public_url=base,
        retry_schedule="1",
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(processes.started(["ingest"], env))
        for kind in WORKERS:
            await stack.enter_async_context(processes.started(["worker", kind], env))
        async with aiohttp.ClientSession() as http:
            await eventually(partial(answers_ok, http, f"{base}/readyz"), within=60, interval=0.3)
        yield base


async def register_cpo(database_url: str, name: str, party: str) -> str:
    """An operator adds the CPO with its party: token A, printed once."""
    env = processes.chargehook_env(database_url=database_url)
    added = await processes.run(["ocpi", "add", name, "--party", f"ES-{party}"], env)
    assert added.returncode == 0, added.stderr
    found = re.search(r"\b(chp_\S+)", added.stdout)
    assert found, added.stdout
    return found[1]


async def ocpi(
    http: aiohttp.ClientSession, method: str, url: str, auth: dict[str, str], body: object = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    headers = {**auth, "X-Request-ID": str(uuid.uuid4()), "X-Correlation-ID": str(uuid.uuid4())}
    data = None if body is None else msgspec.json.encode(body)
    if data is not None:
        headers["Content-Type"] = "application/json"
    async with http.request(method, url, data=data, headers=headers) as answered:
        envelope: dict[str, Any] = exact.decode(await answered.read())
        assert answered.headers["X-Request-ID"] == headers["X-Request-ID"]
        assert answered.headers["X-Correlation-ID"] == headers["X-Correlation-ID"]
        return answered.status, envelope, dict(answered.headers)


async def onboard(http: aiohttp.ClientSession, base: str, cpo: SimulatedCpo, party: str,
                  token_a: str) -> str:  # fmt: skip
    """The CPO's registration, step by step as docs/ocpi.md tells it; token C."""
    status, versions, _ = await ocpi(http, "GET", f"{base}/ocpi/versions", token(token_a))
    assert status == 200 and versions["status_code"] == 1000, versions
    [version] = versions["data"]
    status, details, _ = await ocpi(http, "GET", version["url"], token(token_a))
    endpoints = {e["identifier"]: e["url"] for e in details["data"]["endpoints"]}
    assert {"credentials", "sessions", "cdrs"} <= set(endpoints)
    offered = cpo.credentials(f"ES-{party}")
    status, answered, _ = await ocpi(
        http, "POST", endpoints["credentials"], token(token_a), offered
    )
    assert status == 200 and answered["status_code"] == 1000, answered
    read_with = {path: header for path, header in cpo.calls}
    assert read_with[urlparse(cpo.versions_url).path] == token(cpo.token_b)["Authorization"]
    token_c: str = answered["data"]["token"]
    assert token_c != token_a

    async def token_a_refused() -> bool:  # ingest learns of it by a NOTIFY, in a moment
        status, refused, _ = await ocpi(http, "GET", f"{base}/ocpi/versions", token(token_a))
        return status == 401 and refused["status_code"] == 2000

    await eventually(token_a_refused, within=5)
    return token_c


async def subscribe(http: aiohttp.ClientSession, base: str, hook: Receiver, cpo: str) -> str:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    body = {"url": hook.url, "providers": [cpo]}
    async with http.post(f"{base}/v1/subscriptions", json=body, headers=admin) as created:
        assert created.status == 201, await created.text()
        secret: str = (await created.json())["secret"]
    return secret
