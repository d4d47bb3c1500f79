"""Subscribing a URL, and changing one: the URL passes the SSRF guard first (docs/delivery.md),
whoever asks, the admin API or the command line. UnsafeUrl says why a URL is refused."""

import msgspec

from chargehook.plumbing.database import Pool
from chargehook.schemas import (
    NewSubscription,
    Subscription,
    SubscriptionChange,
    SubscriptionCreated,
)
from chargehook.webhooks import subscriptions
from chargehook.webhooks.ssrf import check_url


async def subscribe(
    pool: Pool, new: NewSubscription, allow_private_urls: bool
) -> SubscriptionCreated:
    await check_url(new.url, allow_private_urls)
    return await subscriptions.create(pool, new)


async def change(
    pool: Pool, subscription_id: str, change: SubscriptionChange, allow_private_urls: bool
) -> Subscription | None:
    """The changed subscription, or None when there is none by that id."""
    if not isinstance(change.url, msgspec.UnsetType):
        await check_url(change.url, allow_private_urls)
    return await subscriptions.update(pool, subscription_id, change)
