"""The providers and provider_tokens tables: providers, their rates, tokens as SHA-256 digests
that can be revoked or rotated with a grace period."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from chargehook.plumbing.database import Connection, Pool, Record
from chargehook.providers.rules import DEFAULT_RATES, Rates, TokenUse, hash_token, new_token

UPSERT = """
INSERT INTO providers (name, commission_rate, tax_rate)
VALUES ($1, coalesce($2::numeric, $4::numeric), coalesce($3::numeric, $5::numeric))
ON CONFLICT (name) DO UPDATE SET
    commission_rate = coalesce($2, providers.commission_rate),
    tax_rate = coalesce($3, providers.tax_rate)
"""
RATES = "SELECT name, commission_rate, tax_rate FROM providers WHERE name = ANY($1::text[])"


async def add_provider(
    pool: Pool,
    name: str,
    commission_rate: Decimal | None = None,
    tax_rate: Decimal | None = None,
    use: TokenUse = "callbacks",
) -> str:
    """Register `name` (or update its rates) and issue a fresh token for `use`, returned only
    this once.

    Bills keep the rates they were made with, so a change applies to later bills only.
    """
    async with pool.acquire() as conn, conn.transaction():
        await upsert_provider(conn, name, commission_rate, tax_rate)
        return await issue_token(conn, name, use)


async def upsert_provider(
    conn: Connection,
    name: str,
    commission_rate: Decimal | None = None,
    tax_rate: Decimal | None = None,
) -> None:
    """Register `name` at the given rates (DEFAULT_RATES where None), or change the rates
    given of a provider already registered."""
    defaults = DEFAULT_RATES
    await conn.execute(UPSERT, name, commission_rate, tax_rate, defaults.commission, defaults.tax)


async def issue_token(conn: Connection, name: str, use: TokenUse) -> str:
    """A new token of a registered provider, for `use`; only its digest is stored."""
    token = new_token()
    await conn.execute(
        "INSERT INTO provider_tokens (token_hash, provider, use) VALUES ($1, $2, $3)",
        hash_token(token),
        name,
        use,
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


async def rotate_token(
    pool: Pool, name: str, grace: timedelta, use: TokenUse = "callbacks"
) -> str | None:
    """A new token of `name` for `use`; its current tokens for that use keep working for
    `grace`, then expire. None when there is no such provider."""
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval("SELECT 1 FROM providers WHERE name = $1", name) is None:
            return None
        await conn.execute(
            "UPDATE provider_tokens SET expires_at = least(expires_at, now() + $2::interval)"
            " WHERE provider = $1 AND use = $3",
            name,
            grace,
            use,
        )
        return await issue_token(conn, name, use)


class TokenOwner(NamedTuple):
    """A token's provider, when it expires (None: never) and what it may do (TokenUse)."""

    provider: str
    expires_at: datetime | None
    use: TokenUse


OWNER_COLUMNS = "provider, expires_at, use"


async def provider_of(pool: Pool, token_hash: bytes) -> TokenOwner | None:
    row = await pool.fetchrow(
        f"SELECT {OWNER_COLUMNS} FROM provider_tokens WHERE token_hash = $1", token_hash
    )
    return None if row is None else _owner(row)


async def token_table(pool: Pool) -> dict[bytes, TokenOwner]:
    rows = await pool.fetch(f"SELECT token_hash, {OWNER_COLUMNS} FROM provider_tokens")
    return {bytes(row["token_hash"]): _owner(row) for row in rows}


def _owner(row: Record) -> TokenOwner:
    return TokenOwner(str(row["provider"]), row["expires_at"], row["use"])
