"""What the deliverer reads and writes, as one small protocol: the pending deliveries, the
subscription with its signing secrets, the claim and record around a request, and the
subscription's success and disabling. `PostgresLedger` is it on PostgreSQL, forwarding to the
store modules (`deliveries`, `request_transactions`, `subscriptions`) and the subscription
cache; the unit tests hold it in memory."""

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from chargehook.plumbing.database import Pool
from chargehook.schemas import DeliveryStatus, Subscription
from chargehook.webhooks import deliveries, request_transactions, subscriptions
from chargehook.webhooks.cursors import Claimed
from chargehook.webhooks.deliveries import Pending
from chargehook.webhooks.delivery_states import AttemptResult
from chargehook.webhooks.subscription_cache import SubscriptionCache


class DeliveryLedger(Protocol):
    async def pending(self, ids: Sequence[str]) -> list[Pending]:
        """The deliveries among `ids` still pending, oldest position first."""
        ...

    async def set_status(
        self, ids: Sequence[str], status: DeliveryStatus, error: str | None
    ) -> None: ...

    async def subscription(self, subscription_id: str) -> tuple[Subscription, list[str]] | None:
        """An enabled subscription and the secrets that sign for it now; None when it is
        disabled or gone."""
        ...

    async def claim(self, ids: Sequence[str], holder: str) -> Claimed:
        """The pending deliveries among `ids` sorted by delivery_states.decide_claim; the ones
        that go hold their sessions' leases, the superseded ones are marked so."""
        ...

    async def record(
        self, sent: Sequence[Pending], result: AttemptResult, retry_at: datetime | None
    ) -> tuple[int, DeliveryStatus]:
        """The attempt logged on every delivery it carried, their leases released; the
        attempt's number and the status they moved to."""
        ...

    async def record_success(self, subscription_id: str) -> None: ...

    async def last_success(self, subscription_id: str) -> datetime | None:
        """The subscription's last success, or its creation when it never had one."""
        ...

    async def disable(self, subscription_id: str, reason: str) -> None: ...


class PostgresLedger:
    """The ledger on PostgreSQL; subscriptions come from the cache, which reads the database
    only for one it has not heard of."""

    def __init__(self, pool: Pool, cache: SubscriptionCache) -> None:
        self.pool, self.cache = pool, cache

    async def pending(self, ids: Sequence[str]) -> list[Pending]:
        return await deliveries.pending(self.pool, ids)

    async def set_status(
        self, ids: Sequence[str], status: DeliveryStatus, error: str | None
    ) -> None:
        await deliveries.set_status(self.pool, ids, status, error)

    async def subscription(self, subscription_id: str) -> tuple[Subscription, list[str]] | None:
        return await self.cache.subscription(subscription_id)

    async def claim(self, ids: Sequence[str], holder: str) -> Claimed:
        return await request_transactions.claim(self.pool, ids, holder)

    async def record(
        self, sent: Sequence[Pending], result: AttemptResult, retry_at: datetime | None
    ) -> tuple[int, DeliveryStatus]:
        return await request_transactions.record(self.pool, sent, result, retry_at)

    async def record_success(self, subscription_id: str) -> None:
        await subscriptions.record_success(self.pool, subscription_id)

    async def last_success(self, subscription_id: str) -> datetime | None:
        return await subscriptions.last_success(self.pool, subscription_id)

    async def disable(self, subscription_id: str, reason: str) -> None:
        await subscriptions.disable(self.pool, subscription_id, reason)
