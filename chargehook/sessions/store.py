"""The admin reads: the only SQL of the ingest process."""

import msgspec

from chargehook.billing.store import read_session_bill
from chargehook.plumbing.database import Pool
from chargehook.schemas import SessionState, StoredEvent
from chargehook.sessions.order import order_key

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


async def session_state(pool: Pool, provider: str, session_id: str) -> SessionState | None:
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
        billing=await read_session_bill(pool, provider, session_id),
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
