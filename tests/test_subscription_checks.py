"""Test sends (POST /v1/subscriptions/{id}/test) on the real database: a signed example event in
the page's shape, marked as a test, answered with what the receiver said; no delivery, cursor,
bill or retry is touched."""

from typing import Any

import pytest
from aiohttp import web

from chargehook.plumbing.database import Pool
from tests.notify_support import ADMIN, Client, subscribe, verify
from tests.receiver import Received, receiving
from tests.support import Provider

pytestmark = pytest.mark.services


async def touched(pool: Pool, subscription_id: str) -> dict[str, int]:
    counts = {}
    for table in ("deliveries", "delivery_cursors"):
        counts[table] = await pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE subscription_id = $1", subscription_id
        )
    counts["bills"] = await pool.fetchval(
        "SELECT count(*) FROM bills WHERE provider = 'chargehook-test'"
    )
    return counts


async def test_a_test_send_is_signed_marked_and_answered_and_touches_nothing(
    api: Client, provider: Provider, pool: Pool
) -> None:
    async with receiving() as receiver:
        sub = await subscribe(api, receiver.url, provider.name)
        response = await api.post(f"/v1/subscriptions/{sub['id']}/test", headers=ADMIN)
        answer: dict[str, Any] = await response.json()
    assert response.status == 200, answer
    assert answer["succeeded"] is True and answer["status_code"] == 200
    assert answer["snippet"] == "ok" and answer["latency_ms"] >= 0
    [received] = receiver.received
    verify(received, sub["secret"])  # the standardwebhooks package checks the signature
    assert received.webhook_id == answer["webhook_id"] and received.webhook_id.startswith(
        "msg_test_"
    )
    [item] = received.items
    assert item["chargehook_test"] is True and item["registered_provider"] == "chargehook-test"
    assert item["status"] == "FINISHED" and item["position"].startswith("1|")
    assert await touched(pool, sub["id"]) == {"deliveries": 0, "delivery_cursors": 0, "bills": 0}


async def test_a_failing_receiver_is_reported_not_retried(
    api: Client, provider: Provider, pool: Pool
) -> None:
    async def broken(received: Received, count: int) -> web.Response:
        return web.Response(status=500, text="boom")

    async with receiving(broken) as receiver:
        sub = await subscribe(api, receiver.url, provider.name)
        answer = await (await api.post(f"/v1/subscriptions/{sub['id']}/test", headers=ADMIN)).json()
    assert answer["succeeded"] is False and answer["status_code"] == 500
    assert answer["error_kind"] == "http_status" and answer["snippet"] == "boom"
    assert len(receiver.received) == 1
    assert await touched(pool, sub["id"]) == {"deliveries": 0, "delivery_cursors": 0, "bills": 0}


async def test_a_test_send_to_no_subscription_is_a_404_and_needs_the_admin_token(
    api: Client, provider: Provider
) -> None:
    missing = await api.post("/v1/subscriptions/sub_none/test", headers=ADMIN)
    assert missing.status == 404
    as_provider = await api.post("/v1/subscriptions/sub_none/test", headers=provider.auth)
    assert as_provider.status == 403
