"""Notify delivery order and fairness (docs/delivery.md): no session's state goes backwards at a
subscriber, however deliveries race, and one slow subscriber does not hold up the others."""

import asyncio
import random
from datetime import UTC, datetime

import pytest
from aiohttp import web

from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.database import Pool
from chargehook.webhooks import deliveries, request_transactions
from chargehook.webhooks.deliveries import NewDelivery
from tests.notify_support import (
    Client,
    at_least,
    fast_settings,
    finals,
    notifying,
    publish_billed,
    settled,
    subscribe,
)
from tests.receiver import Received, receiving
from tests.support import Provider, event, eventually

pytestmark = pytest.mark.services
SESSIONS = 12


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
        await eventually(lambda: settled(pool, sub["id"], len(items)), within=60)
    seen: dict[str, str] = {}
    for item in receiver.items:  # in arrival order, across requests and within each
        assert item["position"] >= seen.get(item["id"], ""), f"session {item['id']} went backwards"
        seen[item["id"]] = item["position"]
    # every session's final state was sent (the newest state is never superseded)
    assert len(seen) == SESSIONS
    assert (
        await finals(pool, sub["id"], "succeeded") + await finals(pool, sub["id"], "failed")
        == SESSIONS
    )


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
                await eventually(lambda: at_least(fast, 3))
                assert len(slow.received) == 1  # one at a time for the stuck one
            finally:
                release.set()


async def test_a_state_sent_whose_record_was_lost_still_supersedes_an_older_one(
    api: Client, provider: Provider, pool: Pool
) -> None:
    # The request carrying FINISHED reached the receiver; then the worker's connection broke
    # before the attempt was recorded (issue 15's drill). Its lease runs out; the IN_PROGRESS
    # that comes next must not go.
    sub = (await subscribe(api, "http://127.0.0.1:9/hook", provider.name))["id"]
    now = datetime.now(UTC)
    made = {
        status: NewDelivery(sub, provider.name, "s-lost", f"e-{status}", position, b"{}", now)
        for status, position in (("IN_PROGRESS", "0|a"), ("FINISHED", "1|b"))
    }
    async with pool.acquire() as conn:
        await deliveries.create(conn, list(made.values()))
    finished = await request_transactions.claim(pool, [made["FINISHED"].id], holder="finished")
    assert [d.id for d in finished.go] == [made["FINISHED"].id]
    await pool.execute(  # no record: the lease runs out
        "UPDATE delivery_cursors SET lease_until = now() - interval '1 second'"
        " WHERE subscription_id = $1",
        sub,
    )
    older = await request_transactions.claim(pool, [made["IN_PROGRESS"].id], holder="older")
    assert older.go == [] and [d.id for d in older.superseded] == [made["IN_PROGRESS"].id]
    again = await request_transactions.claim(pool, [made["FINISHED"].id], holder="finished-again")
    assert [d.id for d in again.go] == [made["FINISHED"].id]  # the same state may go again
