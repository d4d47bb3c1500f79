"""Fanning out: each billed event to one delivery per matching subscription, stored in one
statement per batch, then queued as tasks of up to the subscription's batch size
(docs/delivery.md)."""

import asyncio
from collections.abc import Sequence
from typing import Protocol

from chargehook.plumbing.broker import Broker
from chargehook.schemas import DeliveryTask
from chargehook.webhooks import tasks
from chargehook.webhooks.deliveries import NewDelivery
from chargehook.webhooks.payload import BilledEvent, item_payload
from chargehook.webhooks.subscription_cache import SubscriptionCache


class NewDeliveries(Protocol):
    """Where the fan-out stores deliveries: `deliveries.DeliveryTable` on PostgreSQL."""

    async def create(self, new: Sequence[NewDelivery]) -> set[str]:
        """Store them, in one transaction; the ids to queue: the new ones and any stored before
        whose task was never confirmed."""

    async def queued(self, ids: Sequence[str]) -> None:
        """Their tasks were confirmed: a redelivered fan-out queues none of them again."""


async def fan_out(
    store: NewDeliveries,
    broker: Broker,
    cache: SubscriptionCache,
    batch: Sequence[BilledEvent],
    default_delivery_batch: int,
) -> int:
    """Store and queue the batch's deliveries; how many were queued."""
    await cache.fresh()
    new = [delivery for billed in batch for delivery in matches(cache, billed)]
    queued = await store.create(new)
    # after commit: a task never names a delivery not stored
    groups: dict[str, list[str]] = {}
    for delivery in new:
        if delivery.id in queued:
            groups.setdefault(delivery.subscription_id, []).append(delivery.id)
    await asyncio.gather(
        *(
            tasks.queue_now(broker, DeliveryTask(delivery_ids=chunk, subscription_id=subscription))
            for subscription, ids in groups.items()
            for chunk in tasks.chunks(
                ids, delivery_batch(cache, subscription, default_delivery_batch)
            )
        )
    )
    if queued:  # every task confirmed: a redelivery of this batch queues none again
        await store.queued(sorted(queued))
    return len(queued)


def matches(cache: SubscriptionCache, billed: BilledEvent) -> list[NewDelivery]:
    e, s = billed.envelope, billed.session
    subscribers = cache.matching(s.status, e.provider)
    if not subscribers:
        return []
    body = item_payload(billed)
    return [
        NewDelivery(sub.id, e.provider, s.id, e.event_id, billed.position, body, e.received_at)
        for sub in subscribers
    ]


def delivery_batch(cache: SubscriptionCache, subscription_id: str, default: int) -> int:
    found = cache.by_id.get(subscription_id)
    return (found.batch_size if found else None) or default
