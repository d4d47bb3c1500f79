"""Enabled subscriptions in memory: no query per event; a NOTIFY or a timer reloads them."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog

from chargehook.plumbing.database import Pool
from chargehook.schemas import Subscription
from chargehook.webhooks import subscriptions

RELOAD_EVERY = 30.0  # a missed NOTIFY costs at most this long
CHANNEL = "chargehook_subscriptions"  # notified by a trigger of migration 0003
log = structlog.get_logger("chargehook.notify")


def matches(subscription: Subscription, status: str, provider: str) -> bool:
    return (subscription.statuses is None or status in subscription.statuses) and (
        subscription.providers is None or provider in subscription.providers
    )


class SubscriptionCache:
    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.current: list[Subscription] = []
        self.changed = asyncio.Event()

    def knows(self, subscription_id: str) -> bool:
        return any(s.id == subscription_id for s in self.current)

    def matching(self, status: str, provider: str) -> list[Subscription]:
        return [s for s in self.current if matches(s, status, provider)]

    @asynccontextmanager
    async def kept_fresh(self) -> AsyncIterator[None]:
        async with self.pool.acquire() as listener:
            # Listen first, then load: a change committed in between is then never missed.
            await listener.add_listener(CHANNEL, self._on_notify)
            self.current = await subscriptions.enabled(self.pool)
            reloading = asyncio.create_task(self._reload_forever())
            try:
                yield
            finally:
                reloading.cancel()
                await listener.remove_listener(CHANNEL, self._on_notify)

    def _on_notify(self, *_: object) -> None:
        self.changed.set()

    async def fresh(self) -> None:
        """Reload now if a change was announced: PostgreSQL sends the NOTIFY at commit, before
        the API answered, so a subscription created before an event is matched by that event."""
        await asyncio.sleep(0)  # a NOTIFY already read off the socket runs its callback first
        if self.changed.is_set():
            self.changed.clear()
            self.current = await subscriptions.enabled(self.pool)

    async def _reload_forever(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self.changed.wait(), RELOAD_EVERY)
            except TimeoutError:
                pass
            self.changed.clear()
            try:
                self.current = await subscriptions.enabled(self.pool)
            except Exception as exc:  # noqa: BLE001 - keep the last good list, try again later
                log.warning("subscriptions reload failed", error=repr(exc))
