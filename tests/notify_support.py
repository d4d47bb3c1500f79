"""What the notify tests share: a notify worker in the test's process, subscribing through
the admin API, billed events published straight onto chargehook.billed, probes of the delivery
log for `eventually`."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec
from aiohttp.test_utils import TestClient
from standardwebhooks.webhooks import Webhook

from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.broker import BILLED_EXCHANGE, DelaySpec, OutboundMessage
from chargehook.plumbing.database import Pool
from chargehook.plumbing.metrics import Metrics
from chargehook.plumbing.settings import Settings, load_settings
from chargehook.sessions.events import routing_key
from chargehook.workers import ALL_QUEUES, delay_queues
from chargehook.workers.notify import NotifyService
from tests.billing_examples import WORKED_EXAMPLES
from tests.receiver import Received, Receiver
from tests.support import ADMIN_TOKEN, eventually, queue_depth

Client = TestClient[Any, Any]
KWH = WORKED_EXAMPLES[0]
FAST = {"allow_private_urls": "true", "retry_schedule": "0.5,0.5,0.5", "retry_busy_delay": "0.2"}
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def fast_settings(**overrides: str) -> Settings:
    return load_settings({}, {**FAST, **overrides})


WORKERS: list[NotifyService] = []  # the notify workers running in this test


@asynccontextmanager
async def notifying(broker: AmqpBroker, pool: Pool, settings: Settings) -> AsyncIterator[Metrics]:
    """A notify worker in this process (docs/delivery.md#order-per-session: any number may run side
    by side)."""
    await broker.declare(ALL_QUEUES, delay_queues(settings))
    metrics, stop = every_metric(), asyncio.Event()
    service = NotifyService(settings, pool, broker, metrics)
    task = asyncio.create_task(service.run(stop))
    WORKERS.append(service)
    try:
        yield metrics
    finally:
        WORKERS.remove(service)
        stop.set()
        await asyncio.wait_for(task, 15)


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


def billed_body(provider: str, item: dict[str, Any], event_id: str) -> bytes:
    """What the billing worker publishes for `item`, an estimate."""
    billing = {
        "kind": "estimate", "event_id": event_id, "currency": "EUR", "price_unit": None,
        "quantity": None, "base": None, "access_fee": None, "subtotal": None, "commission": None,
        "tax": None, "amount": None, "commission_rate": "0.10", "tax_rate": "0.21",
    }  # fmt: skip
    return msgspec.json.encode(
        {
            "event_id": event_id,
            "provider": provider,
            "received_at": "2026-03-01T12:00:00Z",
            "session": item,
            "billing": billing,
        }
    )


async def publish_billed(
    broker: AmqpBroker, provider: str, item: dict[str, Any], event_id: str
) -> None:
    """What the billing worker publishes, straight onto chargehook.billed."""
    await broker.publish(
        BILLED_EXCHANGE,
        routing_key(item["status"], provider),
        OutboundMessage(billed_body(provider, item, event_id), event_id),
        mandatory=False,
    )


def verify(received: Received, secret: str) -> None:
    Webhook(secret).verify(received.body, received.headers)


async def finals(pool: Pool, subscription_id: str, status: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE subscription_id = $1 AND status = $2"
        " AND position LIKE '1|%'",
        subscription_id,
        status,
    )
    return count


async def settled(pool: Pool, subscription_id: str, total: int) -> bool:
    done: int = await pool.fetchval(
        "SELECT count(*) FROM deliveries WHERE subscription_id = $1 AND status <> 'pending'",
        subscription_id,
    )
    return done == total


async def settled_deliveries(pool: Pool, subscription_id: str) -> list[tuple[str, str, str]]:
    """Every delivery of the subscription as (session, session status, delivery status), once
    none is pending any more; an empty list (falsy) while one still is."""
    rows = await pool.fetch(
        "SELECT session_id, payload->>'status' AS state, status FROM deliveries"
        " WHERE subscription_id = $1",
        subscription_id,
    )
    if any(row["status"] == "pending" for row in rows):
        return []
    return [(row["session_id"], row["state"], row["status"]) for row in rows]


async def delay_queues_empty(amqp_url: str, delays: Sequence[DelaySpec]) -> bool:
    """No retry waits in these delay queues: each one scheduled so far is due for delivery."""
    for delay in delays:
        if await queue_depth(amqp_url, delay.name):
            return False
    return True


async def at_least(receiver: Receiver, count: int) -> bool:
    """At least `count` session objects arrived, in however many requests."""
    return len(receiver.items) >= count


async def log_with(
    api: Client, subscription_id: str, status: str, attempts: int | None = None
) -> Any:
    response = await api.get(
        f"/v1/subscriptions/{subscription_id}/deliveries?status={status}", headers=ADMIN
    )
    log = await response.json()
    if attempts is not None:
        log = [d for d in log if len(d["attempts"]) == attempts]
    return log or None


async def subscription_if(api: Client, subscription_id: str, enabled: bool) -> Any:
    state = await (await api.get(f"/v1/subscriptions/{subscription_id}", headers=ADMIN)).json()
    return state if state["enabled"] is enabled else None
