"""Which provider a bearer token belongs to, from an in-memory table of token digests: no query
per request (docs/api.md#authentication)."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from chargehook.plumbing.database import Pool, kept_fresh
from chargehook.providers.rules import hash_token
from chargehook.providers.store import TokenOwner, provider_of, token_table

RELOAD_EVERY = 30.0  # a missed NOTIFY leaves a revoked token usable at most this long
UNKNOWN_FOR = 30.0  # seconds an unknown token is answered 401 without a query
MAX_UNKNOWN = 10_000  # unknown digests remembered at most; the oldest are forgotten first
CHANNEL = "chargehook_tokens"  # notified by the trigger of migration 0007


class TokenTable:
    """Every known digest in memory, reloaded on each change (revoke, rotate, add) within a
    moment; a token it does not know is looked up once (a provider added since), and then
    answered from memory for UNKNOWN_FOR seconds, so a flood of bad tokens costs no queries."""

    def __init__(self, pool: Pool, *with_it: Callable[[], Awaitable[None]]) -> None:
        """`with_it`: the loads of other tables announced on the same channel (OCPI parties),
        reloaded with this one, so one listening connection serves them all."""
        self._pool = pool
        self._with_it = with_it
        self._providers: dict[bytes, TokenOwner] = {}
        self._unknown: dict[bytes, float] = {}  # digest -> when it was found unknown
        self.changed = asyncio.Event()

    def kept_fresh(self) -> AbstractAsyncContextManager[None]:
        return kept_fresh(self._pool, CHANNEL, self.load, self.changed, RELOAD_EVERY)

    async def load(self) -> None:
        self._providers = await token_table(self._pool)
        self._unknown.clear()  # a token added since may be among them
        for load in self._with_it:
            await load()

    async def provider_for(self, token: str) -> str | None:
        """The provider of a token for page-shaped callbacks."""
        owner = await self.owner_of(token)
        return owner.provider if owner is not None and owner.use == "callbacks" else None

    async def owner_of(self, token: str) -> TokenOwner | None:
        """Whose token this is and what it may do, while it has not expired."""
        digest = hash_token(token)
        known = self._providers.get(digest)
        if known is None:
            known = await self._look_up(digest)
            if known is None:
                return None
        if known.expires_at is not None and known.expires_at <= datetime.now(UTC):
            return None  # rotated out and its grace is over
        return known

    async def _look_up(self, digest: bytes) -> TokenOwner | None:
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
