"""persist: every event into the history once, each session's current state by SPEC §4's order."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec
import structlog

from chargehook.plumbing.broker import EVENTS_EXCHANGE, Inbound, QueueSpec
from chargehook.plumbing.database import Pool
from chargehook.plumbing.errors import RejectMessage
from chargehook.schemas import Envelope, Session
from chargehook.sessions.order import OrderKey, SessionRef, latest_per_session, order_key

QUEUE = QueueSpec("chargehook.persist", EVENTS_EXCHANGE)
log = structlog.get_logger("chargehook.persist")
envelope_decoder = msgspec.json.Decoder(Envelope)
session_decoder = msgspec.json.Decoder(Session)

INSERT_EVENTS = """
INSERT INTO session_events
    (provider, event_id, session_id, status, received_at, updated_at, body)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
    $7::json[])
ON CONFLICT (provider, event_id) DO NOTHING
"""

UPSERT_SESSIONS = """
INSERT INTO sessions AS s
    (provider, session_id, event_id, status, terminal, updated_at, lifecycle_rank,
     received_at, body)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::timestamptz[],
    $7::int2[], $8::timestamptz[], $9::json[])
ON CONFLICT (provider, session_id) DO UPDATE SET
    event_id = EXCLUDED.event_id, status = EXCLUDED.status, terminal = EXCLUDED.terminal,
    updated_at = EXCLUDED.updated_at, lifecycle_rank = EXCLUDED.lifecycle_rank,
    received_at = EXCLUDED.received_at, body = EXCLUDED.body
WHERE (EXCLUDED.terminal, EXCLUDED.updated_at, EXCLUDED.lifecycle_rank, EXCLUDED.event_id)
    > (s.terminal, s.updated_at, s.lifecycle_rank, s.event_id)
"""


@dataclass(frozen=True)
class Event:
    provider: str
    event_id: str
    session_id: str
    status: str
    received_at: datetime
    key: OrderKey
    body: str

    def ordering(self) -> tuple[SessionRef, OrderKey]:
        return (self.provider, self.session_id), self.key


def read_event(body: bytes) -> Event:
    try:
        envelope = envelope_decoder.decode(body)
        session = session_decoder.decode(envelope.session)
    except msgspec.MsgspecError as exc:
        raise RejectMessage(f"not a valid session event: {exc}") from None
    key = order_key(session.status, session.updatedAt, envelope.received_at, envelope.event_id)
    return Event(
        envelope.provider,
        envelope.event_id,
        session.id,
        session.status,
        envelope.received_at,
        key,
        bytes(envelope.session).decode(),
    )


@dataclass
class PersistWorker:
    pool: Pool
    prefetch: int
    batch_size: int
    name: str = "persist"
    queue: QueueSpec = QUEUE

    def decode(self, message: Inbound) -> Event:
        return read_event(message.body)

    async def handle(self, batch: Sequence[Event]) -> None:
        latest = latest_per_session(batch, Event.ordering)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(INSERT_EVENTS, *_columns(batch, _history_row))
            await conn.execute(UPSERT_SESSIONS, *_columns(latest, _state_row))
        for event in batch:
            log.debug(
                "event stored",
                provider=event.provider,
                session_id=event.session_id,
                event_id=event.event_id,
                status=event.status,
            )


Row = tuple[object, ...]


def _history_row(e: Event) -> Row:
    return (e.provider, e.event_id, e.session_id, e.status, e.received_at, e.key.updated_at, e.body)


def _state_row(e: Event) -> Row:
    k = e.key
    return (
        e.provider, e.session_id, e.event_id, e.status, k.terminal, k.updated_at,
        k.lifecycle_rank, e.received_at, e.body,
    )  # fmt: skip


def _columns(events: Sequence[Event], row: Callable[[Event], Row]) -> list[list[object]]:
    """Rows to one array per column, for `unnest`: one round trip whatever the batch size."""
    return [list(column) for column in zip(*map(row, events), strict=True)]
