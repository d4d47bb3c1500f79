"""The deliverer's ledger in memory, and a receiver that answers as told: what lets the
deliverer's caps, retries and disabling be tested with no PostgreSQL and no HTTP.

The ledger keeps the rules that matter to the deliverer the way the tables do: only pending
deliveries are found, oldest position first; a claim sorts them by delivery_states.decide_claim
on each (subscription, session) cursor and leases what goes; a record logs the attempt, moves
the deliveries to delivery_states.status_after and releases the leases. Unlike PostgreSQL's, a
lease here never expires: no test runs for its 30 seconds.
"""

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec

from chargehook.schemas import DeliveryStatus, Subscription
from chargehook.webhooks import delivery_states
from chargehook.webhooks.cursors import Claimed
from chargehook.webhooks.deliveries import Pending, delivery_id
from chargehook.webhooks.delivery_states import AttemptResult

PROVIDER = "repsol"


@dataclass
class Stored:
    """One delivery as its row holds it."""

    delivery: Pending
    status: DeliveryStatus = "pending"
    error: str | None = None
    next_attempt_at: datetime | None = None
    attempts: list[AttemptResult] = field(default_factory=list)


@dataclass
class Cursor:
    """A subscriber's place in one session: the newest position sent, and who holds its lease."""

    sent_position: str | None = None
    lease: str | None = None


class FakeLedger:
    """A DeliveryLedger in memory. `journal` lists its writes in order, beside whatever else a
    test appends to it (the broker's publishes, say)."""

    def __init__(self, journal: list[str] | None = None) -> None:
        self.deliveries: dict[str, Stored] = {}
        self.cursors: dict[tuple[str, str, str], Cursor] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.secrets: dict[str, list[str]] = {}
        self.journal = [] if journal is None else journal

    def add_subscription(
        self, subscription_id: str, created_at: datetime | None = None
    ) -> Subscription:
        at = created_at or datetime.now(UTC)
        subscription = Subscription(
            id=subscription_id,
            url=f"https://{subscription_id}.example/hook",
            statuses=None,
            providers=None,
            description=None,
            batch_size=None,
            enabled=True,
            disabled_reason=None,
            created_at=at,
            updated_at=at,
            last_success_at=None,
        )
        self.subscriptions[subscription_id] = subscription
        self.secrets[subscription_id] = [f"whsec_{subscription_id}"]
        return subscription

    def add_delivery(self, subscription_id: str, session_id: str, position: str) -> str:
        """A pending delivery of one session's event at `position`; its id."""
        event_id = f"{session_id}@{position}"
        new_id = delivery_id(subscription_id, PROVIDER, event_id)
        delivery = Pending(
            new_id, subscription_id, PROVIDER, session_id, position, b"{}", datetime.now(UTC)
        )
        self.deliveries[new_id] = Stored(delivery)
        return new_id

    def status(self, ids: Sequence[str]) -> list[DeliveryStatus]:
        return [self.deliveries[i].status for i in ids]

    def leased(self) -> int:
        return sum(cursor.lease is not None for cursor in self.cursors.values())

    async def pending(self, ids: Sequence[str]) -> list[Pending]:
        found = [
            self.deliveries[i].delivery
            for i in dict.fromkeys(ids)
            if i in self.deliveries and self.deliveries[i].status == "pending"
        ]
        return sorted(found, key=lambda d: d.position)

    async def set_status(
        self, ids: Sequence[str], status: DeliveryStatus, error: str | None
    ) -> None:
        for i in ids:
            stored = self.deliveries[i]
            stored.status, stored.error, stored.next_attempt_at = status, error, None
        self.journal.append(f"set {status}")

    async def subscription(self, subscription_id: str) -> tuple[Subscription, list[str]] | None:
        found = self.subscriptions.get(subscription_id)
        if found is None or not found.enabled:
            return None
        return found, list(self.secrets[subscription_id])

    async def claim(self, ids: Sequence[str], holder: str) -> Claimed:
        batch = await self.pending(ids)
        claimed = Claimed()
        # Every decision on the cursors as they were, as the one SELECT ... FOR UPDATE reads them.
        held = {key: (c.sent_position, c.lease is not None) for key, c in self.cursors.items()}
        for delivery in batch:
            sent, leased = held.get(_key(delivery), (None, False))
            decision = delivery_states.decide_claim(sent, leased, delivery.position)
            getattr(claimed, decision).append(delivery)
        for delivery in claimed.go:
            cursor = self.cursors.setdefault(_key(delivery), Cursor())
            cursor.lease = holder
            cursor.sent_position = max(cursor.sent_position or "", delivery.position)
        for delivery in claimed.superseded:
            self.deliveries[delivery.id].status = "superseded"
        self.journal.append("claim")
        return claimed

    async def record(
        self, sent: Sequence[Pending], result: AttemptResult, retry_at: datetime | None
    ) -> tuple[int, DeliveryStatus]:
        status = delivery_states.status_after(result, retry_queued=retry_at is not None)
        attempt = 0
        for delivery in sent:
            stored = self.deliveries[delivery.id]
            stored.attempts.append(result)
            stored.status, stored.error = status, result.error_kind
            stored.next_attempt_at = retry_at
            attempt = max(attempt, len(stored.attempts))
            cursor = self.cursors[_key(delivery)]
            cursor.lease = None
            cursor.sent_position = max(cursor.sent_position or "", delivery.position)
        self.journal.append(f"record {status}")
        return attempt, status

    async def record_success(self, subscription_id: str) -> None:
        self._change(subscription_id, last_success_at=datetime.now(UTC))

    async def last_success(self, subscription_id: str) -> datetime | None:
        found = self.subscriptions.get(subscription_id)
        return None if found is None else found.last_success_at or found.created_at

    async def disable(self, subscription_id: str, reason: str) -> None:
        if self.subscriptions[subscription_id].enabled:
            self._change(subscription_id, enabled=False, disabled_reason=reason)
        self.journal.append("disable")

    def _change(self, subscription_id: str, **fields: object) -> None:
        old = self.subscriptions[subscription_id]
        self.subscriptions[subscription_id] = msgspec.structs.replace(old, **fields)


