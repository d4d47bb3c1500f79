"""The providers and provider_tokens tables: providers, their rates, tokens as SHA-256 digests
that can be revoked or rotated with a grace period."""

from datetime import datetime, timedelta
from decimal import Decimal

from chargehook.plumbing.database import Connection, Pool
from chargehook.providers.rules import DEFAULT_RATES, Rates, hash_token, new_token

UPSERT = """
INSERT INTO providers (name, commission_rate, tax_rate)
VALUES ($1, coalesce($2::numeric, $4::numeric), coalesce($3::numeric, $5::numeric))
ON CONFLICT (name) DO UPDATE SET
    commission_rate = coalesce($2, providers.commission_rate),
    tax_rate = coalesce($3, providers.tax_rate)
"""
RATES = "SELECT name, commission_rate, tax_rate FROM providers WHERE name = ANY($1::text[])"


async def add_provider(
    pool: Pool, name: str, commission_rate: Decimal | None = None, tax_rate: Decimal | None = None
) -> str:
    """Register `name` (or update its rates) and issue a fresh token, returned only this once.

    Bills keep the rates they were made with, so a change applies to later bills only.
    """
    token = new_token()
    defaults = DEFAULT_RATES
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            UPSERT, name, commission_rate, tax_rate, defaults.commission, defaults.tax
        )
        await conn.execute(
            "INSERT INTO provider_tokens (token_hash, provider) VALUES ($1, $2)",
            hash_token(token),
            name,
        )
    return token


async def set_rates(
    pool: Pool, name: str, commission_rate: Decimal | None, tax_rate: Decimal | None
) -> bool:
    """Change a registered provider's rates; False when there is no such provider."""
    status = await pool.execute(
        "UPDATE providers SET commission_rate = coalesce($2, commission_rate),"
        " tax_rate = coalesce($3, tax_rate) WHERE name = $1",
        name,
        commission_rate,
        tax_rate,
    )
    return bool(status != "UPDATE 0")


async def rates_of(conn: Connection, providers: set[str]) -> dict[str, Rates]:
    """Each provider's rates; an unregistered provider bills at DEFAULT_RATES."""
    rows = await conn.fetch(RATES, sorted(providers))
    found = {row["name"]: Rates(row["commission_rate"], row["tax_rate"]) for row in rows}
    return {name: found.get(name, DEFAULT_RATES) for name in providers}


async def revoke_tokens(pool: Pool, name: str) -> int:
    """Every token of `name` stops working now; how many there were."""
    status = await pool.execute("DELETE FROM provider_tokens WHERE provider = $1", name)
    return int(status.split()[-1])


async def rotate_token(pool: Pool, name: str, grace: timedelta) -> str | None:
    """A new token for `name`; its current tokens keep working for `grace`, then expire. None
    when there is no such provider."""
    token = new_token()
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval("SELECT 1 FROM providers WHERE name = $1", name) is None:
            return None
        await conn.execute(
            "UPDATE provider_tokens SET expires_at = least(expires_at, now() + $2::interval)"
            " WHERE provider = $1",
            name,
            grace,
        )
        await conn.execute(
            "INSERT INTO provider_tokens (token_hash, provider) VALUES ($1, $2)",
            hash_token(token),
            name,
        )
    return token


TokenOwner = tuple[str, datetime | None]  # a token's provider, and when it expires (None: never)


async def provider_of(pool: Pool, token_hash: bytes) -> TokenOwner | None:
    row = await pool.fetchrow(
        "SELECT provider, expires_at FROM provider_tokens WHERE token_hash = $1", token_hash
    )
    return None if row is None else (str(row["provider"]), row["expires_at"])


async def token_table(pool: Pool) -> dict[bytes, TokenOwner]:
    rows = await pool.fetch("SELECT token_hash, provider, expires_at FROM provider_tokens")
    return {bytes(r["token_hash"]): (str(r["provider"]), r["expires_at"]) for r in rows}
