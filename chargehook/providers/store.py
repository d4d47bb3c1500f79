"""Providers and their tokens: issued once, stored only as SHA-256 digests."""

import hashlib
import re
import secrets
from decimal import Decimal

from chargehook.plumbing.database import Pool

TOKEN_PREFIX = "chp_"  # noqa: S105 - a prefix that marks a token, not a secret
# Lower case and dot-free: the name is the last word of a routing key (`session.finished.repsol`).
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def hash_token(token: str) -> bytes:
    # Tokens are 256 random bits, so a fast digest is enough; no password-style stretching.
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


UPSERT = """
INSERT INTO providers (name, commission_rate, tax_rate)
VALUES ($1, coalesce($2, 0.10), coalesce($3, 0.21))
ON CONFLICT (name) DO UPDATE SET
    commission_rate = coalesce($2, providers.commission_rate),
    tax_rate = coalesce($3, providers.tax_rate)
"""


async def add_provider(
    pool: Pool, name: str, commission_rate: Decimal | None = None, tax_rate: Decimal | None = None
) -> str:
    """Register `name` (or update its rates) and issue a fresh token, returned only this once.

    Bills keep the rates they were made with, so a change applies to later bills only.
    """
    token = new_token()
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(UPSERT, name, commission_rate, tax_rate)
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


async def provider_of(pool: Pool, token_hash: bytes) -> str | None:
    name = await pool.fetchval(
        "SELECT provider FROM provider_tokens WHERE token_hash = $1", token_hash
    )
    return None if name is None else str(name)


async def token_table(pool: Pool) -> dict[bytes, str]:
    rows = await pool.fetch("SELECT token_hash, provider FROM provider_tokens")
    return {bytes(row["token_hash"]): str(row["provider"]) for row in rows}
