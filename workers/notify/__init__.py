"""notify: every billed event to every matching subscriber, signed, retried from the broker,
never an older state of a session after a newer one (docs/delivery.md).

Two consumers make the worker kind: the fan-out (`fanout.py`) reads `chargehook.notify` (bound
to `chargehook.billed`) and hands each batch to `webhooks.fan_out`, which matches each event
against the subscriptions held in memory (`webhooks.subscription_cache`), records one delivery
per match and queues a task for it; the deliverer (`deliverer.py`) reads the tasks and hands
each to `webhooks.delivering`, which attempts it and queues a failure again in a delay queue,
so retries live in RabbitMQ, not in this process.
"""

import asyncio
from dataclasses import dataclass

from chargehook.plumbing.broker import Broker
from chargehook.plumbing.consume import ConcurrentConsumer, Consumer
from chargehook.plumbing.database import Pool, answering
from chargehook.plumbing.metrics import Metrics
from chargehook.plumbing.settings import Settings
from chargehook.webhooks.deliveries import DeliveryTable
from chargehook.webhooks.delivering import Deliverer
from chargehook.webhooks.ledger import PostgresLedger
from chargehook.webhooks.subscription_cache import SubscriptionCache
from chargehook.webhooks.tasks import DELIVERY_QUEUE
from chargehook.workers.notify.deliverer import DeliveryConsumer
from chargehook.workers.notify.fanout import FANOUT_QUEUE, FanOut

QUEUES = (FANOUT_QUEUE, DELIVERY_QUEUE)
__all__ = ["QUEUES", "DeliveryConsumer", "FanOut", "NotifyService"]


@dataclass
class NotifyService:
    """The notify worker kind: the fan-out and the deliverer, side by side in one process."""

    settings: Settings
    pool: Pool
    broker: Broker
    metrics: Metrics

    def __post_init__(self) -> None:
        self.cache = SubscriptionCache(self.pool)

    async def run(self, stop: asyncio.Event) -> None:
        s, cache = self.settings, self.cache
        fanout = FanOut(
            DeliveryTable(self.pool),
            self.broker,
            cache,
            s.notify_prefetch,
            s.notify_batch_size,
            s.delivery_batch_size,
        )
        deliverer = Deliverer(s, PostgresLedger(self.pool, cache), self.broker, self.metrics)
        probe = answering(self.pool)
        async with cache.kept_fresh(), deliverer.http_client():
            await asyncio.gather(
                Consumer(self.broker, fanout, self.metrics, probe).run(stop),
                ConcurrentConsumer(
                    self.broker, DeliveryConsumer(deliverer), self.metrics, probe
                ).run(stop),
            )
