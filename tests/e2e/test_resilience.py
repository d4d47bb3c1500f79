"""Broker outages and killed workers: nothing accepted is lost, nothing is doubled."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from chargehook.ingest.app import create_app
from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.amqp import AmqpBroker, amqp_broker
from chargehook.plumbing.broker import EVENTS_EXCHANGE, OutboundMessage
from chargehook.plumbing.consume import Consumer
from chargehook.plumbing.database import Pool
from chargehook.sessions.events import routing_key
from chargehook.workers import ALL_QUEUES
from chargehook.workers.persist import QUEUE, PersistWorker
from tests import processes
from tests.support import (
    ADMIN_TOKEN,
    IngestServer,
    Provider,
    TcpProxy,
    event,
    eventually,
    publish_many,
    purge,
    queue_depth,
    stored_events,
)

pytestmark = pytest.mark.services


@pytest.fixture
async def proxy(amqp_url: str) -> AsyncIterator[TcpProxy]:
    """A cuttable path to RabbitMQ: `proxy.url` reaches the test vhost through it."""
    target = URL(amqp_url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5672)
    await proxy.start()
    proxy.url = str(target.with_port(proxy.port))
    yield proxy
    await proxy.cut()


async def test_ingest_answers_503_while_the_broker_is_unreachable_and_recovers_by_itself(
    pool: Pool, proxy: TcpProxy, provider: Provider
) -> None:
    async with (
        amqp_broker(proxy.url, "outage test", publish_timeout=1) as broker,
        TestClient(IngestServer(create_app(broker, pool, every_metric(), ADMIN_TOKEN))) as client,
    ):
        await broker.declare(ALL_QUEUES)
        headers = {**provider.auth, "Content-Type": "application/json"}
        body = msgspec.json.encode(event("s-outage", "IN_PROGRESS", 1))
        assert (await client.post("/v1/sessions", data=body, headers=headers)).status == 200

        await proxy.cut()
        refused = await client.post("/v1/sessions", data=body, headers=headers)
        assert refused.status == 503
        assert refused.headers["Retry-After"] == "5"
        assert (await refused.json())["error"] == "Service Unavailable"
        assert (await client.get("/readyz")).status == 503

        await proxy.start()

        async def accepted() -> bool:
            response = await client.post("/v1/sessions", data=body, headers=headers)
            return response.status == 200

        await eventually(accepted, within=30, interval=0.5)
        assert (await client.get("/readyz")).status == 200


EVENTS_PER_RUN = 10_000


async def test_killing_the_persist_worker_mid_stream_loses_nothing_and_doubles_nothing(
    broker: AmqpBroker, pool: Pool, amqp_url: str, database_url: str, flood: None
) -> None:
    await purge(amqp_url, QUEUE.name)
    provider = f"kill{uuid.uuid4().hex[:8]}"
    await _publish_lifecycles(broker, provider, EVENTS_PER_RUN // 2)
    env = processes.chargehook_env(
        amqp_url=amqp_url,
        database_url=database_url,
        persist_batch_size="20",
        persist_prefetch="40",
        log_level="warning",
    )

    await processes.killed_midway(
        ["worker", "persist"], env, lambda: _stored_at_least(pool, provider, 500)
    )
    at_kill = await stored_events(pool, provider)
    assert at_kill < EVENTS_PER_RUN, "the worker finished before it was killed"

    async with processes.started(["worker", "persist"], env) as second:
        await eventually(lambda: _stored_at_least(pool, provider, EVENTS_PER_RUN), within=90)
        assert await processes.terminated(second) == 0, "a drained worker exits 0"

    assert await stored_events(pool, provider) == EVENTS_PER_RUN
    states = await pool.fetch(
        "SELECT status, count(*) AS n FROM sessions WHERE provider = $1 GROUP BY status", provider
    )
    assert {row["status"]: row["n"] for row in states} == {"FINISHED": EVENTS_PER_RUN // 2}
    assert await queue_depth(amqp_url, QUEUE.name) == 0


async def _publish_lifecycles(broker: AmqpBroker, provider: str, sessions: int) -> None:
    items = [
        item
        for number in range(sessions)
        for item in (
            event(f"k{number}", "IN_PROGRESS", 1, charged_kwh=1),
            event(f"k{number}", "FINISHED", 2, charged_kwh=2),
        )
    ]
    random.Random(7).shuffle(items)  # noqa: S311 - a repeatable order, not a secret
    messages = [_message(provider, index, item) for index, item in enumerate(items)]
    await publish_many(broker, EVENTS_EXCHANGE, messages)


def _message(provider: str, index: int, item: dict[str, Any]) -> tuple[str, OutboundMessage]:
    event_id = f"evt-{provider}-{index}"
    body = msgspec.json.encode(
        {
            "event_id": event_id,
            "provider": provider,
            "received_at": "2026-03-01T12:00:00Z",
            "session": item,
        }
    )
    return routing_key(item["status"], provider), OutboundMessage(body, event_id)


async def _stored_at_least(pool: Pool, provider: str, count: int) -> bool:
    return await stored_events(pool, provider) >= count


async def test_a_worker_keeps_consuming_after_the_broker_connection_comes_back(
    broker: AmqpBroker, pool: Pool, proxy: TcpProxy
) -> None:
    stop = asyncio.Event()
    provider = f"reconnect{uuid.uuid4().hex[:6]}"
    async with amqp_broker(proxy.url, "reconnect test", 1) as flaky:
        worker = PersistWorker(pool, prefetch=10, batch_size=10)
        running = asyncio.create_task(Consumer(flaky, worker, every_metric()).run(stop))
        try:
            await broker.publish(
                EVENTS_EXCHANGE, *_message(provider, 0, event("r0", "IN_PROGRESS", 1))
            )
            await eventually(lambda: _stored_at_least(pool, provider, 1))

            await proxy.cut()
            await broker.publish(
                EVENTS_EXCHANGE, *_message(provider, 1, event("r1", "IN_PROGRESS", 1))
            )
            await proxy.start()
            await eventually(lambda: _stored_at_least(pool, provider, 2), within=30)
        finally:
            stop.set()
            await asyncio.wait_for(running, 10)
