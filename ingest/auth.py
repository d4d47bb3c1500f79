"""Bearer tokens: provider tokens checked in an in-memory table of digests, no query per request."""

import asyncio
import hmac
import time
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from aiohttp import web

from chargehook.ingest.errors import ApiError
from chargehook.plumbing.database import Pool, kept_fresh
from chargehook.providers.rules import hash_token
from chargehook.providers.store import Known, provider_of, token_table

RELOAD_EVERY = 30.0  # a missed NOTIFY leaves a revoked token usable at most this long
UNKNOWN_FOR = 30.0  # seconds an unknown token is answered 401 without a query
MAX_UNKNOWN = 10_000  # unknown digests remembered at most; the oldest are forgotten first
CHANNEL = "chargehook_tokens"  # notified by the trigger of migration 0007


class TokenTable:
    """Every known digest in memory, reloaded on each change (revoke, rotate, add) within a
    moment; a token it does not know is looked up once (a provider added since), and then
    answered from memory for UNKNOWN_FOR seconds, so a flood of bad tokens costs no queries."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._providers: dict[bytes, Known] = {}
        self._unknown: dict[bytes, float] = {}  # digest -> when it was found unknown
        self.changed = asyncio.Event()

    def kept_fresh(self) -> AbstractAsyncContextManager[None]:
        return kept_fresh(self._pool, CHANNEL, self.load, self.changed, RELOAD_EVERY)

    async def load(self) -> None:
        self._providers = await token_table(self._pool)
        self._unknown.clear()  # a token added since may be among them

    async def provider_for(self, token: str) -> str | None:
        digest = hash_token(token)
        known = self._providers.get(digest)
        if known is None:
            known = await self._look_up(digest)
            if known is None:
                return None
        name, expires_at = known
        if expires_at is not None and expires_at <= datetime.now(UTC):
            return None  # rotated out and its grace is over
        return name

    async def _look_up(self, digest: bytes) -> Known | None:
        seen = self._unknown.get(digest)
        if seen is not None and time.monotonic() - seen < UNKNOWN_FOR:
            return None
        known = await provider_of(self._pool, digest)
        if known is None:
            if len(self._unknown) >= MAX_UNKNOWN:
                del self._unknown[next(iter(self._unknown))]
            self._unknown[digest] = time.monotonic()
            return None
        self._providers[digest] = known
        return known


def bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Missing bearer token: send `Authorization: Bearer <token>`")
    token = token.strip()
    # every token chargehook issues is printable ASCII; other bytes cannot be one of them
    if not (token.isascii() and token.isprintable()):
        raise ApiError(401, "Unknown token")
    return token


def is_admin(token: str, admin_token: str | None) -> bool:
    return admin_token is not None and hmac.compare_digest(token.encode(), admin_token.encode())


async def require_provider(
    request: web.Request, tokens: TokenTable, admin_token: str | None
) -> str:
    token = bearer(request)
    provider = await tokens.provider_for(token)
    if provider is not None:
        return provider
    if is_admin(token, admin_token):
        raise ApiError(403, "The admin token cannot post sessions; use a provider token")
    raise ApiError(401, "Unknown token")


async def require_admin(request: web.Request, tokens: TokenTable, admin_token: str | None) -> None:
    token = bearer(request)
    if is_admin(token, admin_token):
        return
    if await tokens.provider_for(token) is not None:
        raise ApiError(403, "A provider token cannot use the admin API")
    raise ApiError(401, "Unknown token")
