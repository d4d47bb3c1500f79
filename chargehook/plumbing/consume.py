"""The consume loops: batch, decode, handle, ack after commit (`Consumer`), or one message at a
time for slow independent work (`ConcurrentConsumer`).

A worker decodes each inbound message (raising RejectMessage for what it can never process:
dead-lettered at once) and handles a batch in one unit of work. What becomes of work that
raises is `plumbing.failures`' call: a fault of the infrastructure keeps the batch in hand and
retries it with back-off; any other fault splits the batch, so that each message is tried
alone, and only one that keeps failing on its own is dead-lettered.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import structlog

from chargehook.plumbing.broker import Broker, Inbound, QueueSpec
from chargehook.plumbing.errors import RejectMessage
from chargehook.plumbing.failures import Failures, Probe, nothing_to_probe
from chargehook.plumbing.metrics import Metrics

log = structlog.get_logger("chargehook.consume")
Item = TypeVar("Item")
Item_co = TypeVar("Item_co", covariant=True)
MAX_BACKOFF = 10.0
PIPELINE = 2  # batches a consumer works on at once


@dataclass(frozen=True)
class Turn:
    """A batch's place in line: the batch before it settled, and this one settled."""

    previous: "asyncio.Future[None]"
    settled: "asyncio.Future[None]"


class Service(Protocol):
    async def run(self, stop: asyncio.Event) -> None:
        """Work until `stop` is set, then finish or hand back what is in hand."""


class Worker(Protocol, Generic[Item]):
    name: str
    queue: QueueSpec
    prefetch: int
    batch_size: int

    def decode(self, inbound: Inbound) -> Item:
        """Parse one message; raise RejectMessage if it can never be processed."""

    async def handle(self, batch: Sequence[Item]) -> None:
        """Do the work of a batch and commit it; raising leaves every message unacked."""


