"""The fan-out's consumer: billed events read off `chargehook.notify` in batches and handed to
the webhooks room's fan_out."""

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from chargehook.plumbing.broker import BILLED_EXCHANGE, Broker, Inbound, QueueSpec
from chargehook.webhooks.fan_out import NewDeliveries, fan_out
from chargehook.webhooks.payload import BilledEvent, read_billed
from chargehook.webhooks.subscription_cache import SubscriptionCache

FANOUT_QUEUE = QueueSpec("chargehook.notify", BILLED_EXCHANGE)
log = structlog.get_logger("chargehook.notify")


@dataclass
class FanOut:
    store: NewDeliveries
    broker: Broker
    cache: SubscriptionCache
    prefetch: int
    batch_size: int
    default_delivery_batch: int
    name: str = "fanout"
    queue: QueueSpec = FANOUT_QUEUE

    def decode(self, message: Inbound) -> BilledEvent:
        return read_billed(message.body)

    async def handle(self, batch: Sequence[BilledEvent]) -> None:
        queued = await fan_out(
            self.store, self.broker, self.cache, batch, self.default_delivery_batch
        )
        log.debug("fanned out", events=len(batch), deliveries=queued)
