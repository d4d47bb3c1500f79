"""Webhook batches (docs/delivery.md#batches): a request carries up to the subscription's batch
size of session objects, signed as one body; a retried batch never carries a superseded state."""

import pytest
from aiohttp import web

from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.database import Pool
from tests.notify_support import (
    Client,
    at_least,
    fast_settings,
    notifying,
    publish_billed,
    settled,
    subscribe,
    verify,
)
from tests.receiver import Received, receiving
from tests.support import Provider, event, eventually

pytestmark = pytest.mark.services


async def test_a_backlog_goes_out_in_signed_batches_of_the_subscriptions_size(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async with receiving() as receiver:
        sub = await subscribe(api, receiver.url, provider.name, batch_size=5)
        for n in range(12):  # waiting before the worker starts: the fan-out takes them at once
            await publish_billed(broker, provider.name, event(f"b{n}", "FINISHED", 1), f"e-b{n}")
        async with notifying(broker, pool, fast_settings()):
            await eventually(lambda: at_least(receiver, 12))
            await eventually(lambda: settled(pool, sub["id"], 12))
    assert sorted(item["id"] for item in receiver.items) == sorted(f"b{n}" for n in range(12))
    # tasks of at most the subscription's size, sent side by side: they may arrive in any
    # order (the fan-out's first batch goes at once, with what had arrived by then)
    sizes = [len(received.items) for received in receiver.received]
    assert max(sizes) == 5 and sum(sizes) == 12
    for received in receiver.received:
        verify(received, sub["secret"])  # one signature over the whole array
        positions = [item["position"] for item in received.items]
        assert positions == sorted(positions)
    assert len({received.webhook_id for received in receiver.received}) == len(sizes)


async def test_a_retried_batch_drops_a_state_the_subscriber_already_got_newer(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async def first_fails(received: Received, count: int) -> web.Response:
        return web.Response(status=500 if count == 1 else 200)

    async with receiving(first_fails) as receiver:
        sub = await subscribe(api, receiver.url, provider.name)
        for session in ("r1", "r2"):
            item = event(session, "IN_PROGRESS", 1)
            await publish_billed(broker, provider.name, item, f"e-{session}-running")
        async with notifying(broker, pool, fast_settings(retry_schedule="3")):
            await eventually(lambda: at_least(receiver, 2))  # [r1, r2] in one request, failed
            finished = event("r1", "FINISHED", 2)
            await publish_billed(broker, provider.name, finished, "e-r1-finished")
            await eventually(lambda: at_least(receiver, 4), within=15)
            await eventually(lambda: settled(pool, sub["id"], 3))
    first, newer, retry = receiver.received
    running = [("r1", "IN_PROGRESS"), ("r2", "IN_PROGRESS")]
    assert [(i["id"], i["status"]) for i in first.items] == running
    assert [(i["id"], i["status"]) for i in newer.items] == [("r1", "FINISHED")]
    assert [(i["id"], i["status"]) for i in retry.items] == [("r2", "IN_PROGRESS")]
    assert retry.webhook_id != first.webhook_id  # its content changed, so its id did
    rows = await pool.fetch(
        "SELECT event_id, status FROM deliveries WHERE subscription_id = $1", sub["id"]
    )
    statuses = {row["event_id"]: row["status"] for row in rows}
    assert statuses == {
        "e-r1-running": "superseded",
        "e-r2-running": "succeeded",
        "e-r1-finished": "succeeded",
    }