class Consumer(Generic[Item]):
    def __init__(
        self,
        broker: Broker,
        worker: Worker[Item],
        metrics: Metrics,
        probe: Probe = nothing_to_probe,
    ) -> None:
        self.broker, self.worker, self.metrics = broker, worker, metrics
        self.log = log.bind(worker=worker.name)
        self.failures = Failures(broker, worker.queue, worker.name, metrics, probe)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; the batches in hand are finished or requeued, never lost.

        A batch goes as soon as nothing else of this consumer is in flight, so at low load a
        message waits for no one; while a batch is in flight the next one grows, so at high load
        batches are big. Up to PIPELINE full batches are worked on at once; they are settled in
        the order they arrived, so each can be acked in one frame."""
        inbox: asyncio.Queue[Inbound] = asyncio.Queue()
        working: set[asyncio.Task[None]] = set()
        previous: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        previous.set_result(None)
        async with self.broker.consume(self.worker.queue, self.worker.prefetch) as incoming:
            pump = asyncio.create_task(_pump(incoming, inbox))
            try:
                while batch := await self._collect(inbox, stop, working):
                    if len(working) >= PIPELINE:
                        await asyncio.wait(working, return_when=asyncio.FIRST_COMPLETED)
                    turn = Turn(previous, asyncio.get_running_loop().create_future())
                    task = asyncio.create_task(self._process(batch, stop, turn))
                    working.add(task)
                    task.add_done_callback(working.discard)
                    previous = turn.settled
                if working:
                    await asyncio.wait(working)
            finally:
                pump.cancel()
                for unfinished in working:
                    unfinished.cancel()  # its messages go back to the queue with the channel
                for inbound in _drain(inbox):
                    await inbound.requeue()
        self.log.info("consumer stopped")

    async def _collect(
        self, inbox: asyncio.Queue[Inbound], stop: asyncio.Event, working: set[asyncio.Task[None]]
    ) -> list[Inbound]:
        """The next batch: what has arrived, grown while an earlier batch is still in flight."""
        first = await _next_or_stop(inbox, stop)
        if first is None:
            return []
        batch, size = [first], self.worker.batch_size
        while True:
            while len(batch) < size and not inbox.empty():
                batch.append(inbox.get_nowait())
            in_flight = [task for task in working if not task.done()]
            if len(batch) >= size or not in_flight:
                return batch
            arrival = asyncio.ensure_future(inbox.get())
            await asyncio.wait([arrival, *in_flight], return_when=asyncio.FIRST_COMPLETED)
            if arrival.done():
                batch.append(arrival.result())
            else:
                arrival.cancel()  # a cancelled get takes nothing off the queue

    async def _process(self, batch: list[Inbound], stop: asyncio.Event, turn: "Turn") -> None:
        try:
            decoded: list[tuple[Inbound, Item]] = []
            for inbound in batch:
                try:
                    decoded.append((inbound, self.worker.decode(inbound)))
                except RejectMessage as exc:
                    await self.failures.dead_letter(inbound, exc.reason, "undecodable")
            if decoded:
                await self._handle_batch(decoded, stop, turn)
        finally:
            await turn.previous  # settled in arrival order, whatever happened to this one
            turn.settled.set_result(None)

    async def _handle_batch(
        self, decoded: list[tuple[Inbound, Item]], stop: asyncio.Event, turn: "Turn"
    ) -> None:
        backoff = 0.5
        while True:
            started = time.perf_counter()
            try:
                await self.worker.handle([item for _, item in decoded])
            except Exception as exc:  # noqa: BLE001 - whose fault it is decides what happens
                if await self.failures.blame_infrastructure(exc):
                    self.failures.retrying(exc, len(decoded))
                    if await _wait_or_stop(stop, backoff):
                        await self._settle(decoded, turn, requeue=True)
                        return
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                if len(decoded) > 1:  # each alone, so one bad message holds back no good one
                    for one in decoded:
                        await self._handle_batch([one], stop, turn)
                    return
                await self.failures.failed_alone(decoded[0][0], exc)
                return
            # the call that handled the batch, not the failed tries before it
            elapsed = time.perf_counter() - started
            self.metrics.observe(
                "chargehook_worker_batch_seconds", elapsed, worker=self.worker.name
            )
            await self._settle(decoded, turn, requeue=False)
            return

    async def _settle(
        self, decoded: list[tuple[Inbound, Item]], turn: "Turn", requeue: bool
    ) -> None:
        if requeue:
            for inbound, _ in decoded:
                await inbound.requeue()
        else:  # once every earlier message is settled, one ack covers this batch
            await turn.previous
            await decoded[-1][0].ack_through()
        outcome = "requeued" if requeue else "done"
        self.metrics.inc(
            "chargehook_worker_messages_total",
            len(decoded),
            worker=self.worker.name,
            outcome=outcome,
        )


async def _pump(incoming: AsyncIterator[Inbound], inbox: asyncio.Queue[Inbound]) -> None:
    async for inbound in incoming:
        inbox.put_nowait(inbound)


def _drain(inbox: asyncio.Queue[Inbound]) -> list[Inbound]:
    left: list[Inbound] = []
    while not inbox.empty():
        left.append(inbox.get_nowait())
    return left


async def _next_or_stop(inbox: asyncio.Queue[Inbound], stop: asyncio.Event) -> Inbound | None:
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

    def decode(self, inbound: Inbound) -> Item:
        """Parse one message; raise RejectMessage if it can never be processed."""

    async def handle_one(self, item: Item) -> None:
        """Do the work of one message; raising leaves it unacked."""


class ConcurrentConsumer(Generic[Item]):
    """Up to `concurrency` messages in flight, each acked on its own, so a slow one holds none."""

    def __init__(
        self,
        broker: Broker,
        worker: OneByOne[Item],
        metrics: Metrics,
        probe: Probe = nothing_to_probe,
    ) -> None:
        self.broker, self.worker, self.metrics = broker, worker, metrics
        self.log = log.bind(worker=worker.name)
        self.failures = Failures(broker, worker.queue, worker.name, metrics, probe)

    async def run(self, stop: asyncio.Event) -> None:
        inbox: asyncio.Queue[Inbound] = asyncio.Queue()
        in_flight: set[asyncio.Task[None]] = set()
        # Prefetch bounds this on RabbitMQ; the slots bound it on any broker.
        slots = asyncio.Semaphore(self.worker.concurrency)
        async with self.broker.consume(self.worker.queue, self.worker.concurrency) as incoming:
            pump = asyncio.create_task(_pump(incoming, inbox))
            try:
                while (inbound := await _next_or_stop(inbox, stop)) is not None:
                    await slots.acquire()
                    task = asyncio.create_task(self._process(inbound, stop))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                    task.add_done_callback(lambda _: slots.release())
                if in_flight:
                    await asyncio.wait(in_flight)
            finally:
                pump.cancel()
                for inbound in _drain(inbox):
                    await inbound.requeue()
        self.log.info("consumer stopped")

    async def _process(self, inbound: Inbound, stop: asyncio.Event) -> None:
        try:
            item = self.worker.decode(inbound)
        except RejectMessage as exc:
            await self.failures.dead_letter(inbound, exc.reason, "undecodable")
            return
        backoff = 0.5
        while True:
            try:
                await self.worker.handle_one(item)
            except Exception as exc:  # noqa: BLE001 - whose fault it is decides what happens
                if await self.failures.blame_infrastructure(exc):
                    self.failures.retrying(exc, 1)
                    if await _wait_or_stop(stop, backoff):
                        await inbound.requeue()
                        return
                    backoff = min(backoff * 2, MAX_BACKOFF)
                    continue
                await self.failures.failed_alone(inbound, exc)
                return
            await inbound.ack()
            self.metrics.inc(
                "chargehook_worker_messages_total", worker=self.worker.name, outcome="done"
            )
            return
