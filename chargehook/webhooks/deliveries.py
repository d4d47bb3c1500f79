"""The deliveries and delivery_attempts tables: one row per event and subscriber, every attempt
of the request that carried it. The decisions are chargehook.webhooks.delivery_states's."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from chargehook.plumbing.database import Connection, Pool
from chargehook.schemas import Attempt, Delivery, DeliveryStatus


def delivery_id(subscription_id: str, provider: str, event_id: str) -> str:
    """Stable across retries and replays: a lone delivery's `webhook-id`. An event is named by
    its provider and its id: two providers may send the same Idempotency-Key."""
    text = f"{subscription_id}\n{provider}\n{event_id}"
    return "msg_" + hashlib.sha256(text.encode()).hexdigest()[:32]


def request_id(ids: Sequence[str]) -> str:
    """The `webhook-id` of a request carrying these deliveries, in whatever order: a lone
    delivery's own id, else a digest of them all; the same on every retry of the same batch,
    new when its content changes."""
    if len(ids) == 1:
        return ids[0]
    return "msg_" + hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class NewDelivery:
    subscription_id: str
    provider: str
    session_id: str
    event_id: str
    position: str
    payload: bytes  # one session object in the page's shape
    received_at: datetime

    @property
    def id(self) -> str:
        return delivery_id(self.subscription_id, self.provider, self.event_id)


@dataclass(frozen=True)
class Pending:
    """A delivery still to attempt, as its batch's request needs it."""

    id: str
    subscription_id: str
    provider: str
    session_id: str
    position: str
    payload: bytes
    received_at: datetime | None


CREATE = """
WITH new AS (
    INSERT INTO deliveries (id, subscription_id, provider, session_id, event_id, position,
        payload, received_at, status)
    SELECT *, 'pending' FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::json[], $8::timestamptz[])
    ON CONFLICT (subscription_id, provider, event_id) DO NOTHING
    RETURNING id)
SELECT id FROM new
UNION ALL
SELECT id FROM deliveries
WHERE id = ANY($1::text[]) AND status = 'pending' AND queued_at IS NULL
"""
QUEUED = """
UPDATE deliveries SET queued_at = now() WHERE id = ANY($1::text[]) AND queued_at IS NULL
"""
PENDING = """
SELECT id, subscription_id, provider, session_id, position, payload::text, received_at
FROM deliveries WHERE id = ANY($1::text[]) AND status = 'pending'
"""


async def create(conn: Pool | Connection, new: Sequence[NewDelivery]) -> set[str]:
    """Store new deliveries in one statement; the ids to queue: the new ones and any stored
    before whose task was never confirmed (a fan-out killed between its commit and its
    publishes). One already queued is not queued again (`queued`)."""
    if not new:
        return set()
    new = sorted(new, key=lambda d: d.id)  # one order, so batches side by side never deadlock
    columns = [
        [d.id for d in new],
        [d.subscription_id for d in new],
        [d.provider for d in new],
        [d.session_id for d in new],
        [d.event_id for d in new],
        [d.position for d in new],
        [d.payload.decode() for d in new],
        [d.received_at for d in new],
    ]
    return {row["id"] for row in await conn.fetch(CREATE, *columns)}


async def queued(pool: Pool, ids: Sequence[str]) -> None:
    """The broker confirmed these deliveries' tasks: a redelivered fan-out leaves them be."""
    await pool.execute(QUEUED, list(ids))


@dataclass(frozen=True)
class DeliveryTable:
    """The deliveries table as the fan-out uses it (`fan_out.NewDeliveries`)."""

    pool: Pool

    async def create(self, new: Sequence[NewDelivery]) -> set[str]:
        return await create(self.pool, new)  # one statement: atomic on its own

    async def queued(self, ids: Sequence[str]) -> None:
        await queued(self.pool, ids)


async def pending(conn: Pool | Connection, ids: Sequence[str], lock: bool = False) -> list[Pending]:
    """The deliveries among `ids` still pending, oldest position first; `lock` holds them for
    this transaction, so a second copy of a task waits and then finds them finished."""
    rows = await conn.fetch(PENDING + (" FOR UPDATE" if lock else ""), list(ids))
    found = [
        Pending(
            id=row["id"],
            subscription_id=row["subscription_id"],
            provider=row["provider"],
            session_id=row["session_id"],
            position=row["position"],
            payload=row["payload"].encode(),
            received_at=row["received_at"],
        )
        for row in rows
    ]
    return sorted(found, key=lambda d: d.position)


async def set_status(
    conn: Pool | Connection, ids: Sequence[str], status: DeliveryStatus, error: str | None
) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = $2, last_error = $3, next_attempt_at = NULL,"
        " updated_at = now() WHERE id = ANY($1::text[])",
        list(ids),
        status,
        error,
    )


async def log(
    pool: Pool, subscription_id: str, status: str | None, since: datetime | None, limit: int
) -> list[Delivery]:
    rows = await pool.fetch(
        "SELECT id, subscription_id, provider, session_id, event_id, position, status,"
        " next_attempt_at, last_error, created_at, updated_at FROM deliveries"
        " WHERE subscription_id = $1 AND ($2::text IS NULL OR status = $2)"
        " AND ($3::timestamptz IS NULL OR created_at >= $3)"
        " ORDER BY created_at DESC, id LIMIT $4",
        subscription_id,
        status,
        since,
        limit,
    )
    attempts = await _attempts(pool, [row["id"] for row in rows])
    return [Delivery(**dict(row), attempts=attempts.get(row["id"], [])) for row in rows]


async def _attempts(pool: Pool, ids: list[str]) -> dict[str, list[Attempt]]:
    rows = await pool.fetch(
        "SELECT delivery_id, attempt, attempted_at, status_code, latency_ms, error_kind,"
        " response_snippet FROM delivery_attempts WHERE delivery_id = ANY($1::text[])"
        " ORDER BY delivery_id, attempt",
        ids,
    )
    found: dict[str, list[Attempt]] = {}
    for row in rows:
        fields = dict(row)
        found.setdefault(fields.pop("delivery_id"), []).append(Attempt(**fields))
    return found


async def reopen(
    pool: Pool, subscription_id: str, delivery: str | None, since: datetime | None
) -> list[str]:
    """Mark one delivery (or every failed one since `since`) pending again, for a replay."""
    rows: list[asyncpg.Record] = await pool.fetch(
        "UPDATE deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now()"
        " WHERE subscription_id = $1 AND (($2::text IS NOT NULL AND id = $2)"
        " OR ($2::text IS NULL AND status = 'failed' AND created_at >= $3)) RETURNING id",
        subscription_id,
        delivery,
        since,
    )
    return [row["id"] for row in rows]
