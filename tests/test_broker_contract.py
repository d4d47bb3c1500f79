"""One test body, two brokers: the embedded default must behave as RabbitMQ does."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager

import pytest

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
from chargehook.plumbing.memory_broker import MemoryBroker, topic_matches
from chargehook.plumbing.metrics import Metrics

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


class Picky:
    """Handles text messages; `undecodable` is rejected, a batch holding `crash` raises."""

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
    worker, metrics, stop = Picky(), Metrics(), asyncio.Event()
    running = asyncio.create_task(Consumer(any_broker, worker, metrics, linger=0.2).run(stop))

    async with taking(any_broker, DEAD, count=2) as dead:
        assert sorted((d.body, d.headers[REASON_HEADER]) for d in dead) == [
            (b"crash", "handler failed; see worker log"),
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
