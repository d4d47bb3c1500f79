"""persist: every event into the history once, each session's current state by its order."""

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from chargehook.plumbing.broker import EVENTS_EXCHANGE, Inbound, QueueSpec
from chargehook.plumbing.database import Pool
from chargehook.sessions.events import SessionEvent, read_event
from chargehook.sessions.store import store_events

QUEUE = QueueSpec("chargehook.persist", EVENTS_EXCHANGE)
log = structlog.get_logger("chargehook.persist")


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
        async with self.pool.acquire() as conn, conn.transaction():
            await store_events(conn, batch)
        for event in batch:
            log.debug("event stored", status=event.session.status, **event.log_context)
