"""billing: the worker kind that bills every event (`billing.bill_events`), reading
`chargehook.billing` in batches."""

from collections.abc import Sequence
from dataclasses import dataclass

from chargehook.billing.bill_events import bill_events
from chargehook.plumbing.broker import EVENTS_EXCHANGE, Broker, Inbound, QueueSpec
from chargehook.plumbing.database import Pool
from chargehook.plumbing.metrics import Metrics
from chargehook.sessions.events import SessionEvent, read_event

QUEUE = QueueSpec("chargehook.billing", EVENTS_EXCHANGE)


@dataclass
class BillingWorker:
    pool: Pool
    broker: Broker
    metrics: Metrics
    prefetch: int
    batch_size: int
    name: str = "billing"
    queue: QueueSpec = QUEUE

    def decode(self, message: Inbound) -> SessionEvent:
        return read_event(message.body)

    async def handle(self, batch: Sequence[SessionEvent]) -> None:
        await bill_events(self.pool, self.broker, self.metrics, batch)
