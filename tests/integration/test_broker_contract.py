"""One test body, two brokers: the embedded default must behave as RabbitMQ does."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import pytest

from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.amqp import amqp_broker
from chargehook.plumbing.broker import (
    DEAD_EXCHANGE,
    EVENTS_EXCHANGE,
    REASON_HEADER,
    Broker,
    Inbound,
    OutboundMessage,
    QueueSpec,
)
from chargehook.plumbing.consume import Consumer
from chargehook.plumbing.errors import RejectMessage
from chargehook.plumbing.failures import FAILURE_LIMIT
from chargehook.plumbing.memory_broker import MemoryBroker, topic_matches

QUEUE = QueueSpec("chargehook.test-contract", EVENTS_EXCHANGE, ("session.*.contract",))
DEAD = QueueSpec(QUEUE.dead_letter_queue, DEAD_EXCHANGE, (QUEUE.name,))


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.services)])
async def any_broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    async with AsyncExitStack() as stack:
        broker: Broker = MemoryBroker()
        if request.param == "rabbitmq":
            url = request.getfixturevalue("amqp_url")
            broker = await stack.enter_async_context(amqp_broker(url, "contract test", 2))
        await broker.declare((QUEUE,))
        yield broker
        for queue in (QUEUE, DEAD):
            async with taking(broker, queue, everything=True) as leftovers:
                for delivery in leftovers:
                    await delivery.ack()


@asynccontextmanager
async def taking(
    broker: Broker, queue: QueueSpec, count: int = 1, everything: bool = False
) -> AsyncIterator[list[Inbound]]:
    """Deliveries in hand; they must be settled before the block ends, as in a worker."""
    taken: list[Inbound] = []
    async with broker.consume(queue, prefetch=100) as incoming:
        while everything or len(taken) < count:
            try:
                taken.append(await asyncio.wait_for(anext(incoming), 0.5 if everything else 10))
            except TimeoutError:
                break
        yield taken


def message(text: str) -> OutboundMessage:
    return OutboundMessage(text.encode(), f"id-{text}", {"status": "FINISHED"})


async def test_a_published_message_arrives_with_its_id_key_and_headers(any_broker: Broker) -> None:
    await any_broker.publish(EVENTS_EXCHANGE, "session.finished.contract", message("hello"))
    async with taking(any_broker, QUEUE) as [delivery]:
        assert (delivery.body, delivery.message_id, delivery.routing_key) == (
            b"hello",
            "id-hello",
            "session.finished.contract",
        )
        assert delivery.headers["status"] == "FINISHED"
        await delivery.ack()


async def test_a_dead_letter_carries_its_reason(any_broker: Broker) -> None:
    await any_broker.publish(EVENTS_EXCHANGE, "session.finished.contract", message("poison"))
    async with taking(any_broker, QUEUE) as [delivery]:
        await delivery.dead_letter("cannot parse")
    async with taking(any_broker, DEAD) as [dead]:
        assert dead.body == b"poison" and dead.headers[REASON_HEADER] == "cannot parse"
        await dead.ack()


async def test_a_consumer_holds_no_more_than_its_prefetch(any_broker: Broker) -> None:
    texts = [f"held-{n}" for n in range(5)]
    for text in texts:
        await any_broker.publish(EVENTS_EXCHANGE, "session.finished.contract", message(text))
    settled: list[bytes] = []
    async with any_broker.consume(QUEUE, prefetch=2) as incoming:
        in_hand = [await asyncio.wait_for(anext(incoming), 10) for _ in range(2)]
        following = asyncio.ensure_future(anext(incoming))
        while in_hand:
            await asyncio.wait({following}, timeout=0.3)
            assert not following.done(), "a message arrived while the prefetch was full"
            oldest = in_hand.pop(0)
            await oldest.ack()  # frees one slot: the next message, if any, comes in
            settled.append(oldest.body)
            if len(settled) + len(in_hand) < len(texts):
                in_hand.append(await asyncio.wait_for(following, 10))
                following = asyncio.ensure_future(anext(incoming))
        following.cancel()
    assert settled == [text.encode() for text in texts]


async def test_each_way_of_settling_frees_one_slot_once(any_broker: Broker) -> None:
    texts = ["first", "second", "third", "fourth"]
    for text in texts:
        await any_broker.publish(EVENTS_EXCHANGE, "session.finished.contract", message(text))
    done: dict[str, bytes] = {}
    async with any_broker.consume(QUEUE, prefetch=1) as incoming:
        for settle in ("requeue", "dead_letter", "ack twice", "held"):
            delivery = await asyncio.wait_for(anext(incoming), 10)
            if settle == "requeue":
                await delivery.requeue()
                continue
            done[settle] = delivery.body
            if settle == "dead_letter":
                await delivery.dead_letter("unwanted")
            elif settle == "ack twice":
                await delivery.ack()
                await delivery.ack()  # refused or ignored: it must not free a second slot
        following = asyncio.ensure_future(anext(incoming))
        await asyncio.wait({following}, timeout=0.3)
        assert not following.done(), "a message settled twice freed two slots"
        following.cancel()
        await delivery.ack()
    async with taking(any_broker, QUEUE) as [left], taking(any_broker, DEAD) as [dead]:
        await left.ack()
        await dead.ack()
    # the requeued message came back once; nothing was lost or doubled
    assert sorted([*done.values(), left.body]) == sorted(text.encode() for text in texts)
    assert (dead.body, dead.headers[REASON_HEADER]) == (done["dead_letter"], "unwanted")


async def test_ack_through_settles_a_message_and_every_earlier_one_in_hand(
    any_broker: Broker,
) -> None:
    texts = [f"through-{n}" for n in range(4)]
    for text in texts:
        await any_broker.publish(EVENTS_EXCHANGE, "session.finished.contract", message(text))
    async with any_broker.consume(QUEUE, prefetch=3) as incoming:
        in_hand = [await asyncio.wait_for(anext(incoming), 10) for _ in range(3)]
        await in_hand[1].ack_through()  # settles the first two, not the third
        fourth = await asyncio.wait_for(anext(incoming), 10)  # two slots came free
        following = asyncio.ensure_future(anext(incoming))
        await asyncio.wait({following}, timeout=0.3)
        assert not following.done(), "ack_through freed more than the messages it settled"
        following.cancel()
        await fourth.ack_through()  # the third and the fourth
    async with taking(any_broker, QUEUE, everything=True) as leftovers:
        assert leftovers == []  # nothing came back: all four were settled
    assert [m.body for m in [*in_hand, fourth]] == [text.encode() for text in texts]


async def test_leaving_the_consumer_returns_what_it_did_not_settle(any_broker: Broker) -> None:
    for text in ("kept", "returned"):
        await any_broker.publish(EVENTS_EXCHANGE, "session.finished.contract", message(text))
    async with taking(any_broker, QUEUE, count=2) as [kept, _]:
        await kept.ack()
    async with taking(any_broker, QUEUE, everything=True) as again:
        assert [delivery.body for delivery in again] == [b"returned"]
        await again[0].ack()


class Picky:
    """Handles text messages; `undecodable` is rejected, a batch holding `crash` raises, each
    time: it goes back through the queue (the default exchange) until the limit."""

    name = "picky"
    queue = QUEUE
    prefetch = 10
    batch_size = 10

    def __init__(self) -> None:
        self.handled: list[str] = []

    def decode(self, message: Inbound) -> str:
        text = message.body.decode()
        if text == "undecodable":
            raise RejectMessage("not a picky message")
        return text

    async def handle(self, batch: Sequence[str]) -> None:
        if "crash" in batch:
            raise ValueError("crash")
        self.handled += batch


async def test_the_consume_loop_dead_letters_bad_messages_alone_and_handles_the_rest(
    any_broker: Broker,
) -> None:
    texts = ["a", "undecodable", "b", "crash", "c"]
    for text in texts:
        await any_broker.publish(EVENTS_EXCHANGE, "session.finished.contract", message(text))
    worker, metrics, stop = Picky(), every_metric(), asyncio.Event()
    running = asyncio.create_task(Consumer(any_broker, worker, metrics).run(stop))

    async with taking(any_broker, DEAD, count=2) as dead:
        assert sorted((d.body, d.headers[REASON_HEADER]) for d in dead) == [
            (
                b"crash",
                f"failed {FAILURE_LIMIT} times, the database answering: ValueError('crash')",
            ),
            (b"undecodable", "not a picky message"),
        ]
        for delivery in dead:
            await delivery.ack()
    stop.set()
    await asyncio.wait_for(running, 10)
    assert sorted(worker.handled) == ["a", "b", "c"]
    timed = metrics.registry.get_sample_value(
        "chargehook_worker_batch_seconds_count", {"worker": "picky"}
    )
    assert timed is not None and timed >= 1  # every handled batch is timed


@pytest.mark.parametrize(
    ("pattern", "key", "matches"),
    [
        ("session.#", "session.finished.repsol", True),
        ("session.*.repsol", "session.finished.repsol", True),
        ("session.*.repsol", "session.finished.emt", False),
        ("session.#.emt", "session.emt", True),
        ("session.*", "session.finished.emt", False),
        ("#", "anything.at.all", True),
    ],
)
def test_topic_matching_follows_amqp(pattern: str, key: str, matches: bool) -> None:
    assert topic_matches(pattern, key) is matches


@pytest.mark.parametrize("kind", ["memory", pytest.param("rabbitmq", marks=pytest.mark.services)])
async def test_each_publish_is_counted_by_exchange(
    kind: str, request: pytest.FixtureRequest
) -> None:
    metrics = every_metric()
    async with AsyncExitStack() as stack:
        broker: Broker = MemoryBroker(metrics)
        if kind == "rabbitmq":
            url = request.getfixturevalue("amqp_url")
            broker = await stack.enter_async_context(amqp_broker(url, "contract test", 2, metrics))
        await broker.declare((QUEUE,))
        for text in ("counted", "dead"):
            await broker.publish(EVENTS_EXCHANGE, "session.finished.contract", message(text))
        async with taking(broker, QUEUE, 2) as [first, second]:
            await first.ack()
            await second.dead_letter("a dead letter is a publish too")
        async with taking(broker, DEAD, everything=True) as dead:
            for delivery in dead:
                await delivery.ack()
    published = "chargehook_broker_published_total"
    assert metrics.value(published, exchange=EVENTS_EXCHANGE) == 2
    assert metrics.value(published, exchange=DEAD_EXCHANGE) == 1
