"""The one consume loop every worker kind shares: batch, decode, handle, ack after commit.

A worker decodes each delivery (raising RejectMessage for what it can never process) and
handles a batch in one unit of work. Transient faults keep the batch in hand and retry it;
any other fault splits the batch so that one bad message is dead-lettered alone.
"""

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, Generic, Protocol, TypeVar

import structlog

from chargehook.plumbing.broker import Broker, Delivery, QueueSpec
from chargehook.plumbing.database import TRANSIENT_ERRORS
from chargehook.plumbing.errors import RejectMessage, RetryLater
from chargehook.plumbing.metrics import Metrics

log = structlog.get_logger("chargehook.consume")
Item = TypeVar("Item")
Item_co = TypeVar("Item_co", covariant=True)
RETRYABLE: tuple[type[BaseException], ...] = (RetryLater, *TRANSIENT_ERRORS)
MAX_BACKOFF = 10.0


class Service(Protocol):
    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then finish or hand back what is in hand."""


class Worker(Protocol, Generic[Item]):
    name: str
    queue: QueueSpec
    prefetch: int
    batch_size: int

    def decode(self, delivery: Delivery) -> Item:
        """Parse one message; raise RejectMessage if it can never be processed."""

    async def handle(self, batch: Sequence[Item]) -> None:
        """Do the work of a batch and commit it; raising leaves every message unacked."""


class Consumer(Generic[Item]):
    def __init__(self, broker: Broker, worker: Worker[Item], metrics: Metrics, linger: float):
        self.broker, self.worker, self.metrics, self.linger = broker, worker, metrics, linger
        self.log = log.bind(worker=worker.name)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batch in hand is finished or requeued, never lost."""
        inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        async with self.broker.deliveries(self.worker.queue, self.worker.prefetch) as incoming:
            pump = asyncio.create_task(_pump(incoming, inbox))
            try:
                while batch := await self._collect(inbox, stop):
                    await self._process(batch, stop)
            finally:
                pump.cancel()
                for delivery in _drain(inbox):
                    await delivery.requeue()
        self.log.info("consumer stopped")

    async def _collect(self, inbox: asyncio.Queue[Delivery], stop: asyncio.Event) -> list[Delivery]:
        first = await _next_or_stop(inbox, stop)
        if first is None:
            return []
        batch = [first]
        deadline = asyncio.get_running_loop().time() + self.linger
        while len(batch) < self.worker.batch_size:
            remaining = deadline - asyncio.get_running_loop().time()
            if inbox.empty() and remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(inbox.get(), max(remaining, 0)))
            except TimeoutError:
                break
        return batch

    async def _process(self, batch: list[Delivery], stop: asyncio.Event) -> None:
        decoded: list[tuple[Delivery, Item]] = []
        for delivery in batch:
            try:
                decoded.append((delivery, self.worker.decode(delivery)))
            except RejectMessage as exc:
                await self._dead_letter(delivery, exc.reason)
        if decoded:
            await self._handle_batch(decoded, stop)

    async def _handle_batch(
        self, decoded: list[tuple[Delivery, Item]], stop: asyncio.Event
    ) -> None:
        backoff = 0.5
        while True:
            try:
                await self.worker.handle([item for _, item in decoded])
            except RETRYABLE as exc:
                self.log.warning("batch will be retried", error=repr(exc), size=len(decoded))
                if await _wait_or_stop(stop, backoff):
                    await self._settle(decoded, requeue=True)
                    return
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Exception:
                if len(decoded) > 1:
                    for one in decoded:
                        await self._handle_batch([one], stop)
                    return
                self.log.exception("message failed for good", message_id=decoded[0][0].message_id)
                await self._dead_letter(decoded[0][0], "handler failed; see worker log")
                return
            await self._settle(decoded, requeue=False)
            return

    async def _settle(self, decoded: list[tuple[Delivery, Item]], requeue: bool) -> None:
        for delivery, _ in decoded:
            await (delivery.requeue() if requeue else delivery.ack())
        outcome = "requeued" if requeue else "done"
        self.metrics.inc(
            "chargehook_worker_messages_total",
            len(decoded),
            worker=self.worker.name,
            outcome=outcome,
        )

    async def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        await _dead_letter(self, delivery, reason)


