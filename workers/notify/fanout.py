"""The fan-out: each billed event to one delivery per matching subscription, stored in one
statement per batch, then queued as tasks of up to the subscription's batch size."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from chargehook.plumbing.broker import BILLED_EXCHANGE, Broker, Inbound, QueueSpec
from chargehook.plumbing.database import Pool
from chargehook.schemas import DeliveryTask
from chargehook.webhooks import deliveries, tasks
from chargehook.webhooks.deliveries import NewDelivery
from chargehook.webhooks.payload import BilledEvent, item_payload, read_billed
from chargehook.workers.notify.cache import SubscriptionCache

FANOUT_QUEUE = QueueSpec("chargehook.notify", BILLED_EXCHANGE)
log = structlog.get_logger("chargehook.notify")


@dataclass
class FanOut:
    pool: Pool
    broker: Broker
    cache: SubscriptionCache
    prefetch: int
    batch_size: int
    default_delivery_batch: int
    name: str = "notify"
    queue: QueueSpec = FANOUT_QUEUE

    def decode(self, message: Inbound) -> BilledEvent:
        return read_billed(message.body)

    async def handle(self, batch: Sequence[BilledEvent]) -> None:
        await self.cache.fresh()
        new = [delivery for billed in batch for delivery in self.matches(billed)]
        async with self.pool.acquire() as conn, conn.transaction():
            queued = await deliveries.create(conn, new)
        # after commit: a task never names a delivery not stored
        groups: dict[str, list[str]] = {}
        for delivery in new:
            if delivery.id in queued:
                groups.setdefault(delivery.subscription_id, []).append(delivery.id)
        await asyncio.gather(
            *(
                tasks.queue_now(self.broker, DeliveryTask(delivery_ids=chunk))
                for subscription, ids in groups.items()
                for chunk in tasks.chunks(ids, self.delivery_batch(subscription))
            )
        )
        if queued:  # every task confirmed: a redelivery of this batch queues none again
            await deliveries.queued(self.pool, sorted(queued))
        log.debug("fanned out", events=len(batch), deliveries=len(queued))

    def matches(self, billed: BilledEvent) -> list[NewDelivery]:
        e, s = billed.envelope, billed.session
        subscribers = self.cache.matching(s.status, e.provider)
        if not subscribers:
            return []
        body = item_payload(billed)
        return [
            NewDelivery(sub.id, e.provider, s.id, e.event_id, billed.position, body, e.received_at)
            for sub in subscribers
        ]

    def delivery_batch(self, subscription_id: str) -> int:
        found = self.cache.by_id.get(subscription_id)
        return (found.batch_size if found else None) or self.default_delivery_batch
