"""What becomes of work that raises, in both consume loops, on the in-process broker: a fault of
the infrastructure is retried and never dead-lettered; only a message that fails on its own
FAILURE_LIMIT times, the database answering, is dead-lettered, and its neighbours go through."""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import asyncpg
import pytest

from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.broker import (
    DEAD_EXCHANGE,
    EVENTS_EXCHANGE,
    FAILURES_HEADER,
    REASON_HEADER,
    Inbound,
    OutboundMessage,
    QueueSpec,
)
from chargehook.plumbing.consume import ConcurrentConsumer, Consumer, Service
from chargehook.plumbing.errors import RejectMessage
from chargehook.plumbing.failures import FAILURE_LIMIT
from chargehook.plumbing.memory_broker import MemoryBroker
from chargehook.plumbing.metrics import Metrics
from tests.support import eventually

QUEUE = QueueSpec("chargehook.test-failures", EVENTS_EXCHANGE, ("session.*.failures",))
DEAD = QueueSpec(QUEUE.dead_letter_queue, DEAD_EXCHANGE, (QUEUE.name,))
STATE_15 = "cannot switch to state 15; another operation (2) is in progress"


class Flaky:
    """Raises `fault(text, call)` when it returns one, else records the text as handled."""

    name = "flaky"
    queue = QUEUE
    prefetch = 20
    batch_size = 10
    concurrency = 4

    def __init__(self, fault: Callable[[str, int], BaseException | None]) -> None:
        self.fault = fault
        self.calls: dict[str, int] = {}
        self.handled: list[str] = []

    def decode(self, inbound: Inbound) -> str:
        return inbound.body.decode()

    async def handle(self, batch: Sequence[str]) -> None:
        for text in batch:
            self.calls[text] = self.calls.get(text, 0) + 1
        for text in batch:
            if (exc := self.fault(text, self.calls[text])) is not None:
                raise exc
        self.handled += batch

    async def handle_one(self, text: str) -> None:
        await self.handle([text])


class Probe:
    """The database as the consume loops' probe sees it: down for the first `down` probes."""

    def __init__(self, down: int = 0) -> None:
        self.down, self.probes = down, 0

    async def __call__(self) -> bool:
        self.probes += 1
        return self.probes > self.down


async def published(
    broker: MemoryBroker, *texts: str, headers: dict[str, str] | None = None
) -> None:
    for text in texts:
        message = OutboundMessage(text.encode(), f"id-{text}", headers or {})
        await broker.publish(EVENTS_EXCHANGE, "session.finished.failures", message)


@asynccontextmanager
async def running(service: Service) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def dead_letters(broker: MemoryBroker) -> list[Inbound]:
    found: list[Inbound] = []
    async with broker.consume(DEAD, prefetch=100) as incoming:
        while True:
            try:
                found.append(await asyncio.wait_for(anext(incoming), 0.2))
            except TimeoutError:
                return found


async def until(check: Callable[[], bool]) -> None:
    async def now() -> bool:
        return check()

    await eventually(now, within=10, interval=0.01)


def consumers(
    broker: MemoryBroker, worker: Flaky, metrics: Metrics, probe: Probe
) -> dict[str, Service]:
    return {
        "batches": Consumer(broker, worker, metrics, probe=probe),
        "one by one": ConcurrentConsumer(broker, worker, metrics, probe=probe),
    }


KINDS = ["batches", "one by one"]


@pytest.fixture
async def broker() -> MemoryBroker:
    broker = MemoryBroker()
    await broker.declare((QUEUE,))
    return broker


def counted(metrics: Metrics, name: str, **labels: str) -> int:
    return metrics.value(name, worker="flaky", **labels)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_connection_broken_mid_batch_is_retried_never_dead_lettered(
    broker: MemoryBroker, kind: str
) -> None:
    # asyncpg's own words on a connection PostgreSQL dropped during a restart (issue 15)
    def fault(text: str, call: int) -> BaseException | None:
        return asyncpg.exceptions.InternalClientError(STATE_15) if call <= 2 else None

    worker, metrics, probe = Flaky(fault), every_metric(), Probe()
    texts = [f"m{n}" for n in range(8)]
    await published(broker, *texts)
    async with running(consumers(broker, worker, metrics, probe)[kind]):
        await until(lambda: len(worker.handled) == len(texts))
    assert sorted(worker.handled) == sorted(texts)
    assert await dead_letters(broker) == []
    assert counted(metrics, "chargehook_worker_failures_total", blamed_on="infrastructure") >= 2
    assert counted(metrics, "chargehook_worker_failures_total", blamed_on="message") == 0
    assert probe.probes == 0  # a known fault of the infrastructure needs no probe


