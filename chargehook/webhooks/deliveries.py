"""The deliveries, delivery_attempts and delivery_cursors tables: the delivery log and each
subscriber's place per session. The decisions are chargehook.webhooks.lifecycle's."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from chargehook.plumbing.database import Connection, Pool
from chargehook.schemas import Attempt, Delivery, DeliveryStatus
from chargehook.webhooks import lifecycle
from chargehook.webhooks.lifecycle import AttemptResult, Claim

# A delivery holds its (subscriber, session) lease at most this long: longer than one attempt.
LEASE = "30 seconds"


def delivery_id(subscription_id: str, event_id: str) -> str:
    """Stable across retries and replays: the `webhook-id` receivers deduplicate on."""
    return "msg_" + hashlib.sha256(f"{subscription_id}\n{event_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Pending:
    id: str
    subscription_id: str
    provider: str
    session_id: str
    position: str
    payload: bytes
    status: str
    url: str
    enabled: bool


async def create(
    conn: Connection,
    subscription_id: str,
    provider: str,
    session_id: str,
    event_id: str,
    position: str,
    payload: bytes,
) -> str:
    """Idempotent on (subscription, event): a redelivered billed event adds nothing."""
    new_id = delivery_id(subscription_id, event_id)
    await conn.execute(
        "INSERT INTO deliveries (id, subscription_id, provider, session_id, event_id, position,"
        " payload, status) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')"
        " ON CONFLICT (subscription_id, event_id) DO NOTHING",
        new_id,
        subscription_id,
        provider,
        session_id,
        event_id,
        position,
        payload.decode(),
    )
    return new_id


async def load(conn: Pool | Connection, delivery: str) -> Pending | None:
    row = await conn.fetchrow(
        "SELECT d.id, d.subscription_id, d.provider, d.session_id, d.position, d.payload::text,"
        " d.status, s.url, s.enabled FROM deliveries d JOIN subscriptions s"
        " ON s.id = d.subscription_id WHERE d.id = $1",
        delivery,
    )
    if row is None:
        return None
    return Pending(
        id=row["id"],
        subscription_id=row["subscription_id"],
        provider=row["provider"],
        session_id=row["session_id"],
        position=row["position"],
        payload=row["payload"].encode(),
        status=row["status"],
        url=row["url"],
        enabled=row["enabled"],
    )


async def claim(conn: Connection, d: Pending) -> Claim:
    """Take the (subscriber, session) lease if lifecycle.claim says the delivery may go."""
    await conn.execute(
        "INSERT INTO delivery_cursors (subscription_id, provider, session_id) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING",
        d.subscription_id,
        d.provider,
        d.session_id,
    )
    row = await conn.fetchrow(
        "SELECT sent_position, lease_until > now() AS leased"
        " FROM delivery_cursors WHERE subscription_id = $1 AND provider = $2 AND session_id = $3"
        " FOR UPDATE",
        d.subscription_id,
        d.provider,
        d.session_id,
    )
    assert row is not None
    decision = lifecycle.claim(row["sent_position"], bool(row["leased"]), d.position)
    if decision == "superseded":
        await _set_status(conn, d.id, "superseded", None)
    if decision != "go":
        return decision
    await conn.execute(
        f"UPDATE delivery_cursors SET lease_delivery = $4, lease_until = now() + interval '{LEASE}'"
        " WHERE subscription_id = $1 AND provider = $2 AND session_id = $3",
        d.subscription_id,
        d.provider,
        d.session_id,
        d.id,
    )
    return "go"


async def record(
    conn: Connection, d: Pending, result: AttemptResult, next_attempt_at: datetime | None
) -> tuple[int, DeliveryStatus]:
    """Store the attempt, move the delivery on, release the lease; the attempt's number and the
    delivery's status back."""
    attempt: int = await conn.fetchval(
        "UPDATE deliveries SET attempts = attempts + 1, updated_at = now() WHERE id = $1"
        " RETURNING attempts",
        d.id,
    )
    await conn.execute(
        "INSERT INTO delivery_attempts (delivery_id, attempt, attempted_at, status_code,"
        " latency_ms, error_kind, response_snippet) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        d.id,
        attempt,
        result.attempted_at,
        result.status_code,
        result.latency_ms,
        result.error_kind,
        (result.snippet or "")[: lifecycle.SNIPPET_CHARS] or None,
    )
    status = lifecycle.status_after(result, retry_queued=next_attempt_at is not None)
    await _set_status(conn, d.id, status, result.error_kind, next_attempt_at)
    # Sent counts, not only delivered: after a newer state reached the receiver, even as a
    # failed attempt, an older one must not follow it.
    await conn.execute(
        "UPDATE delivery_cursors SET lease_delivery = NULL, lease_until = NULL,"
        " sent_position = GREATEST(sent_position, $4)"
        " WHERE subscription_id = $1 AND provider = $2 AND session_id = $3",
        d.subscription_id,
        d.provider,
        d.session_id,
        d.position,
    )
    return attempt, status


async def fail_without_attempt(conn: Pool | Connection, delivery: str, reason: str) -> None:
    await _set_status(conn, delivery, "failed", reason)


async def _set_status(
    conn: Pool | Connection,
    delivery: str,
    status: DeliveryStatus,
    error: str | None,
    next_attempt_at: datetime | None = None,
) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = $2, last_error = $3, next_attempt_at = $4,"
        " updated_at = now() WHERE id = $1",
        delivery,
        status,
        error,
        next_attempt_at,
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
