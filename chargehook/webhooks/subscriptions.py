"""The subscriptions and subscription_secrets tables: subscribers, their filters and health,
and the secrets that sign for them (rotated with a grace period)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import asyncpg
import msgspec

from chargehook.plumbing.database import Connection, Pool
from chargehook.schemas import (
    NewSubscription,
    RotatedSecret,
    Subscription,
    SubscriptionChange,
    SubscriptionCreated,
    SubscriptionHealth,
)
from chargehook.webhooks.delivery_states import disables_at
from chargehook.webhooks.signing import new_secret

# After a rotation the old secret keeps signing this long, so receivers can switch over.
ROTATION_GRACE = timedelta(hours=24)
COLUMNS = """id, url, statuses, providers, description, batch_size, enabled, disabled_reason,
    created_at, updated_at, last_success_at"""
CHANGEABLE = ("url", "statuses", "providers", "description", "enabled", "batch_size")


def new_id() -> str:
    return "sub_" + secrets.token_urlsafe(12)


def from_row(row: asyncpg.Record) -> Subscription:
    return Subscription(
        **{field.name: row[field.name] for field in msgspec.structs.fields(Subscription)}
    )


async def create(pool: Pool, new: NewSubscription) -> SubscriptionCreated:
    secret = new_secret()
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"INSERT INTO subscriptions (id, url, statuses, providers, description, batch_size)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}",
            new_id(),
            new.url,
            new.statuses,
            new.providers,
            new.description,
            new.batch_size,
        )
        assert row is not None
        await conn.execute(
            "INSERT INTO subscription_secrets (subscription_id, secret) VALUES ($1, $2)",
            row["id"],
            secret,
        )
    return SubscriptionCreated(**msgspec.structs.asdict(from_row(row)), secret=secret)


async def list_all(pool: Pool) -> list[Subscription]:
    rows = await pool.fetch(f"SELECT {COLUMNS} FROM subscriptions ORDER BY created_at, id")
    return [from_row(row) for row in rows]


async def enabled(pool: Pool) -> list[Subscription]:
    rows = await pool.fetch(f"SELECT {COLUMNS} FROM subscriptions WHERE enabled")
    return [from_row(row) for row in rows]


async def get(pool: Pool | Connection, subscription_id: str) -> Subscription | None:
    row = await pool.fetchrow(f"SELECT {COLUMNS} FROM subscriptions WHERE id = $1", subscription_id)
    return None if row is None else from_row(row)


async def update(
    pool: Pool, subscription_id: str, change: SubscriptionChange
) -> Subscription | None:
    values = {
        name: getattr(change, name)
        for name in CHANGEABLE
        if getattr(change, name) is not msgspec.UNSET
    }
    if values.get("enabled") is True:
        values["disabled_reason"] = None
    sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(values, start=2))
    row = await pool.fetchrow(
        f"UPDATE subscriptions SET {sets + ', ' if sets else ''}updated_at = now()"
        f" WHERE id = $1 RETURNING {COLUMNS}",
        subscription_id,
        *values.values(),
    )
    return None if row is None else from_row(row)


async def delete(pool: Pool, subscription_id: str) -> bool:
    status = await pool.execute("DELETE FROM subscriptions WHERE id = $1", subscription_id)
    return bool(status != "DELETE 0")


async def rotate_secret(pool: Pool, subscription_id: str) -> RotatedSecret | None:
    """A new current secret; the previous ones keep signing for ROTATION_GRACE."""
    secret = new_secret()
    async with pool.acquire() as conn, conn.transaction():
        expires = await conn.fetchval(
            "UPDATE subscriptions SET updated_at = now() WHERE id = $1"
            " RETURNING now() + $2::interval",
            subscription_id,
            ROTATION_GRACE,
        )
        if expires is None:
            return None
        await conn.execute(
            "UPDATE subscription_secrets SET expires_at = $2"
            " WHERE subscription_id = $1 AND (expires_at IS NULL OR expires_at > $2)",
            subscription_id,
            expires,
        )
        await conn.execute(
            "INSERT INTO subscription_secrets (subscription_id, secret) VALUES ($1, $2)",
            subscription_id,
            secret,
        )
    return RotatedSecret(secret=secret, previous_expires_at=expires)


Secret = tuple[str, datetime | None]  # the secret and when it stops signing (None: current)


async def signing_secrets(pool: Pool | Connection) -> dict[str, list[Secret]]:
    """Every enabled subscription's unexpired secrets, newest first: for a worker's cache."""
    rows = await pool.fetch(
        "SELECT k.subscription_id, k.secret, k.expires_at FROM subscription_secrets k"
        " JOIN subscriptions s ON s.id = k.subscription_id WHERE s.enabled"
        " AND (k.expires_at IS NULL OR k.expires_at > now()) ORDER BY k.created_at DESC"
    )
    found: dict[str, list[Secret]] = {}
    for row in rows:
        found.setdefault(row["subscription_id"], []).append((row["secret"], row["expires_at"]))
    return found


async def active_secrets(conn: Pool | Connection, subscription_id: str) -> list[str]:
    rows = await conn.fetch(
        "SELECT secret FROM subscription_secrets WHERE subscription_id = $1"
        " AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at DESC",
        subscription_id,
    )
    return [row["secret"] for row in rows]


async def disable(conn: Pool | Connection, subscription_id: str, reason: str) -> None:
    await conn.execute(
        "UPDATE subscriptions SET enabled = false, disabled_reason = $2, updated_at = now()"
        " WHERE id = $1 AND enabled",
        subscription_id,
        reason,
    )


async def record_success(conn: Pool | Connection, subscription_id: str) -> None:
    await conn.execute(
        "UPDATE subscriptions SET last_success_at = now() WHERE id = $1", subscription_id
    )


async def last_success(conn: Pool | Connection, subscription_id: str) -> datetime | None:
    """The subscription's last success, or its creation when it never had one."""
    value: datetime | None = await conn.fetchval(
        "SELECT coalesce(last_success_at, created_at) FROM subscriptions WHERE id = $1",
        subscription_id,
    )
    return value


HEALTH = """
SELECT s.id, s.url, s.enabled, s.last_success_at,
       coalesce(s.last_success_at, s.created_at) AS since,
       (SELECT count(*) FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id
         WHERE d.subscription_id = s.id AND a.error_kind IS NOT NULL
           AND a.attempted_at > now() - interval '1 hour') AS failures_last_hour,
       (SELECT count(*) FROM deliveries d
         WHERE d.subscription_id = s.id AND d.status = 'pending') AS pending
FROM subscriptions s ORDER BY s.created_at
"""


async def health(pool: Pool, disable_after: timedelta) -> list[SubscriptionHealth]:
    """Every subscription's health, in one round trip."""
    return [
        SubscriptionHealth(
            id=row["id"],
            url=row["url"],
            enabled=row["enabled"],
            last_success_at=row["last_success_at"],
            failures_last_hour=row["failures_last_hour"],
            pending=row["pending"],
            disables_at=disables_at(row["enabled"], row["since"], disable_after),
        )
        for row in await pool.fetch(HEALTH)
    ]