def _key(delivery: Pending) -> tuple[str, str, str]:
    return delivery.subscription_id, delivery.provider, delivery.session_id


class Receiver:
    """Stands in for the signed POST: answers `status` (per subscription, or the default),
    counts the requests in flight, and holds a subscription's requests while its gate is shut."""

    def __init__(self, status: int = 200) -> None:
        self.default_status = status
        self.statuses: dict[str, int] = {}
        self.gates: dict[str, asyncio.Event] = {}
        self.calls: list[tuple[str, list[str]]] = []
        self.in_flight: Counter[str] = Counter()
        self.most_in_flight: Counter[str] = Counter()
        self.most_in_flight_overall = 0

    def hold(self, subscription_id: str) -> asyncio.Event:
        """Shut the subscription's gate: its requests wait until the returned event is set."""
        return self.gates.setdefault(subscription_id, asyncio.Event())

    def total_in_flight(self) -> int:
        return sum(self.in_flight.values())

    def delivered(self, subscription_id: str) -> list[str]:
        return [i for s, ids in self.calls if s == subscription_id for i in ids]

    async def post(
        self, subscription: Subscription, secrets: list[str], sent: Sequence[Pending]
    ) -> AttemptResult:
        at, key = datetime.now(UTC), subscription.id
        self.in_flight[key] += 1
        self.most_in_flight[key] = max(self.most_in_flight[key], self.in_flight[key])
        self.most_in_flight_overall = max(self.most_in_flight_overall, self.total_in_flight())
        try:
            if (gate := self.gates.get(key)) is not None:
                await gate.wait()
        finally:
            self.in_flight[key] -= 1
        self.calls.append((key, [d.id for d in sent]))
        status = self.statuses.get(key, self.default_status)
        kind = None if 200 <= status < 300 else "http_status"
        return AttemptResult(at, status, 1, kind, "ok" if kind is None else "no")
