"""A simulated CPO against the real `chargehook ingest` and workers on RabbitMQ and PostgreSQL:
it onboards with token A, pushes a Session out of order (a PATCH before its PUT), completes it
and posts its CDR; a subscriber receives the Session in order, signed."""

import asyncio
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
import pytest
from standardwebhooks.webhooks import Webhook

from lab.services import free_port
from tests import processes
from tests.ocpi_cpo import SimulatedCpo, simulated_cpo
from tests.ocpi_cpo import token_header as token
from tests.receiver import Receiver, receiving
from tests.support import ADMIN_TOKEN, answers_ok, eventually

pytestmark = pytest.mark.services
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ocpi"
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


async def test_a_cpo_onboards_pushes_out_of_order_and_a_subscriber_gets_the_session_in_order(
    amqp_url: str, database_url: str
) -> None:
    name, party = f"cpo-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:3].upper()
    sid = f"s-{uuid.uuid4().hex[:8]}"
    token_a = await register_cpo(database_url, name, party)
    async with (
        simulated_cpo() as cpo,
        receiving() as hook,
        pipeline(amqp_url, database_url) as base,
        aiohttp.ClientSession() as http,
    ):
        token_c = await onboard(http, base, cpo, party, token_a)
        secret = await subscribe(http, base, hook, name)
        await asyncio.sleep(1)  # the workers learn of the subscription by a NOTIFY
        session_url = f"{base}/ocpi/2.2.1/sessions/ES/{party}/{sid}"
        put = fixture("session_pending")
        put.update(party_id=party, id=sid, status="ACTIVE", last_updated=at(0))
        put.update(charging_periods=[period(0, "1.5")])
        pushes: list[tuple[str, dict[str, Any]]] = [
            # a PATCH before its PUT, then the PUT, then PATCHes out of order
            ("PATCH", {"kwh": 5, "charging_periods": [period(15, "3.5")], "last_updated": at(15)}),
            ("PUT", put),
            ("PATCH", {"kwh": 9, "charging_periods": [period(30, "4")], "last_updated": at(30)}),
            ("PATCH", {"total_cost": {"excl_vat": 3.00}, "last_updated": at(20)}),
            ("PATCH", {"kwh": 8, "last_updated": at(25)}),  # older than the kwh of 30
            (
                "PATCH",
                {
                    "status": "COMPLETED",
                    "end_date_time": at(40),
                    "kwh": 12.5,
                    "total_cost": {"excl_vat": 4.00, "incl_vat": 4.84},
                    "last_updated": at(40),
                },
            ),
        ]
        for method, body in pushes:
            status, answered, _ = await ocpi(http, method, session_url, token(token_c), body)
            assert status == 200 and answered["status_code"] == 1000, answered

        cdr = fixture("cdr_time_tariff")
        cdr.update(party_id=party, id=f"cdr-{sid}", session_id=sid, last_updated=at(41))
        cdr["total_cost"] = {"excl_vat": 4.00, "incl_vat": 4.84}  # the CDR's price is the final
        status, answered, headers = await ocpi(
            http, "POST", f"{base}/ocpi/2.2.1/cdrs", token(token_c), cdr
        )
        assert status == 201 and answered["status_code"] == 1000, answered
        location = headers["Location"]
        assert location == f"{base}/ocpi/2.2.1/cdrs/ES/{party}/cdr-{sid}"

        async def merged() -> dict[str, Any] | None:
            status, answered, _ = await ocpi(http, "GET", session_url, token(token_c))
            data: dict[str, Any] | None = answered["data"] if status == 200 else None
            return data if data and data.get("status") == "COMPLETED" else None

        session = await eventually(merged, within=30)
        assert session is not None
        assert session["kwh"] == Decimal("12.5")
        assert [p["start_date_time"] for p in session["charging_periods"]] == [
            at(0), at(15), at(30)
        ]  # fmt: skip
        assert session["total_cost"] == {"excl_vat": Decimal("4.00"), "incl_vat": Decimal("4.84")}

        async def cdr_stored() -> dict[str, Any] | None:
            status, answered, _ = await ocpi(http, "GET", location, token(token_c))
            return answered["data"] if status == 200 else None

        stored_cdr = await eventually(cdr_stored, within=30)
        assert stored_cdr is not None and stored_cdr["id"] == f"cdr-{sid}"

        async def delivered_with_its_cdr() -> bool:
            items = [i for i in hook.items if i["id"] == f"ES-{party}-{sid}"]
            return bool(items) and items[-1]["ocpi"]["cdr_ids"] == [f"cdr-{sid}"]

        await eventually(delivered_with_its_cdr, within=60, interval=0.3)

    for received in hook.received:
        Webhook(secret).verify(received.body, received.headers)
    items = [i for i in hook.items if i["id"] == f"ES-{party}-{sid}"]
    positions = [i["position"] for i in items]
    assert positions == sorted(positions)  # never an older state after a newer one
    last = items[-1]
    assert last["status"] == "FINISHED" and last["registered_provider"] == name
    assert last["charged_kwh"] == Decimal("12.5") and last["ocpi"]["status"] == "COMPLETED"
    # the CDR's final, from the CPO's total net of VAT: 4.00 + 0.40 commission + 0.92 tax
    assert (last["amount"], last["commision_price"], last["tax_price"]) == (
        Decimal("5.32"), Decimal("0.40"), Decimal("0.92")
    )  # fmt: skip
