"""The deliverer on the in-process broker, its ledger in memory and a receiver that answers as
told (tests/unit/fake_ledger.py): at most `delivery_per_subscription` requests to one
subscriber while others still go, the bounded wait past which a task waits in the busy delay
queue, a failure's retry queued in its round's delay queue before the attempt is recorded, a
session leased or already sent past, disabling, and the consumer's overall cap."""

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.broker import DEFAULT_EXCHANGE, OutboundMessage
from chargehook.plumbing.consume import ConcurrentConsumer
from chargehook.plumbing.memory_broker import MemoryBroker
from chargehook.plumbing.metrics import Metrics
from chargehook.plumbing.settings import Settings, load_settings
from chargehook.schemas import DeliveryTask
from chargehook.webhooks.deliveries import Pending
from chargehook.webhooks.delivering import Deliverer
from chargehook.webhooks.tasks import DELIVERY_QUEUE, delay_queues, queue_now, wait_queue
from chargehook.workers import ALL_QUEUES
from chargehook.workers.notify.deliverer import DeliveryConsumer
from tests.unit.fake_ledger import FakeLedger, Receiver

BUSY_QUEUE = "chargehook.delivery.wait.50"  # retry_busy_delay 0.05 s
# Two rounds of retries, 0.2 s and 0.4 s, each held at 0.9, 1.0 and 1.1 of its step.
ROUND_QUEUES = {
    1: {wait_queue(ms) for ms in (180, 200, 220)},
    2: {wait_queue(ms) for ms in (360, 400, 440)},
}
DISABLE_AFTER = timedelta(seconds=60)
task_decoder = msgspec.json.Decoder(DeliveryTask)


def settings(**overrides: int) -> Settings:
    values = {
        "delivery_per_subscription": "2",
        "delivery_concurrency": "64",
        "retry_schedule": "0.2,0.4",
        "retry_busy_delay": "0.05",
        "disable_after": str(DISABLE_AFTER.total_seconds()),
    }
    return load_settings({}, values | {name: str(value) for name, value in overrides.items()})


class RecordingBroker(MemoryBroker):
    """The in-process broker, keeping every delivery task published (and noting it in the
    ledger's journal, so a test sees a publish's place among the ledger's writes)."""

    def __init__(self, journal: list[str]) -> None:
        super().__init__()
        self.journal = journal
        self.published: list[tuple[str, str, DeliveryTask]] = []

    async def publish(
        self, exchange: str, routing_key: str, message: OutboundMessage, mandatory: bool = True
    ) -> None:
        self.published.append((exchange, routing_key, task_decoder.decode(message.body)))
        self.journal.append(f"publish {routing_key}")
        await super().publish(exchange, routing_key, message, mandatory)

    def waiting_in(self, queue: str) -> list[DeliveryTask]:
        """The tasks sent to wait in the delay queue `queue`."""
        return [task for exchange, key, task in self.published if (exchange, key) == ("", queue)]


@dataclass
class Rig:
    settings: Settings
    ledger: FakeLedger
    broker: RecordingBroker
    receiver: Receiver
    deliverer: Deliverer
    metrics: Metrics
    journal: list[str] = field(default_factory=list)

    def tasks(self, subscription_id: str, count: int) -> list[DeliveryTask]:
        """`count` one-delivery tasks to the subscription, each of a session of its own."""
        return [
            DeliveryTask(delivery_ids=[self.ledger.add_delivery(subscription_id, f"s{n}", "p1")])
            for n in range(count)
        ]


async def rig(**overrides: int) -> Rig:
    s = settings(**overrides)
    journal: list[str] = []
    ledger, broker = FakeLedger(journal), RecordingBroker(journal)
    await broker.declare(ALL_QUEUES, delay_queues(s))
    receiver, metrics = Receiver(), every_metric()
    deliverer = Deliverer(s, ledger, broker, metrics, receiver.post)
    return Rig(s, ledger, broker, receiver, deliverer, metrics, journal)