@pytest.mark.parametrize("kind", KINDS)
async def test_an_unknown_error_while_the_database_is_down_is_retried_uncounted(
    broker: MemoryBroker, kind: str
) -> None:
    def fault(text: str, call: int) -> BaseException | None:
        return RuntimeError("something odd") if call <= 3 else None

    worker, metrics, probe = Flaky(fault), every_metric(), Probe(down=3)
    await published(broker, "only")
    async with running(consumers(broker, worker, metrics, probe)[kind]):
        await until(lambda: worker.handled == ["only"])
    assert await dead_letters(broker) == []
    assert counted(metrics, "chargehook_worker_failures_total", blamed_on="infrastructure") == 3
    assert counted(metrics, "chargehook_worker_failures_total", blamed_on="message") == 0


@pytest.mark.parametrize("kind", KINDS)
async def test_an_error_the_message_does_not_reproduce_is_not_dead_lettered(
    broker: MemoryBroker, kind: str
) -> None:
    def fault(text: str, call: int) -> BaseException | None:
        return RuntimeError("a passing oddity") if call == 1 else None

    worker, metrics, probe = Flaky(fault), every_metric(), Probe()
    await published(broker, "once")
    async with running(consumers(broker, worker, metrics, probe)[kind]):
        await until(lambda: worker.handled == ["once"])
    assert await dead_letters(broker) == []
    assert counted(metrics, "chargehook_worker_failures_total", blamed_on="message") == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_a_message_failing_on_its_own_is_dead_lettered_after_the_limit(
    broker: MemoryBroker, kind: str
) -> None:
    def fault(text: str, call: int) -> BaseException | None:
        return ValueError("poison") if text == "poison" else None

    worker, metrics, probe = Flaky(fault), every_metric(), Probe()
    good = [f"good{n}" for n in range(9)]
    await published(broker, *good[:4], "poison", *good[4:])
    async with running(consumers(broker, worker, metrics, probe)[kind]):
        await until(
            lambda: counted(metrics, "chargehook_worker_dead_letters_total", cause="failed") == 1
        )
        await until(lambda: len(worker.handled) == len(good))
    assert sorted(worker.handled) == sorted(good)  # each once, around the bad one
    [dead] = await dead_letters(broker)
    assert dead.body == b"poison"
    assert (
        dead.headers[REASON_HEADER]
        == f"failed {FAILURE_LIMIT} times, the database answering: ValueError('poison')"
    )
    assert dead.headers[FAILURES_HEADER] == str(FAILURE_LIMIT - 1)
    # tried alone FAILURE_LIMIT times (once more in its first batch, when batched)
    alone = worker.calls["poison"] - (1 if kind == "batches" else 0)
    assert alone == FAILURE_LIMIT
    assert (
        counted(metrics, "chargehook_worker_failures_total", blamed_on="message")
        == FAILURE_LIMIT - 1
    )
    assert counted(metrics, "chargehook_worker_failures_total", blamed_on="infrastructure") == 0
    assert counted(metrics, "chargehook_worker_messages_total", outcome="dead") == 1


async def test_failures_are_counted_across_redeliveries(broker: MemoryBroker) -> None:
    # a message that already failed FAILURE_LIMIT - 1 times (before a restart, on another
    # copy of the worker) is dead-lettered on its next failure
    def fault(text: str, call: int) -> BaseException | None:
        return ValueError("poison")

    worker, metrics = Flaky(fault), every_metric()
    earlier = {FAILURES_HEADER: str(FAILURE_LIMIT - 1)}
    await published(broker, "poison", headers=earlier)
    async with running(Consumer(broker, worker, metrics, probe=Probe())):
        await until(
            lambda: counted(metrics, "chargehook_worker_dead_letters_total", cause="failed") == 1
        )
    assert worker.calls["poison"] == 1


async def test_an_undecodable_message_is_dead_lettered_at_once(broker: MemoryBroker) -> None:
    class Strict(Flaky):
        def decode(self, inbound: Inbound) -> str:
            raise RejectMessage("not a text")

    worker, metrics = Strict(lambda text, call: None), every_metric()
    await published(broker, "garbage")
    async with running(Consumer(broker, worker, metrics)):
        await until(
            lambda: (
                counted(metrics, "chargehook_worker_dead_letters_total", cause="undecodable") == 1
            )
        )
    [dead] = await dead_letters(broker)
    assert dead.headers[REASON_HEADER] == "not a text"
