"""Storing a batch of accepted events: every event into the history once and each session's
current state moved, in one statement (docs/ordering.md)."""

from collections.abc import Sequence

import structlog

from chargehook.plumbing.database import Pool
from chargehook.sessions.events import SessionEvent
from chargehook.sessions.store import store_events

log = structlog.get_logger("chargehook.persist")


async def store_batch(pool: Pool, batch: Sequence[SessionEvent]) -> None:
    await store_events(pool, batch)
    for event in batch:
        log.debug("event stored", status=event.session.status, **event.log_context)
