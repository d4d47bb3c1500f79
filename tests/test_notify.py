"""Subscriptions and webhook delivery against the real RabbitMQ and PostgreSQL (SPEC §5)."""

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from chargehook.ingest.app import create_app
from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.broker import BILLED_EXCHANGE, OutboundMessage, routing_key
from chargehook.plumbing.database import Pool
from chargehook.plumbing.metrics import Metrics
from chargehook.plumbing.settings import Settings, load_settings
from chargehook.workers import ALL_QUEUES, delay_queues
from chargehook.workers.notify import NotifyService
from tests import processes
from tests.billing_examples import WORKED_EXAMPLES
from tests.receiver import Received, Receiver, receiving
from tests.support import ADMIN_TOKEN, Provider, event, eventually

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]
KWH = WORKED_EXAMPLES[0]
FAST = {"allow_private_urls": "true", "retry_schedule": "0.5,0.5,0.5", "retry_busy_delay": "0.2"}


def fast_settings(**overrides: str) -> Settings:
    return load_settings({}, {**FAST, **overrides})


WORKERS: list[NotifyService] = []  # the notify workers running in this test


@asynccontextmanager
async def notifying(broker: AmqpBroker, pool: Pool, settings: Settings) -> AsyncIterator[Metrics]:
    """A notify worker in this process (SPEC: any number may run side by side)."""
    await broker.declare(ALL_QUEUES, delay_queues(settings))
    metrics, stop = Metrics(), asyncio.Event()
    service = NotifyService(settings, pool, broker, metrics)
    task = asyncio.create_task(service.run(stop))
    WORKERS.append(service)
    try:
        yield metrics
    finally:
        WORKERS.remove(service)
        stop.set()
        await asyncio.wait_for(task, 15)


@pytest.fixture
async def api(broker: AmqpBroker, pool: Pool) -> AsyncIterator[Client]:
    """The admin API with private URLs allowed, as the tests' receivers live on loopback."""
    app = create_app(broker, pool, Metrics(), ADMIN_TOKEN, allow_private_urls=True)
    async with TestClient(TestServer(app)) as client:
        yield client


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def subscribe(api: Client, url: str, provider: str, **filters: Any) -> dict[str, Any]:
    body = {"url": url, "providers": [provider], **filters}
    response = await api.post("/v1/subscriptions", json=body, headers=ADMIN)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()

    # The workers learn of it by a NOTIFY, which PostgreSQL sends after the commit, on its own
    # time: a test publishes its events once every running worker knows the subscription.
    async def known() -> bool:
        return all(worker.cache.knows(created["id"]) for worker in WORKERS)

    await eventually(known)
    return created


async def publish_billed(
    broker: AmqpBroker, provider: str, item: dict[str, Any], event_id: str
) -> None:
    """What the billing worker publishes, straight onto chargehook.billed."""
    billing = {
        "kind": "estimate", "event_id": event_id, "currency": "EUR", "price_unit": None,
        "quantity": None, "base": None, "access_fee": None, "subtotal": None, "commission": None,
        "tax": None, "amount": None, "commission_rate": "0.10", "tax_rate": "0.21",
    }  # fmt: skip
    body = msgspec.json.encode(
        {
            "event_id": event_id,
            "provider": provider,
            "received_at": "2026-03-01T12:00:00Z",
            "session": item,
            "billing": billing,
        }
    )
    await broker.publish(
        BILLED_EXCHANGE,
        routing_key(item["status"], provider),
        OutboundMessage(body, event_id),
        mandatory=False,
    )


def verify(received: Received, secret: str) -> None:
    Webhook(secret).verify(received.body, received.headers)


