"""The persist worker against the real RabbitMQ and PostgreSQL: once, in order, never stuck."""

import itertools
import uuid
from datetime import UTC, datetime
from functools import partial
from typing import Any

import aio_pika
import msgspec
import pytest
from aiohttp.test_utils import TestClient

from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.broker import EVENTS_EXCHANGE, REASON_HEADER, OutboundMessage
from chargehook.plumbing.database import Pool
from chargehook.schemas import Envelope
from chargehook.sessions.events import read_event
from chargehook.workers.persist import QUEUE, PersistWorker
from tests.corpus import good
from tests.support import Provider, event, eventually, queue_depth

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]

LIFECYCLE = [
    event("x", "ORDER_INIT_AND_WAITING", 0),
    event("x", "IN_PROGRESS", 5, charged_kwh=3.2),
    event("x", "FINISHED", 20, charged_kwh=11.0),
    event("x", "IN_PROGRESS", 25, charged_kwh=9.9),  # late: stamped after the terminal
]


async def post(client: Client, provider: Provider, body: Any) -> list[str]:
    headers = {**provider.auth, "Content-Type": "application/json"}
    response = await client.post("/v1/sessions", data=msgspec.json.encode(body), headers=headers)
    assert response.status == 200, await response.text()
    ids: list[str] = (await response.json())["event_ids"]
    return ids


async def stored_events(pool: Pool, provider: str, session_id: str) -> int:
    count: int = await pool.fetchval(
        "SELECT count(*) FROM session_events WHERE provider = $1 AND session_id = $2",
        provider,
        session_id,
    )
    return count


async def current(pool: Pool, provider: str, session_id: str) -> tuple[str, str] | None:
    row = await pool.fetchrow(
        "SELECT status, event_id FROM sessions WHERE provider = $1 AND session_id = $2",
        provider,
        session_id,
    )
    return None if row is None else (row["status"], row["event_id"])


async def test_an_accepted_event_is_stored_once_however_often_it_is_posted(
    client: Client, provider: Provider, pool: Pool, persist_worker: Any
) -> None:
    item = event("s-dup", "FINISHED", 10, charged_kwh=4.5)
    reordered = dict(reversed(list(item.items())))  # same callback, keys in another order
    first = await post(client, provider, item)
    assert await post(client, provider, item) == first
    assert await post(client, provider, reordered) == first

    # The worker takes its queue in order: once a marker posted after the three is stored, so
    # is every copy of the callback that would have made a second row.
    await post(client, provider, event("s-dup-marker", "FINISHED", 10))
    await eventually(lambda: current(pool, provider.name, "s-dup-marker"))
    assert await stored_events(pool, provider.name, "s-dup") == 1
    assert await current(pool, provider.name, "s-dup") == ("FINISHED", first[0])


async def test_every_arrival_order_of_a_sessions_events_ends_in_the_same_state(
    client: Client, provider: Provider, pool: Pool, persist_worker: Any
) -> None:
    expected_event = None
    for number, order in enumerate(itertools.permutations(LIFECYCLE)):
        session_id = f"s-order-{number}"
        for position, item in enumerate(order, start=1):
            ids = await post(client, provider, {**item, "id": session_id})
            if item["status"] == "FINISHED":
                expected_event = ids[0]
            # the worker sees exactly this order: each event is stored before the next is sent
            await eventually(partial(_has, pool, provider.name, session_id, position))
        assert await current(pool, provider.name, session_id) == ("FINISHED", expected_event)


async def test_between_terminal_states_the_later_one_wins(
    client: Client, provider: Provider, pool: Pool, persist_worker: Any
) -> None:
    finished = event("s-pay", "FINISHED", 20)
    payment_error = event("s-pay", "PAYMENT_ERROR", 30)
    [error_id] = await post(client, provider, payment_error)
    await post(client, provider, finished)
    await eventually(lambda: _has(pool, provider.name, "s-pay", 2))
    assert await current(pool, provider.name, "s-pay") == ("PAYMENT_ERROR", error_id)


async def test_a_batch_with_many_events_of_one_session_keeps_the_greatest(
    client: Client, provider: Provider, pool: Pool, persist_worker: Any
) -> None:
    items = [{**item, "id": "s-batch"} for item in reversed(LIFECYCLE)]
    ids = await post(client, provider, items)
    await eventually(lambda: _has(pool, provider.name, "s-batch", len(items)))
    assert await current(pool, provider.name, "s-batch") == ("FINISHED", ids[1])


async def test_a_message_the_worker_cannot_handle_is_dead_lettered_and_the_next_is_stored(
    broker: AmqpBroker, amqp_url: str, pool: Pool, persist_worker: Any
) -> None:
    before = await queue_depth(amqp_url, QUEUE.dead_letter_queue)
    poison = OutboundMessage(b'{"event_id": "poison", "session": 42}', "poison")
    await broker.publish(EVENTS_EXCHANGE, "session.finished.nobody", poison)
    good = msgspec.json.encode(
        {
            "event_id": "evt-after-poison",
            "provider": "direct",
            "received_at": "2026-03-01T12:00:00Z",
            "session": event("s-after-poison", "FINISHED", 1),
        }
    )
    await broker.publish(EVENTS_EXCHANGE, "session.finished.direct", OutboundMessage(good, "g"))

    await eventually(lambda: current(pool, "direct", "s-after-poison"))
    await eventually(lambda: _depth_is(amqp_url, QUEUE.dead_letter_queue, before + 1))
    reason = await _last_dead_letter_reason(amqp_url)
    assert reason.startswith("not a valid session event: Object missing required field")


async def _has(pool: Pool, provider: str, session_id: str, count: int) -> bool:
    return await stored_events(pool, provider, session_id) >= count


async def _depth_is(amqp_url: str, queue: str, count: int) -> bool:
    return await queue_depth(amqp_url, queue) == count


async def _last_dead_letter_reason(amqp_url: str) -> str:
    connection = await aio_pika.connect(amqp_url)
    async with connection, connection.channel() as channel:
        queue = await channel.declare_queue(QUEUE.dead_letter_queue, passive=True)
        reason = ""
        while (message := await queue.get(fail=False)) is not None:
            reason = str((message.headers or {}).get(REASON_HEADER, ""))
            await message.ack()
        return reason


async def test_an_event_id_stored_for_one_session_does_not_move_another(pool: Pool) -> None:
    """An Idempotency-Key reused with another item inside the moment before the first was
    stored (so both were answered 200): the first item keeps the id, in the history and in
    the current state; the other session is not written under it."""
    provider, events = f"clash-{uuid.uuid4().hex[:6]}", []
    for session in ("s-first", "s-second"):
        envelope = Envelope(
            event_id="key-1", provider=provider, received_at=datetime.now(UTC),
            session=msgspec.Raw(msgspec.json.encode(good(id=session))),
        )  # fmt: skip
        events.append(read_event(msgspec.json.encode(envelope)))
    worker = PersistWorker(pool, prefetch=1, batch_size=2)
    await worker.handle(events[:1])
    await worker.handle(events[1:])  # a later batch
    await worker.handle(events[::-1])  # and both in one batch, the other first
    sessions = await pool.fetch("SELECT session_id FROM sessions WHERE provider = $1", provider)
    history = await pool.fetch(
        "SELECT body::text FROM session_events WHERE provider = $1", provider
    )
    assert [row["session_id"] for row in sessions] == ["s-first"]
    assert len(history) == 1 and '"s-first"' in history[0]["body"]
