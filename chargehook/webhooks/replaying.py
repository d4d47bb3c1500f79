"""Sending deliveries again: one delivery (a replay), or every failed delivery of a
subscription since a time (a recovery). Each is marked pending and queued at once, in tasks of
the subscription's batch size (docs/delivery.md)."""

from datetime import datetime

from chargehook.plumbing.broker import Broker
from chargehook.plumbing.database import Pool
from chargehook.schemas import DeliveryTask
from chargehook.webhooks import deliveries, subscriptions, tasks


async def replay(pool: Pool, broker: Broker, subscription_id: str, delivery_id: str) -> int:
    """How many went back: 1, or 0 when the subscription has no such delivery."""
    reopened = await deliveries.reopen(pool, subscription_id, delivery_id, None)
    await queue(broker, subscription_id, reopened, 1)
    return len(reopened)


async def recover(
    pool: Pool, broker: Broker, subscription_id: str, since: datetime, default_batch: int
) -> int | None:
    """How many failed deliveries since `since` went back; None when there is no such
    subscription."""
    subscription = await subscriptions.get(pool, subscription_id)
    if subscription is None:
        return None
    reopened = await deliveries.reopen(pool, subscription_id, None, since)
    await queue(broker, subscription_id, reopened, subscription.batch_size or default_batch)
    return len(reopened)


async def queue(
    broker: Broker, subscription_id: str, delivery_ids: list[str], batch_size: int
) -> None:
    for chunk in tasks.chunks(delivery_ids, batch_size):
        task = DeliveryTask(delivery_ids=chunk, subscription_id=subscription_id)
        await tasks.queue_now(broker, task, tag="replay")
