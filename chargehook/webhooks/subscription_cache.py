"""Enabled subscriptions and their signing secrets in memory: no query per event or request; a
NOTIFY (on any change to either) or a timer reloads them."""

import asyncio
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from chargehook.plumbing.database import Pool, kept_fresh
from chargehook.schemas import Subscription
from chargehook.webhooks import subscriptions
from chargehook.webhooks.subscriptions import Secret

RELOAD_EVERY = 30.0  # a missed NOTIFY costs at most this long
CHANNEL = "chargehook_subscriptions"  # notified by triggers of migrations 0003 and 0005


def matches(subscription: Subscription, status: str, provider: str) -> bool:
    return (subscription.statuses is None or status in subscription.statuses) and (
        subscription.providers is None or provider in subscription.providers
    )


class SubscriptionCache:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.current: list[Subscription] = []
        self.by_id: dict[str, Subscription] = {}
        self.secrets: dict[str, list[Secret]] = {}
        self.changed = asyncio.Event()

    def knows(self, subscription_id: str) -> bool:
        return subscription_id in self.by_id

    def matching(self, status: str, provider: str) -> list[Subscription]:
        return [s for s in self.current if matches(s, status, provider)]

    async def subscription(self, subscription_id: str) -> tuple[Subscription, list[str]] | None:
        """An enabled subscription and the secrets that sign for it now, or None when it is
        disabled or gone. One this cache has not heard of yet is read from the database."""
        await self.fresh()
        found = self.by_id.get(subscription_id)
        if found is None:
            found = await subscriptions.get(self.pool, subscription_id)
            if found is None or not found.enabled:
                return None
            self.changed.set()  # created since the last load: reload on the next look
            return found, await subscriptions.active_secrets(self.pool, subscription_id)
        now = datetime.now(UTC)
        keys = self.secrets.get(subscription_id, [])
        return found, [secret for secret, until in keys if until is None or until > now]

    def kept_fresh(self) -> AbstractAsyncContextManager[None]:
        return kept_fresh(self.pool, CHANNEL, self._load, self.changed, RELOAD_EVERY)

    async def fresh(self) -> None:
        """Reload now if a change was announced: PostgreSQL sends the NOTIFY at commit, before
        the API answered, so a subscription created before an event is matched by that event."""
        await asyncio.sleep(0)  # a NOTIFY already read off the socket runs its callback first
        if self.changed.is_set():
            self.changed.clear()
            await self._load()

    async def _load(self) -> None:
        current = await subscriptions.enabled(self.pool)
        self.secrets = await subscriptions.signing_secrets(self.pool)
        self.current, self.by_id = current, {s.id: s for s in current}
