"""The fan-out on the in-process broker and a fake of its store (no PostgreSQL): which billed
events reach which subscriptions, tasks of each subscription's batch size, and a redelivered
batch that queues nothing twice (docs/delivery.md)."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast

import msgspec

from chargehook.plumbing.broker import DELIVERY_EXCHANGE
from chargehook.plumbing.database import Pool
from chargehook.schemas import DeliveryTask, Subscription
from chargehook.webhooks.deliveries import NewDelivery, delivery_id
from chargehook.webhooks.fan_out import fan_out
from chargehook.webhooks.payload import BilledEvent, read_billed
from chargehook.webhooks.subscription_cache import SubscriptionCache
from lab import bodies
from tests.support import RecordingBroker

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class FakeDeliveries:
    """The deliveries table as the fan-out sees it: a delivery stored once per id; queued ones
    are not handed back to queue again."""

    def __init__(self) -> None:
        self.stored: dict[str, NewDelivery] = {}
        self.queued_ids: set[str] = set()

    async def create(self, new: Sequence[NewDelivery]) -> set[str]:
        for delivery in new:
            self.stored.setdefault(delivery.id, delivery)
        return {d.id for d in new if d.id not in self.queued_ids}

    async def queued(self, ids: Sequence[str]) -> None:
        self.queued_ids |= set(ids)


def subscription(
    sid: str,
    statuses: list[str] | None = None,
    providers: list[str] | None = None,
    batch_size: int | None = None,
) -> Subscription:
    return msgspec.convert(
        {
            "id": sid, "url": "http://127.0.0.1:9/hook", "statuses": statuses,
            "providers": providers, "description": None, "batch_size": batch_size,
            "enabled": True, "disabled_reason": None, "created_at": NOW, "updated_at": NOW,
            "last_success_at": None,
        },
        Subscription,
    )  # fmt: skip


def holding(*subscriptions: Subscription) -> SubscriptionCache:
    """A cache already loaded with these; it never needs its pool here."""
    cache = SubscriptionCache(cast(Pool, None))
    cache.current = list(subscriptions)
    cache.by_id = {s.id: s for s in subscriptions}
    return cache


def billed(provider: str, session_id: str, status: str) -> BilledEvent:
    return read_billed(bodies.billed(provider, bodies.encode(bodies.item(session_id, status))).body)


def tasks_of(broker: RecordingBroker) -> list[list[str]]:
    return [
        msgspec.json.decode(message.body, type=DeliveryTask).delivery_ids
        for exchange, _, message in broker.published
        if exchange == DELIVERY_EXCHANGE
    ]


async def test_each_event_goes_to_each_matching_subscription_only() -> None:
    every = subscription("sub_every")
    finished_only = subscription("sub_finished", statuses=["FINISHED"])
    emt_only = subscription("sub_emt", providers=["emt"])
    store, broker = FakeDeliveries(), RecordingBroker()
    batch = [billed("repsol", "s-1", "IN_PROGRESS"), billed("repsol", "s-1", "FINISHED")]
    queued = await fan_out(store, broker, holding(every, finished_only, emt_only), batch, 10)
    assert queued == 3
    reached = sorted((d.subscription_id, d.session_id, d.event_id) for d in store.stored.values())
    events = [b.envelope.event_id for b in batch]
    assert reached == sorted(
        [("sub_every", "s-1", events[0]), ("sub_every", "s-1", events[1]),
         ("sub_finished", "s-1", events[1])]
    )  # fmt: skip
    assert sorted(len(task) for task in tasks_of(broker)) == [1, 2]  # one task per subscription
    assert store.queued_ids == set(store.stored)


async def test_tasks_carry_at_most_the_subscriptions_batch_size() -> None:
    small = subscription("sub_small", batch_size=2)
    default = subscription("sub_default")
    store, broker = FakeDeliveries(), RecordingBroker()
    batch = [billed("repsol", f"s-{n}", "FINISHED") for n in range(5)]
    await fan_out(store, broker, holding(small, default), batch, 4)
    sizes = {
        sid: sorted(len(t) for t in tasks_of(broker) if t[0] in ids)
        for sid, ids in (
            (s, {delivery_id(s, "repsol", b.envelope.event_id) for b in batch})
            for s in ("sub_small", "sub_default")
        )
    }
    assert sizes == {"sub_small": [1, 2, 2], "sub_default": [1, 4]}


async def test_a_redelivered_batch_queues_nothing_twice() -> None:
    store, broker = FakeDeliveries(), RecordingBroker()
    cache = holding(subscription("sub_every"))
    batch = [billed("repsol", "s-again", "FINISHED")]
    assert await fan_out(store, broker, cache, batch, 10) == 1
    assert await fan_out(store, broker, cache, batch, 10) == 0
    assert len(tasks_of(broker)) == 1 and len(store.stored) == 1


async def test_no_subscription_matching_stores_and_queues_nothing() -> None:
    store, broker = FakeDeliveries(), RecordingBroker()
    cache = holding(subscription("sub_emt", providers=["emt"]))
    assert await fan_out(store, broker, cache, [billed("repsol", "s", "FINISHED")], 10) == 0
    assert store.stored == {} and broker.published == []
