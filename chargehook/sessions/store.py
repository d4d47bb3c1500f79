"""The session_events and sessions tables: the history written once, the current state by the
order of docs/ordering.md, and the admin reads of both."""

from collections.abc import Callable, Sequence

import msgspec

from chargehook.plumbing.database import Connection, Pool, columns
from chargehook.schemas import SessionState, StoredEvent
from chargehook.sessions.events import SessionEvent
from chargehook.sessions.order import latest_per_session, order_key, sql_newer

INSERT_EVENTS = """
INSERT INTO session_events
    (provider, event_id, session_id, status, received_at, updated_at, body)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
    $7::json[])
ON CONFLICT (provider, event_id) DO NOTHING
RETURNING provider, event_id
"""

UPSERT_SESSIONS = f"""
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
WHERE {sql_newer("EXCLUDED", "s")}
"""

SESSION = """
SELECT s.event_id, s.status, s.updated_at, s.body::text AS body,
       (SELECT count(*) FROM session_events e
         WHERE e.provider = s.provider AND e.session_id = s.session_id) AS events
FROM sessions s WHERE s.provider = $1 AND s.session_id = $2
"""

EVENTS = """
SELECT event_id, status, received_at, updated_at, body::text AS body
FROM session_events WHERE provider = $1 AND session_id = $2
"""

STORED_ITEM = """
SELECT body::text FROM session_events WHERE provider = $1 AND event_id = $2
"""

Row = tuple[object, ...]
ToRow = Callable[[SessionEvent], Row]


async def store_events(conn: Connection, batch: Sequence[SessionEvent]) -> None:
    """Every event into the history once; each session's state moves only to a greater event.

    Two statements whatever the batch size; repeats and late events change nothing. Only an
    event new to the history moves its session: an event id already stored (a redelivery, or
    an Idempotency-Key reused for another item) keeps the first item it was stored with."""
    # Rows in one order (their keys'), so batches written side by side never deadlock.
    first = {(e.provider, e.event_id): e for e in reversed(batch)}  # the first of each id
    history = sorted(first.values(), key=lambda e: (e.provider, e.event_id))
    inserted = await conn.fetch(INSERT_EVENTS, *columns(map(_history_row, history)))
    new = [first[(row["provider"], row["event_id"])] for row in inserted]
    if not new:
        return
    latest = latest_per_session(new, lambda e: ((e.provider, e.session.id), e.key))
    latest.sort(key=lambda e: (e.provider, e.session.id))
    await conn.execute(UPSERT_SESSIONS, *columns(map(_state_row, latest)))


def _history_row(e: SessionEvent) -> Row:
    s, k = e.session, e.key
    return (e.provider, e.event_id, s.id, s.status, e.received_at, k.updated_at, e.body)


def _state_row(e: SessionEvent) -> Row:
    s, k = e.session, e.key
    return (
        e.provider, s.id, e.event_id, s.status, k.terminal, k.updated_at, k.lifecycle_rank,
        e.received_at, e.body,
    )  # fmt: skip


async def stored_item(pool: Pool, provider: str, event_id: str) -> bytes | None:
    """The provider's item as stored under this event id, if it is stored yet."""
    body: str | None = await pool.fetchval(STORED_ITEM, provider, event_id)
    return None if body is None else body.encode()


async def session_state(pool: Pool, provider: str, session_id: str) -> SessionState | None:
    """The current state, without its bill: billing owns bills (chargehook.billing.store)."""
    row = await pool.fetchrow(SESSION, provider, session_id)
    if row is None:
        return None
    return SessionState(
        provider=provider,
        id=session_id,
        status=row["status"],
        event_id=row["event_id"],
        updated_at=row["updated_at"],
        events=row["events"],
        session=msgspec.Raw(row["body"].encode()),
        billing=None,
    )


async def session_events(pool: Pool, provider: str, session_id: str) -> list[StoredEvent]:
    """Oldest first by the persist order, the same key that picks the current state."""
    rows = await pool.fetch(EVENTS, provider, session_id)
    events = [
        StoredEvent(
            event_id=row["event_id"],
            status=row["status"],
            received_at=row["received_at"],
            updated_at=row["updated_at"],
            session=msgspec.Raw(row["body"].encode()),
        )
        for row in rows
    ]
    return sorted(
        events, key=lambda e: order_key(e.status, e.updated_at, e.received_at, e.event_id)
    )