async def _dead_letter(
    consumer: "Consumer[Any] | ConcurrentConsumer[Any]", delivery: Delivery, reason: str
) -> None:
    consumer.log.warning("dead-lettered", message_id=delivery.message_id, reason=reason)
    try:
        await delivery.dead_letter(reason)
    except RetryLater:
        await delivery.requeue()
        return
    consumer.metrics.inc(
        "chargehook_worker_messages_total", worker=consumer.worker.name, outcome="dead"
    )


async def _pump(incoming: AsyncIterator[Delivery], inbox: asyncio.Queue[Delivery]) -> None:
    async for delivery in incoming:
        inbox.put_nowait(delivery)


def _drain(inbox: asyncio.Queue[Delivery]) -> list[Delivery]:
    left: list[Delivery] = []
    while not inbox.empty():
        left.append(inbox.get_nowait())
    return left


async def _next_or_stop(inbox: asyncio.Queue[Delivery], stop: asyncio.Event) -> Delivery | None:
    if not inbox.empty():
        return inbox.get_nowait()
    getter = asyncio.ensure_future(inbox.get())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if getter.done() and not getter.cancelled():
        return getter.result()
    getter.cancel()
    return None


async def _wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless stopping; True when the caller should stop."""
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        return False
    return True


class OneByOne(Protocol, Generic[Item]):
    """A worker whose messages are independent and slow (HTTP): each handled on its own."""

    name: str
    queue: QueueSpec
    concurrency: int

    def decode(self, delivery: Delivery) -> Item:
        """Parse one message; raise RejectMessage if it can never be processed."""

    async def handle_one(self, item: Item) -> None:
        """Do the work of one message; raising leaves it unacked."""


class ConcurrentConsumer(Generic[Item]):
    """Up to `concurrency` messages in flight, each acked on its own, so a slow one holds none."""

    def __init__(self, broker: Broker, worker: OneByOne[Item], metrics: Metrics) -> None:
        self.broker, self.worker, self.metrics = broker, worker, metrics
        self.log = log.bind(worker=worker.name)

    async def run(self, stop: asyncio.Event) -> None:
        inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        in_flight: set[asyncio.Task[None]] = set()
        # Prefetch bounds this on RabbitMQ; the slots bound it on any broker.
        slots = asyncio.Semaphore(self.worker.concurrency)
        async with self.broker.deliveries(self.worker.queue, self.worker.concurrency) as incoming:
            pump = asyncio.create_task(_pump(incoming, inbox))
            try:
                while (delivery := await _next_or_stop(inbox, stop)) is not None:
                    await slots.acquire()
                    task = asyncio.create_task(self._process(delivery, stop))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    task.add_done_callback(lambda _: slots.release())
                if in_flight:
                    await asyncio.wait(in_flight)
            finally:
                pump.cancel()
                for delivery in _drain(inbox):
                    await delivery.requeue()
        self.log.info("consumer stopped")

    async def _process(self, delivery: Delivery, stop: asyncio.Event) -> None:
        try:
            item = self.worker.decode(delivery)
        except RejectMessage as exc:
            await _dead_letter(self, delivery, exc.reason)
            return
        backoff = 0.5
        while True:
            try:
                await self.worker.handle_one(item)
            except RETRYABLE as exc:
                self.log.warning("message will be retried", error=repr(exc))
                if await _wait_or_stop(stop, backoff):
                    await delivery.requeue()
                    return
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            except Exception:
                self.log.exception("message failed for good", message_id=delivery.message_id)
                await _dead_letter(self, delivery, "handler failed; see worker log")
                return
            await delivery.ack()
            self.metrics.inc(
                "chargehook_worker_messages_total", worker=self.worker.name, outcome="done"
            )
            return
