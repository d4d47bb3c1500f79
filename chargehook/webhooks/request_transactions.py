"""A batch's two transactions around its request: claim before, record after (one statement)."""

from collections.abc import Sequence
from datetime import datetime

from chargehook.plumbing.database import Pool
from chargehook.schemas import DeliveryStatus
from chargehook.webhooks import cursors, deliveries, delivery_states
from chargehook.webhooks.cursors import Claimed
from chargehook.webhooks.deliveries import Pending
from chargehook.webhooks.delivery_states import AttemptResult

# The attempt logged on each delivery it carried, which moves on, and their sessions' leases
# released (the place advanced again: a no-op but for a lease an earlier version took, which
# advanced nothing). One statement: one round trip, atomic without a transaction around it.
# The deliveries are locked before the cursors, as a claim locks them: the release's condition
# reads `moved`, which runs it to the end first.
RECORD = """
WITH moved AS (
    UPDATE deliveries SET attempts = attempts + 1, status = $2, last_error = $3,
        next_attempt_at = $4, updated_at = now()
    WHERE id = ANY($1::text[])
    RETURNING id, attempts),
released AS (
    UPDATE delivery_cursors c SET lease_delivery = NULL, lease_until = NULL,
        sent_position = GREATEST(c.sent_position, t.position)
    FROM unnest($10::text[], $11::text[], $12::text[]) AS t(provider, session_id, position)
    WHERE c.subscription_id = $9 AND c.provider = t.provider AND c.session_id = t.session_id
        AND (SELECT count(*) FROM moved) >= 0)
INSERT INTO delivery_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms,
    error_kind, response_snippet)
SELECT id, attempts, $5, $6, $7, $3, $8 FROM moved
RETURNING attempt
"""


async def claim(pool: Pool, ids: Sequence[str], holder: str) -> Claimed:
    """The batch's deliveries still pending, each sorted into go, busy or superseded; the ones
    that go hold their sessions' leases, the superseded ones are marked so."""
    async with pool.acquire() as conn, conn.transaction():
        batch = await deliveries.pending(conn, ids, lock=True)
        claimed = await cursors.take_leases(conn, batch, holder)
        if claimed.superseded:
            await deliveries.set_status(
                conn, [d.id for d in claimed.superseded], "superseded", None
            )
    return claimed


async def record(
    pool: Pool, sent: Sequence[Pending], result: AttemptResult, retry_at: datetime | None
) -> tuple[int, DeliveryStatus]:
    """Log the attempt on every delivery it carried, move them on, release their sessions; the
    attempt's number (the highest among them) and the status they moved to."""
    status = delivery_states.status_after(result, retry_queued=retry_at is not None)
    rows = await pool.fetch(
        RECORD,
        [d.id for d in sent],
        status,
        result.error_kind,
        retry_at,
        result.attempted_at,
        result.status_code,
        result.latency_ms,
        result.stored_snippet,
        sent[0].subscription_id,
        *cursors.newest(sent),
    )
    return max((row["attempt"] for row in rows), default=0), status
