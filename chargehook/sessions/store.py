"""The session_events and sessions tables: the history written once, the current state by the
order of docs/ordering.md, and the admin reads of both."""

from collections.abc import Sequence

import msgspec

from chargehook.plumbing.database import Pool, columns
from chargehook.schemas import SessionState, StoredEvent
from chargehook.sessions.events import SessionEvent
from chargehook.sessions.order import order_key, sql_newer

# Each session's state moves only to a greater key; `latest` holds at most one row a session.
UPSERT_LATEST = f"""
INSERT INTO sessions AS s
    (provider, session_id, event_id, status, terminal, updated_at, lifecycle_rank,
     received_at, body)
SELECT provider, session_id, event_id, status, terminal, updated_at, lifecycle_rank,
    received_at, body
FROM latest
ON CONFLICT (provider, session_id) DO UPDATE SET
    event_id = EXCLUDED.event_id, status = EXCLUDED.status, terminal = EXCLUDED.terminal,
    updated_at = EXCLUDED.updated_at, lifecycle_rank = EXCLUDED.lifecycle_rank,
    received_at = EXCLUDED.received_at, body = EXCLUDED.body
WHERE {sql_newer("EXCLUDED", "s")}
"""

# One statement, so one round trip and no transaction around it: the history rows are
# inserted, and of the ones that were new, each session's greatest (`rank` 0 is the greatest
# of its session in the batch, by the Python order) moves its state.
STORE_EVENTS = f"""
WITH batch AS (
    SELECT * FROM unnest(
        $1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[],
        $7::json[], $8::bool[], $9::int2[], $10::int4[])
    AS b (provider, event_id, session_id, status, received_at, updated_at, body, terminal,
        lifecycle_rank, rank)),
new AS (
    INSERT INTO session_events
        (provider, event_id, session_id, status, received_at, updated_at, body)
    SELECT provider, event_id, session_id, status, received_at, updated_at, body
    FROM batch ORDER BY provider, event_id
    ON CONFLICT (provider, event_id) DO NOTHING
    RETURNING provider, event_id),
latest AS (
    SELECT DISTINCT ON (provider, session_id) b.*
    FROM batch b JOIN new USING (provider, event_id)
    ORDER BY provider, session_id, rank)
{UPSERT_LATEST}"""

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


async def store_events(pool: Pool, batch: Sequence[SessionEvent]) -> None:
    """Every event into the history once; each session's state moves only to a greater event.

    One statement whatever the batch size; repeats and late events change nothing. Only an
    event new to the history moves its session: an event id already stored (a redelivery, or
    an Idempotency-Key reused for another item) keeps the first item it was stored with."""
    first = {(e.provider, e.event_id): e for e in reversed(batch)}  # the first of each id
    # greatest first within each session: the statement takes the first of them that is new
    ranked = sorted(first.values(), key=lambda e: ((e.provider, e.session.id), e.key))
    ranked.reverse()
    await pool.execute(STORE_EVENTS, *columns(_row(e, rank) for rank, e in enumerate(ranked)))


def _row(e: SessionEvent, rank: int) -> Row:
    s, k = e.session, e.key
    return (
        e.provider, e.event_id, s.id, s.status, e.received_at, k.updated_at, e.body, k.terminal,
        k.lifecycle_rank, rank,
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