async def test_a_sessions_callbacks_reach_a_filtered_subscriber_billed_each_once(
    api: Client,
    client: Client,
    provider: Provider,
    broker: AmqpBroker,
    pool: Pool,
    persist_worker: Any,
    billing_worker: Any,
) -> None:
    statuses = ["ORDER_INIT_AND_WAITING", "IN_PROGRESS", "FINISHED"]
    async with receiving() as receiver, notifying(broker, pool, fast_settings()):
        sub = await subscribe(api, receiver.url, provider.name, statuses=statuses)
        headers = {**provider.auth, "Content-Type": "application/json"}
        other = msgspec.json.encode(event("s-other", "NOT_PLUGGED", 1))
        assert (await client.post("/v1/sessions", data=other, headers=headers)).status == 200
        for number, status in enumerate(statuses, start=1):
            body = KWH.body("s-notify", status, updatedAt=f"2026-03-01T10:0{number}:00+00:00")
            assert (await client.post("/v1/sessions", data=body, headers=headers)).status == 200
            await eventually(lambda n=number: _at_least(receiver, n))  # type: ignore[misc]

        await asyncio.sleep(1)  # a duplicate or the filtered-out NOT_PLUGGED would arrive by now
    items = [r.items[0] for r in receiver.received]
    assert [item["status"] for item in items] == statuses
    assert len({r.webhook_id for r in receiver.received}) == 3
    assert items[-1]["amount"] == Decimal("14.06") and items[-1]["commision_price"] == Decimal(
        "1.06"
    )
    assert [item["position"] for item in items] == sorted(item["position"] for item in items)
    for received in receiver.received:
        verify(received, sub["secret"])


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async def flaky(received: Received, count: int) -> web.Response:
        return web.Response(status=500, text="down") if count <= 2 else web.Response(text="ok")

    async with receiving(flaky) as receiver, notifying(broker, pool, fast_settings()):
        sub = await subscribe(api, receiver.url, provider.name)
        await publish_billed(broker, provider.name, event("s-flaky", "IN_PROGRESS", 1), "e-flaky")
        await eventually(lambda: _at_least(receiver, 3), within=30)
        log = await eventually(lambda: _log_with(api, sub["id"], "succeeded"))
    assert len({r.webhook_id for r in receiver.received}) == 1  # webhook-id stable across retries
    [delivery] = log
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
    assert [a["error_kind"] for a in delivery["attempts"]] == ["http_status", "http_status", None]
    assert delivery["attempts"][0]["response_snippet"] == "down"