async def until(condition: Callable[[], bool], within: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {within}s")
        await asyncio.sleep(0.005)


@asynccontextmanager
async def consuming(rig: Rig) -> AsyncIterator[None]:
    """The deliverer's consumer on the rig's broker, as `worker notify` runs it."""
    stop = asyncio.Event()
    consumer = ConcurrentConsumer(rig.broker, DeliveryConsumer(rig.deliverer), rig.metrics)
    running = asyncio.create_task(consumer.run(stop))
    try:
        yield
    finally:
        for gate in rig.receiver.gates.values():  # the consumer drains what is in flight
            gate.set()
        stop.set()
        await asyncio.wait_for(running, 5)


async def test_one_slow_subscriber_holds_its_own_slots_only() -> None:
    r = await rig(delivery_per_subscription=2, delivery_concurrency=6)
    r.ledger.add_subscription("slow")
    r.ledger.add_subscription("fast")
    slow_gate = r.receiver.hold("slow")
    slow, fast = r.tasks("slow", 8), r.tasks("fast", 3)
    async with consuming(r):
        for task in [*slow, *fast]:
            await queue_now(r.broker, task)
        # Two of slow's in flight, two waiting for them, the rest in the busy queue: three of
        # the six consumer slots stay free, and fast's tasks go through them.
        await until(lambda: len(r.receiver.delivered("fast")) == 3)
        await until(lambda: r.receiver.in_flight["slow"] == 2)
        assert r.receiver.delivered("slow") == []
        assert r.broker.waiting_in(BUSY_QUEUE)
        assert r.ledger.status([i for t in fast for i in t.ids]) == ["succeeded"] * 3

        slow_gate.set()
        slow_ids = [i for t in slow for i in t.ids]
        await until(lambda: r.ledger.status(slow_ids) == ["succeeded"] * 8)
    assert r.receiver.most_in_flight["slow"] == 2
    assert sorted(r.receiver.delivered("slow")) == sorted(slow_ids)  # each POSTed once


async def test_past_the_bounded_wait_a_task_waits_in_the_busy_queue() -> None:
    r = await rig(delivery_per_subscription=2)
    r.ledger.add_subscription("sub")
    gate = r.receiver.hold("sub")
    *held, extra = r.tasks("sub", 5)
    holding = [asyncio.create_task(r.deliverer.deliver_task(task)) for task in held]
    await until(lambda: r.receiver.in_flight["sub"] == 2 and r.deliverer.waiting["sub"] == 2)

    await asyncio.wait_for(r.deliverer.deliver_task(extra), 1)  # does not wait for a slot
    assert r.broker.published == [(DEFAULT_EXCHANGE, BUSY_QUEUE, extra)]
    assert r.ledger.deliveries[extra.ids[0]].attempts == []
    assert r.ledger.status(extra.ids) == ["pending"]
    # After the busy delay the broker hands it back to the deliverer's queue, the same round.
    async with r.broker.consume(DELIVERY_QUEUE, 1) as incoming:
        back = await asyncio.wait_for(anext(aiter(incoming)), 1)
        assert task_decoder.decode(back.body) == extra
        await back.ack()

    gate.set()
    await asyncio.gather(*holding)
    assert r.receiver.most_in_flight["sub"] == 2
    assert len(r.receiver.calls) == 4


@pytest.mark.parametrize("failed_round", [1, 2])
async def test_a_failure_queues_the_next_round_before_it_is_recorded(failed_round: int) -> None:
    r = await rig()
    r.ledger.add_subscription("sub")
    r.receiver.statuses["sub"] = 500
    ids = [r.ledger.add_delivery("sub", "s1", "p1"), r.ledger.add_delivery("sub", "s2", "p1")]

    await r.deliverer.deliver_task(DeliveryTask(delivery_ids=ids, round=failed_round))

    [(exchange, queue, retry)] = r.broker.published
    assert exchange == DEFAULT_EXCHANGE and queue in ROUND_QUEUES[failed_round]
    assert retry == DeliveryTask(delivery_ids=ids, round=failed_round + 1, subscription_id="sub")
    assert r.journal == ["claim", f"publish {queue}", "record pending"]
    assert r.ledger.status(ids) == ["pending", "pending"]
    for i in ids:
        stored = r.ledger.deliveries[i]
        [attempt] = stored.attempts
        assert attempt.status_code == 500
        delay_ms = int(queue.removeprefix("chargehook.delivery.wait."))
        assert stored.next_attempt_at == attempt.attempted_at + timedelta(milliseconds=delay_ms)
    assert r.ledger.leased() == 0
    assert r.metrics.value("chargehook_deliveries_total", outcome="retrying") == 2


async def test_a_failure_of_the_last_round_fails_with_no_retry() -> None:
    r = await rig()
    r.ledger.add_subscription("sub")
    r.receiver.statuses["sub"] = 503
    ids = [r.ledger.add_delivery("sub", "s1", "p1")]

    await r.deliverer.deliver_task(DeliveryTask(delivery_ids=ids, round=3))  # the schedule has 2

    assert r.broker.published == []
    assert r.ledger.status(ids) == ["failed"]
    assert r.ledger.deliveries[ids[0]].next_attempt_at is None
    assert r.ledger.subscriptions["sub"].enabled  # its last success is recent


async def test_410_gone_disables_the_subscription_and_queues_no_retry() -> None:
    r = await rig()
    r.ledger.add_subscription("sub")
    r.receiver.statuses["sub"] = 410
    ids = [r.ledger.add_delivery("sub", "s1", "p1")]

    await r.deliverer.deliver_task(DeliveryTask(delivery_ids=ids))

    assert r.broker.published == []
    assert r.ledger.status(ids) == ["failed"]
    subscription = r.ledger.subscriptions["sub"]
    assert not subscription.enabled
    assert subscription.disabled_reason == "the endpoint answered 410 Gone"
    assert r.metrics.value("chargehook_subscriptions_disabled_total") == 1


async def test_no_success_for_too_long_disables_and_its_retry_then_fails_unsent() -> None:
    r = await rig()
    long_ago = datetime.now(UTC) - DISABLE_AFTER - timedelta(seconds=1)
    r.ledger.add_subscription("sub", created_at=long_ago)
    r.ledger.add_subscription("recent")
    r.receiver.default_status = 500
    ids = [r.ledger.add_delivery("sub", "s1", "p1")]
    recent = [r.ledger.add_delivery("recent", "s1", "p1")]

    await r.deliverer.deliver_task(DeliveryTask(delivery_ids=ids))
    await r.deliverer.deliver_task(DeliveryTask(delivery_ids=recent))

    subscription = r.ledger.subscriptions["sub"]
    assert not subscription.enabled
    assert subscription.disabled_reason == "no successful delivery for too long"
    assert r.ledger.subscriptions["recent"].enabled
    assert r.metrics.value("chargehook_subscriptions_disabled_total") == 1
    # Its retry was queued before the attempt was judged; when it comes back it is not sent.
    [retry] = [task for _, _, task in r.broker.published if task.ids == ids]
    await r.deliverer.deliver_task(retry)
    assert r.ledger.status(ids) == ["failed"]
    assert r.ledger.deliveries[ids[0]].error == "subscription disabled"
    assert len(r.receiver.delivered("sub")) == 1


async def test_a_leased_session_waits_and_an_older_state_is_superseded() -> None:
    r = await rig()
    r.ledger.add_subscription("sub")
    gate = r.receiver.hold("sub")
    first = DeliveryTask(delivery_ids=[r.ledger.add_delivery("sub", "s1", "p2")])
    going = asyncio.create_task(r.deliverer.deliver_task(first))
    await until(lambda: r.receiver.in_flight["sub"] == 1)

    # The same session while the first request holds its lease: the same round, later.
    newer = DeliveryTask(delivery_ids=[r.ledger.add_delivery("sub", "s1", "p3")], round=2)
    await r.deliverer.deliver_task(newer)
    again = DeliveryTask(delivery_ids=newer.ids, round=2, subscription_id="sub")
    assert r.broker.published == [(DEFAULT_EXCHANGE, BUSY_QUEUE, again)]

    gate.set()
    await going
    # An older state than the one sent never follows it.
    older = DeliveryTask(delivery_ids=[r.ledger.add_delivery("sub", "s1", "p1")])
    await r.deliverer.deliver_task(older)
    await r.deliverer.deliver_task(newer)
    assert r.ledger.status([*first.ids, *older.ids, *newer.ids]) == [
        "succeeded",
        "superseded",
        "succeeded",
    ]
    assert r.receiver.delivered("sub") == [*first.ids, *newer.ids]
    assert r.metrics.value("chargehook_deliveries_total", outcome="superseded") == 1


async def test_the_consumer_runs_at_most_delivery_concurrency_at_once() -> None:
    r = await rig(delivery_concurrency=3, delivery_per_subscription=10)
    subscribers = ("a", "b", "c")
    gates = []
    for name in subscribers:
        r.ledger.add_subscription(name)
        gates.append(r.receiver.hold(name))
    tasks = [task for name in subscribers for task in r.tasks(name, 4)]
    async with consuming(r):
        for task in tasks:
            await queue_now(r.broker, task)
        await until(lambda: r.receiver.total_in_flight() == 3)
        for _ in range(50):  # every chance to start a fourth
            await asyncio.sleep(0)
        assert r.receiver.total_in_flight() == 3
        assert r.receiver.calls == []

        for gate in gates:
            gate.set()
        ids = [i for task in tasks for i in task.ids]
        await until(lambda: r.ledger.status(ids) == ["succeeded"] * 12)
    assert r.receiver.most_in_flight_overall == 3
    assert len(r.receiver.calls) == 12
    assert r.broker.waiting_in(BUSY_QUEUE) == []


@pytest.mark.parametrize(("names_its_subscription", "reads"), [(True, 1), (False, 2)])
async def test_a_task_naming_its_subscription_is_claimed_without_reading_its_deliveries_first(
    monkeypatch: pytest.MonkeyPatch, names_its_subscription: bool, reads: int
) -> None:
    r = await rig()
    r.ledger.add_subscription("sub")
    ids = [r.ledger.add_delivery("sub", "s1", "p1")]
    read = r.ledger.pending

    async def journaled_read(wanted: Sequence[str]) -> list[Pending]:
        r.journal.append("read")
        return await read(wanted)

    monkeypatch.setattr(r.ledger, "pending", journaled_read)
    subscription = "sub" if names_its_subscription else None
    await r.deliverer.deliver_task(DeliveryTask(delivery_ids=ids, subscription_id=subscription))

    # the claim reads them; a task of an earlier version is read once more before, for whose
    assert r.journal.count("read") == reads
    assert r.ledger.status(ids) == ["succeeded"]
    assert r.receiver.delivered("sub") == ids
