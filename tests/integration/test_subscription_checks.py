"""Test sends (POST /v1/subscriptions/{id}/test) on the real database: a signed example event in
the page's shape, marked as a test, answered with what the receiver said; no delivery, cursor,
bill or retry is touched."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from chargehook.plumbing.database import Pool
from chargehook.plumbing.settings import Settings
from chargehook.webhooks import deliveries, request_transactions
from chargehook.webhooks.deliveries import NewDelivery
from chargehook.webhooks.delivery_states import AttemptResult
from tests.notify_support import ADMIN, Client, subscribe, verify
from tests.receiver import Received, receiving
from tests.support import Provider

pytestmark = pytest.mark.services
NOW = datetime.now(UTC)
DISABLE_AFTER = timedelta(seconds=Settings().disable_after)  # the api fixture's


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


async def test_health_counts_failed_attempts_pending_deliveries_and_the_disable_countdown(
    api: Client, provider: Provider, pool: Pool
) -> None:
    sub = await subscribe(api, "http://127.0.0.1:9/hook", provider.name)
    made = NewDelivery(sub["id"], provider.name, "s-health", "e-health", "0", b"{}", NOW)
    async with pool.acquire() as conn:
        (delivery,) = await deliveries.create(conn, [made])
    failed = AttemptResult(datetime.now(UTC), 503, 7, "http_status", "busy")
    [pending] = await deliveries.pending(pool, [delivery])
    await request_transactions.record(pool, [pending], failed, NOW)

    healths = await (await api.get("/v1/subscription-health", headers=ADMIN)).json()
    [health] = [entry for entry in healths if entry["id"] == sub["id"]]
    created = datetime.fromisoformat(sub["created_at"])
    assert health["failures_last_hour"] == 1 and health["pending"] == 1
    assert health["last_success_at"] is None  # so the countdown runs from its creation
    assert datetime.fromisoformat(health["disables_at"]) == created + DISABLE_AFTER
    await api.patch(f"/v1/subscriptions/{sub['id']}", json={"enabled": False}, headers=ADMIN)
    healths = await (await api.get("/v1/subscription-health", headers=ADMIN)).json()
    assert [e["disables_at"] for e in healths if e["id"] == sub["id"]] == [None]
