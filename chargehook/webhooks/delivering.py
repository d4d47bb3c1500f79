"""Delivering a task: one request carrying the task's deliveries to one subscriber, signed,
ordered per session, retried from the broker, within the per-subscription cap. The rules it
follows are chargehook.webhooks.delivery_states's (docs/delivery.md)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from functools import partial

import aiohttp
import structlog

from chargehook.plumbing.broker import Broker
from chargehook.plumbing.failures import until_done
from chargehook.plumbing.metrics import Metrics
from chargehook.plumbing.settings import Settings
from chargehook.schemas import DeliveryStatus, DeliveryTask, Subscription
from chargehook.webhooks import delivery_states, retries, tasks
from chargehook.webhooks.deliveries import Pending, request_id
from chargehook.webhooks.delivery_states import AttemptResult
from chargehook.webhooks.ledger import DeliveryLedger
from chargehook.webhooks.payload import request_body
from chargehook.webhooks.posting import http_client, post_signed

# seconds a sent batch's record is tried again in place: well inside the 30 s lease its
# request took before it was sent (webhooks.cursors.LEASE), less the request's own 15 s
RECORD_WITHIN = 10.0
# A subscription's last success is written at most this often (seconds) by one process: it
# disables a subscriber after days of failures, and a row update per request is not free.
SUCCESS_EVERY = 1.0
log = structlog.get_logger("chargehook.notify")
# One request of a batch to its subscriber, signed with these secrets: what it came to.
Post = Callable[[Subscription, list[str], Sequence[Pending]], Awaitable[AttemptResult]]


class Deliverer:
    """Sends one task's batch per call; its caller runs many side by side. It holds what calls
    share: the HTTP client and each subscription's slots. `post` sends a request; without one
    it is the signed POST of `attempt`."""

    def __init__(
        self,
        settings: Settings,
        ledger: DeliveryLedger,
        broker: Broker,
        metrics: Metrics,
        post: Post | None = None,
    ) -> None:
        self.settings, self.ledger, self.broker, self.metrics = settings, ledger, broker, metrics
        self.post = post or self.attempt
        self.concurrency = settings.delivery_concurrency
        self.schedule = retries.parse_schedule(settings.retry_schedule)
        self.delays = retries.delays_ms(self.schedule, settings.retry_busy_delay)
        self.busy_delay_ms = round(settings.retry_busy_delay * 1000)
        self.disable_after = timedelta(seconds=settings.disable_after)
        self.http: aiohttp.ClientSession | None = None
        cap = settings.delivery_per_subscription
        self.per_subscription: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(cap)
        )
        self.waiting: Counter[str] = Counter()
        self.success_written: dict[str, float] = {}  # subscription -> monotonic time
        self.rng = random.Random()  # noqa: S311 - jitter, not a secret

    @asynccontextmanager
    async def http_client(self) -> AsyncIterator[None]:
        async with http_client(self.settings.allow_private_urls) as http:
            self.http = http
            yield

    async def deliver_task(self, task: DeliveryTask) -> None:
        subscription_id = task.subscription_id or await self.subscription_of(task)
        if subscription_id is None:
            return  # deleted, or already finished by an earlier copy of this task
        found = await self.ledger.subscription(subscription_id)
        if found is None:
            ids = [d.id for d in await self.ledger.pending(task.ids)]
            await self.ledger.set_status(ids, "failed", "subscription disabled")
            return
        subscription, secrets = found
        # Over its cap a subscription's tasks wait here, a bounded few; past that they wait in
        # the broker, so one slow receiver cannot hold every slot of this worker.
        if self.waiting[subscription.id] >= self.settings.delivery_per_subscription:
            await tasks.queue_after(self.broker, task, self.busy_delay_ms)
            return
        self.waiting[subscription.id] += 1
        try:
            slots = self.per_subscription[subscription.id]
            await slots.acquire()
        finally:
            self.waiting[subscription.id] -= 1
        try:
            await self.deliver(task, subscription, secrets)
        finally:
            slots.release()

    async def subscription_of(self, task: DeliveryTask) -> str | None:
        """Whose a task's deliveries are, for a task of an earlier version that does not say;
        None when none of them is pending any more."""
        batch = await self.ledger.pending(task.ids)
        return batch[0].subscription_id if batch else None

    async def deliver(
        self, task: DeliveryTask, subscription: Subscription, secrets: list[str]
    ) -> None:
        claimed = await self.ledger.claim(task.ids, holder=request_id(task.ids))
        if claimed.superseded:
            self.metrics.inc(
                "chargehook_deliveries_total", len(claimed.superseded), outcome="superseded"
            )
        if claimed.busy:  # another request carries these sessions now: the same round later
            busy = DeliveryTask(
                delivery_ids=[d.id for d in claimed.busy],
                round=task.round,
                subscription_id=subscription.id,
            )
            await tasks.queue_after(self.broker, busy, self.busy_delay_ms)
        if not claimed.go:
            return
        sent = claimed.go
        result = await self.post(subscription, secrets, sent)
        delay = self.next_delay(task, result)
        retry_at = None
        if delay is not None:  # queued before it is recorded: a crash in between loses nothing
            retry = DeliveryTask(
                delivery_ids=[d.id for d in sent],
                round=task.round + 1,
                subscription_id=subscription.id,
            )
            await tasks.queue_after(self.broker, retry, delay)
            retry_at = result.attempted_at + timedelta(milliseconds=delay)
        # sent: recorded in place while the database fails over, not sent again, as long as
        # the request's lease holds its sessions (after that another request may take them)
        attempt, status = await until_done(
            partial(self.ledger.record, sent, result, retry_at),
            "record a delivery attempt",
            within=RECORD_WITHIN,
        )
        await self.after_attempt(subscription, sent, result, attempt, status)

    def next_delay(self, task: DeliveryTask, result: AttemptResult) -> int | None:
        if not delivery_states.may_retry(result):
            return None
        return retries.retry_delay_ms(
            self.schedule, self.delays, task.round, result.retry_after, self.rng
        )

    async def attempt(
        self, subscription: Subscription, secrets: list[str], sent: Sequence[Pending]
    ) -> AttemptResult:
        assert self.http is not None
        body = request_body([d.payload for d in sent])
        webhook_id = request_id([d.id for d in sent])
        allow_private = self.settings.allow_private_urls
        return await post_signed(
            self.http, subscription.url, secrets, webhook_id, body, allow_private
        )

    async def after_attempt(
        self,
        subscription: Subscription,
        sent: Sequence[Pending],
        result: AttemptResult,
        attempt: int,
        status: DeliveryStatus,
    ) -> None:
        outcome = delivery_states.outcome(status)
        self.metrics.inc("chargehook_deliveries_total", len(sent), outcome=outcome)
        self.metrics.observe(
            "chargehook_delivery_attempt_seconds", result.latency_ms / 1000, outcome=outcome
        )
        if result.succeeded:
            now = datetime.now(UTC)
            for delivery in sent:
                if delivery.received_at is not None:
                    waited = (now - delivery.received_at).total_seconds()
                    self.metrics.observe("chargehook_event_to_delivery_seconds", waited)
        log.info(
            "delivery attempt",
            subscription_id=subscription.id,
            webhook_id=request_id([d.id for d in sent]),
            sessions=len(sent),
            attempt=attempt,
            status=result.status_code,
            error=result.error_kind,
            outcome=outcome,
        )
        if result.succeeded:
            await self.record_success(subscription.id)
            return
        last = None if result.gone else await self.ledger.last_success(subscription.id)
        reason = delivery_states.disable_reason(result, last, datetime.now(UTC), self.disable_after)
        if reason is not None:
            await self.ledger.disable(subscription.id, reason)
            self.metrics.inc("chargehook_subscriptions_disabled_total")
            log.warning("subscription disabled", subscription_id=subscription.id, reason=reason)

    async def record_success(self, subscription_id: str) -> None:
        now = time.monotonic()
        if now - self.success_written.get(subscription_id, -SUCCESS_EVERY) >= SUCCESS_EVERY:
            self.success_written[subscription_id] = now
            await self.ledger.record_success(subscription_id)
