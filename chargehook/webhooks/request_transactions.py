"""A batch's two transactions around its request: claim before, record after."""

from collections.abc import Sequence
from datetime import datetime

from chargehook.plumbing.database import Pool
from chargehook.schemas import DeliveryStatus
from chargehook.webhooks import cursors, deliveries, delivery_states
from chargehook.webhooks.cursors import Claimed
from chargehook.webhooks.deliveries import Pending
from chargehook.webhooks.delivery_states import AttemptResult


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
    """Log the attempt on every delivery it carried, move them on, release their sessions."""
    status = delivery_states.status_after(result, retry_queued=retry_at is not None)
    async with pool.acquire() as conn, conn.transaction():
        attempt = await deliveries.record_attempt(
            conn, [d.id for d in sent], result, status, retry_at
        )
        await cursors.release(conn, sent)
    return attempt, status
