"""The fan-out: each billed event to one delivery per matching subscription, then queued."""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from chargehook.plumbing.broker import BILLED_EXCHANGE, Broker, Inbound, QueueSpec
from chargehook.plumbing.database import Pool
from chargehook.schemas import DeliveryTask
from chargehook.webhooks import deliveries, tasks
from chargehook.webhooks.payload import Billed, payload, read_billed
from chargehook.workers.notify.cache import SubscriptionCache

FANOUT_QUEUE = QueueSpec("chargehook.notify", BILLED_EXCHANGE)


@dataclass
class FanOut:
    pool: Pool
    broker: Broker
    cache: SubscriptionCache
    prefetch: int
    batch_size: int
    name: str = "notify"
    queue: QueueSpec = FANOUT_QUEUE

    def decode(self, message: Inbound) -> Billed:
        return read_billed(message.body)

    async def handle(self, batch: Sequence[Billed]) -> None:
        await self.cache.fresh()
        queued: list[str] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for billed in batch:
                e, s = billed.envelope, billed.session
                body = payload(billed)
                for sub in self.cache.matching(s.status, e.provider):
                    queued.append(
                        await deliveries.create(
                            conn, sub.id, e.provider, s.id, e.event_id, billed.position, body
                        )
                    )
        # after commit: a task never names a delivery not stored
        await asyncio.gather(
            *(tasks.queue_now(self.broker, DeliveryTask(delivery_id=d)) for d in queued)
        )