async def test_a_receiver_answering_410_disables_its_subscription(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async def gone(received: Received, count: int) -> web.Response:
        return web.Response(status=410)

    async with receiving(gone) as receiver, notifying(broker, pool, fast_settings()):
        sub = await subscribe(api, receiver.url, provider.name)
        await publish_billed(broker, provider.name, event("s-gone", "IN_PROGRESS", 1), "e-gone")
        state = await eventually(lambda: _subscription_if(api, sub["id"], enabled=False))
    assert state["disabled_reason"] == "the endpoint answered 410 Gone"
    assert len(receiver.received) == 1
    enabled = await api.patch(
        f"/v1/subscriptions/{sub['id']}", json={"enabled": True}, headers=ADMIN
    )
    assert (await enabled.json())["enabled"] is True


async def test_a_subscription_without_success_for_too_long_is_disabled(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async def failing(received: Received, count: int) -> web.Response:
        return web.Response(status=500)

    async with (
        receiving(failing) as receiver,
        notifying(broker, pool, fast_settings(disable_after="0.001")),
    ):
        sub = await subscribe(api, receiver.url, provider.name)
        await publish_billed(broker, provider.name, event("s-sick", "IN_PROGRESS", 1), "e-sick")
        state = await eventually(lambda: _subscription_if(api, sub["id"], enabled=False))
    assert state["disabled_reason"] == "no successful delivery for too long"


async def test_after_a_rotation_both_secrets_sign_and_a_wrong_one_is_rejected(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async with receiving() as receiver, notifying(broker, pool, fast_settings()):
        sub = await subscribe(api, receiver.url, provider.name)
        rotated = await (
            await api.post(f"/v1/subscriptions/{sub['id']}/secret/rotate", headers=ADMIN)
        ).json()
        await publish_billed(broker, provider.name, event("s-rotate", "IN_PROGRESS", 1), "e-rotate")
        await eventually(lambda: _at_least(receiver, 1))
    [received] = receiver.received
    verify(received, sub["secret"])
    verify(received, rotated["secret"])
    other = await subscribe(api, "http://127.0.0.1:9/unused", provider.name)
    with pytest.raises(WebhookVerificationError):
        verify(received, other["secret"])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
    ],
)
async def test_subscribing_a_private_url_is_refused_unless_allowed(
    client: Client, admin: dict[str, str], url: str
) -> None:
    response = await client.post("/v1/subscriptions", json={"url": url}, headers=admin)
    answer = await response.json()
    assert response.status == 400 and answer["error"] == "Bad Request"
    assert (
        answer["message"].startswith("$.url: url host")
        and "private URLs are not allowed" in answer["message"]
    )


async def test_a_private_url_is_refused_again_at_every_attempt(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async with (
        receiving() as receiver,
        notifying(broker, pool, fast_settings(allow_private_urls="false", retry_schedule="0.2")),
    ):
        sub = await subscribe(api, receiver.url, provider.name)  # allowed when it was created
        await publish_billed(broker, provider.name, event("s-ssrf", "IN_PROGRESS", 1), "e-ssrf")
        [delivery] = await eventually(lambda: _log_with(api, sub["id"], "failed"))
    assert receiver.received == []
    assert {a["error_kind"] for a in delivery["attempts"]} == {"unsafe_url"}


async def test_the_subscriptions_api_round_trip(api: Client, provider: Provider) -> None:
    sub = await subscribe(api, "http://127.0.0.1:9/a", provider.name, description="first")
    assert sub["secret"].startswith("whsec_") and sub["enabled"] is True
    listed = await (await api.get("/v1/subscriptions", headers=ADMIN)).json()
    assert sub["id"] in {s["id"] for s in listed} and all("secret" not in s for s in listed)
    changed = await api.patch(
        f"/v1/subscriptions/{sub['id']}",
        json={"statuses": ["FINISHED"], "description": None},
        headers=ADMIN,
    )
    assert (await changed.json())["statuses"] == ["FINISHED"]
    bad = await api.patch(
        f"/v1/subscriptions/{sub['id']}", json={"statuses": ["DONE"]}, headers=ADMIN
    )
    assert bad.status == 400 and (await bad.json())["message"].startswith(
        "$.statuses[0]: Invalid enum value 'DONE'"
    )
    assert (await api.delete(f"/v1/subscriptions/{sub['id']}", headers=ADMIN)).status == 204
    assert (await api.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN)).status == 404


async def test_a_failed_delivery_can_be_replayed_and_recovered(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    healthy = False

    async def until_fixed(received: Received, count: int) -> web.Response:
        return web.Response(text="ok") if healthy else web.Response(status=503)

    async with (
        receiving(until_fixed) as receiver,
        notifying(broker, pool, fast_settings(retry_schedule="0.2")),
    ):
        sub = await subscribe(api, receiver.url, provider.name)
        await publish_billed(broker, provider.name, event("s-replay", "IN_PROGRESS", 1), "e-replay")
        [failed] = await eventually(lambda: _log_with(api, sub["id"], "failed"))
        healthy = True
        since = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
        recovered = await api.post(
            f"/v1/subscriptions/{sub['id']}/recover", json={"since": since}, headers=ADMIN
        )
        assert (await recovered.json()) == {"replayed": 1}
        [done] = await eventually(lambda: _log_with(api, sub["id"], "succeeded"))
        replayed = await api.post(
            f"/v1/subscriptions/{sub['id']}/deliveries/{done['id']}/replay", headers=ADMIN
        )
        assert replayed.status == 202
        await eventually(lambda: _at_least(receiver, 4))
    assert done["id"] == failed["id"] and [a["status_code"] for a in done["attempts"]] == [
        503,
        503,
        200,
    ]
    assert {r.webhook_id for r in receiver.received} == {failed["id"]}


async def test_pending_retries_survive_a_killed_notify_worker_and_none_is_sent_twice(
    api: Client, provider: Provider, broker: AmqpBroker, amqp_url: str, database_url: str
) -> None:
    async def first_fails(received: Received, count: int) -> web.Response:
        return web.Response(status=500) if count == 1 else web.Response(text="ok")

    env = processes.chargehook_env(
        amqp_url=amqp_url,
        database_url=database_url,
        allow_private_urls="true",
        retry_schedule="3",
        log_level="warning",
    )
    async with receiving(first_fails) as receiver:
        sub = await subscribe(api, receiver.url, provider.name)
        async with processes.started(["worker", "notify"], env) as first:
            await publish_billed(broker, provider.name, event("s-kill", "IN_PROGRESS", 1), "e-kill")
            await eventually(lambda: _at_least(receiver, 1))
            await eventually(lambda: _log_with(api, sub["id"], "pending", attempts=1))
            await processes.killed(first)
        async with processes.started(["worker", "notify"], env) as second:
            await eventually(lambda: _log_with(api, sub["id"], "succeeded"), within=30)
            await asyncio.sleep(4)  # longer than the schedule: a doubled retry would show by now
            assert await processes.terminated(second) == 0
    assert len(receiver.received) == 2
    assert receiver.received[0].webhook_id == receiver.received[1].webhook_id


SESSIONS, STATES = 12, 4


async def test_with_two_workers_and_a_flaky_slow_receiver_no_session_ever_goes_backwards(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    rng = random.Random(11)  # noqa: S311 - a repeatable test, not a secret

    async def slow_and_flaky(received: Received, count: int) -> web.Response:
        await asyncio.sleep(rng.uniform(0, 0.05))
        return web.Response(status=500) if rng.random() < 0.3 else web.Response(text="ok")

    items = [
        (event(f"o{n}", status, minute, charged_kwh=minute), f"e-o{n}-{minute}")
        for n in range(SESSIONS)
        for minute, status in enumerate(
            ["ORDER_INIT_AND_WAITING", "IN_PROGRESS", "IN_PROGRESS", "FINISHED"], start=1
        )
    ]
    rng.shuffle(items)
    settings = fast_settings(retry_schedule="0.2,0.2,0.2,0.2,0.2")
    async with (
        receiving(slow_and_flaky) as receiver,
        notifying(broker, pool, settings),
        notifying(broker, pool, settings),
    ):
        sub = await subscribe(api, receiver.url, provider.name)
        for item, event_id in items:
            await publish_billed(broker, provider.name, item, event_id)
        await eventually(lambda: _settled(pool, sub["id"], len(items)), within=60)
    seen: dict[str, str] = {}
    for received in receiver.received:
        item = received.items[0]
        assert item["position"] >= seen.get(item["id"], ""), f"session {item['id']} went backwards"
        seen[item["id"]] = item["position"]
    # every session's final state was sent (the newest state is never superseded)
    assert len(seen) == SESSIONS
    assert (
        await _finals(pool, sub["id"], "succeeded") + await _finals(pool, sub["id"], "failed")
        == SESSIONS
    )


async def _finals(pool: Pool, subscription_id: str, status: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE subscription_id = $1 AND status = $2"
        " AND position LIKE '1|%'",
        subscription_id,
        status,
    )
    return count


async def _settled(pool: Pool, subscription_id: str, total: int) -> bool:
    done: int = await pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE subscription_id = $1 AND status <> 'pending'",
        subscription_id,
    )
    return done == total


async def _at_least(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count


async def _log_with(
    api: Client, subscription_id: str, status: str, attempts: int | None = None
) -> Any:
    response = await api.get(
        f"/v1/subscriptions/{subscription_id}/deliveries?status={status}", headers=ADMIN
    )
    log = await response.json()
    if attempts is not None:
        log = [d for d in log if len(d["attempts"]) == attempts]
    return log or None


async def _subscription_if(api: Client, subscription_id: str, enabled: bool) -> Any:
    state = await (await api.get(f"/v1/subscriptions/{subscription_id}", headers=ADMIN)).json()
    return state if state["enabled"] is enabled else None


async def test_one_slow_receiver_does_not_starve_another_subscription(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    release = asyncio.Event()

    async def stuck(received: Received, count: int) -> web.Response:
        await release.wait()
        return web.Response(text="late")

    settings = fast_settings(delivery_per_subscription="1", delivery_concurrency="4")
    async with receiving(stuck) as slow, receiving() as fast:
        await subscribe(api, slow.url, provider.name, statuses=["IN_PROGRESS"])
        await subscribe(api, fast.url, provider.name, statuses=["FINISHED"])
        async with notifying(broker, pool, settings):
            try:
                for n in range(6):  # the slow subscriber's backlog alone could fill every slot
                    item = event(f"slow{n}", "IN_PROGRESS", 1)
                    await publish_billed(broker, provider.name, item, f"e-slow{n}")
                for n in range(3):
                    item = event(f"fast{n}", "FINISHED", 1)
                    await publish_billed(broker, provider.name, item, f"e-fast{n}")
                await eventually(lambda: _at_least(fast, 3))
                assert len(slow.received) == 1  # one at a time for the stuck one
            finally:
                release.set()
