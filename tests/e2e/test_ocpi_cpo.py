"""A simulated CPO against the real `chargehook ingest` and workers on RabbitMQ and PostgreSQL:
it onboards with token A, pushes a Session out of order (a PATCH before its PUT), completes it
and posts its CDR; a subscriber receives the Session in order, signed."""

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from standardwebhooks.webhooks import Webhook

from tests.ocpi_cpo import simulated_cpo
from tests.ocpi_cpo import token_header as token
from tests.ocpi_pipeline import (
    at,
    fixture,
    ocpi,
    onboard,
    period,
    pipeline,
    register_cpo,
    subscribe,
)
from tests.receiver import receiving
from tests.support import eventually

pytestmark = pytest.mark.services


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
