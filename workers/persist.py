"""persist: the worker kind that stores every event (`sessions.storing.store_batch`), reading
`chargehook.persist` in batches."""

from collections.abc import Sequence
from dataclasses import dataclass

from chargehook.plumbing.broker import EVENTS_EXCHANGE, Inbound, QueueSpec
from chargehook.plumbing.database import Pool
from chargehook.sessions.events import SessionEvent, read_event
from chargehook.sessions.storing import store_batch

QUEUE = QueueSpec("chargehook.persist", EVENTS_EXCHANGE)


@dataclass
class PersistWorker:
    pool: Pool
    prefetch: int
    batch_size: int
    name: str = "persist"
    queue: QueueSpec = QUEUE

    def decode(self, message: Inbound) -> SessionEvent:
        return read_event(message.body)

    async def handle(self, batch: Sequence[SessionEvent]) -> None:
        await store_batch(self.pool, batch)
