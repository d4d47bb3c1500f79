"""How the batching consume loop sizes its batches, on the in-process broker: a batch goes as
soon as nothing else of the consumer is in flight; while one is, the next grows; a full batch
does not wait for the one in flight."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.broker import EVENTS_EXCHANGE, Inbound, OutboundMessage, QueueSpec
from chargehook.plumbing.consume import Consumer
from chargehook.plumbing.memory_broker import MemoryBroker
from tests.support import eventually

QUEUE = QueueSpec("chargehook.test-batches", EVENTS_EXCHANGE, ("session.*.batches",))


class Held:
    """Records each batch it is handed and holds it until released; once released, it holds
    none."""

    name = "held"
    queue = QUEUE
    prefetch = 100

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.batches: list[list[str]] = []
        self.releases: list[asyncio.Event] = []
        self.released = False

    def decode(self, inbound: Inbound) -> str:
        return inbound.body.decode()

    async def handle(self, batch: Sequence[str]) -> None:
        release = asyncio.Event()
        self.batches.append(list(batch))
        self.releases.append(release)
        if not self.released:
            await release.wait()

    def release_all(self) -> None:
        self.released = True
        for release in self.releases:
            release.set()


async def publish(broker: MemoryBroker, *texts: str) -> None:
    for text in texts:
        message = OutboundMessage(text.encode(), text, {})
        await broker.publish(EVENTS_EXCHANGE, "session.finished.batches", message)


@asynccontextmanager
async def consuming(broker: MemoryBroker, worker: Held) -> AsyncIterator[None]:
    await broker.declare((QUEUE,))
    stop = asyncio.Event()
    task = asyncio.create_task(Consumer(broker, worker, every_metric()).run(stop))
    try:
        yield
    finally:
        worker.release_all()
        stop.set()
        await asyncio.wait_for(task, 10)


async def batches_seen(worker: Held, count: int) -> bool:
    return len(worker.batches) >= count


async def test_a_lone_message_goes_at_once_and_the_next_batch_grows_while_it_is_in_flight() -> None:
    broker, worker = MemoryBroker(), Held(batch_size=50)
    async with consuming(broker, worker):
        await publish(broker, "a")
        await eventually(lambda: batches_seen(worker, 1))
        assert worker.batches == [["a"]]  # nothing in flight: it waited for no other message
        await publish(broker, "b")
        await asyncio.sleep(0.1)  # longer than any fixed linger would wait
        await publish(broker, "c", "d")
        await asyncio.sleep(0.1)
        assert worker.batches == [["a"]]  # b, c and d wait while a is in flight
        worker.release_all()
        await eventually(lambda: batches_seen(worker, 2))
        assert worker.batches == [["a"], ["b", "c", "d"]]


async def test_a_full_batch_does_not_wait_for_the_one_in_flight() -> None:
    broker, worker = MemoryBroker(), Held(batch_size=2)
    async with consuming(broker, worker):
        await publish(broker, "a")
        await eventually(lambda: batches_seen(worker, 1))
        await publish(broker, "b", "c")
        await eventually(lambda: batches_seen(worker, 2))
        assert worker.batches == [["a"], ["b", "c"]]  # both in flight at once
        await publish(broker, "d", "e", "f")
        await asyncio.sleep(0.1)
        assert len(worker.batches) == 2  # no more than two batches are worked on at once
        worker.release_all()
        await eventually(lambda: batches_seen(worker, 4))
        assert sorted(text for batch in worker.batches for text in batch) == list("abcdef")
