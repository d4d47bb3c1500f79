"""notify: every billed event to every matching subscriber, signed, retried from the broker,
never an older state of a session after a newer one.

Two consumers make the worker kind. The fan-out reads `chargehook.billed`, matches it against
subscriptions held in memory (reloaded on a PostgreSQL NOTIFY), records one delivery per match and
queues it. The deliverer attempts each delivery on its own; a failure is queued again in a
delay queue, so retries live in RabbitMQ, not in this process.

Order per session: each delivery carries its session's position. Before an attempt the deliverer
takes a short lease on (subscriber, session) and refuses any delivery whose position is not newer
than the last one delivered there; an older state that is still pending is superseded, not sent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import msgspec
import structlog

from chargehook.plumbing.broker import (
    BILLED_EXCHANGE,
    DEFAULT_EXCHANGE,
    DELIVER_KEY,
    DELIVERY_EXCHANGE,
    Broker,
    DelaySpec,
    Inbound,
    OutboundMessage,
    QueueSpec,
)
from chargehook.plumbing.consume import ConcurrentConsumer, Consumer
from chargehook.plumbing.database import Connection, Pool
from chargehook.plumbing.errors import RejectMessage
from chargehook.plumbing.metrics import Metrics
from chargehook.plumbing.settings import Settings
from chargehook.schemas import BilledEnvelope, DeliveryTask, Session, Subscription
from chargehook.sessions.order import order_key, position
from chargehook.webhooks import deliveries, retries, subscriptions
from chargehook.webhooks.signing import signature_header
from chargehook.webhooks.ssrf import UnsafeUrl, check_url, guarded_connector

FANOUT_QUEUE = QueueSpec("chargehook.notify", BILLED_EXCHANGE)
DELIVERY_QUEUE = QueueSpec("chargehook.deliveries", DELIVERY_EXCHANGE, (DELIVER_KEY,))
TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
RELOAD_EVERY = 30.0  # a missed NOTIFY costs at most this long
log = structlog.get_logger("chargehook.notify")
billed_decoder = msgspec.json.Decoder(BilledEnvelope)
session_decoder = msgspec.json.Decoder(Session)
task_decoder = msgspec.json.Decoder(DeliveryTask)
item_decoder = msgspec.json.Decoder(dict[str, object], float_hook=Decimal)
encoder = msgspec.json.Encoder(decimal_format="number")


def delay_queues(settings: Settings) -> tuple[DelaySpec, ...]:
    schedule = retries.parse_schedule(settings.retry_schedule)
    return tuple(
        DelaySpec(f"chargehook.delivery.wait.{ms}", ms, DELIVERY_EXCHANGE, DELIVER_KEY)
        for ms in retries.delays_ms(schedule, settings.retry_busy_delay)
    )


def task_message(task: DeliveryTask) -> OutboundMessage:
    return OutboundMessage(encoder.encode(task), f"{task.delivery_id}/{task.round}")


def matches(subscription: Subscription, status: str, provider: str) -> bool:
    return (subscription.statuses is None or status in subscription.statuses) and (
        subscription.providers is None or provider in subscription.providers
    )


class SubscriptionCache:
    """Enabled subscriptions in memory: no query per event; a NOTIFY or a timer reloads them."""

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
            await listener.add_listener("chargehook_subscriptions", self._on_notify)
            self.current = await subscriptions.enabled(self.pool)
            reloading = asyncio.create_task(self._reload_forever())
            try:
                yield
            finally:
                reloading.cancel()
                await listener.remove_listener("chargehook_subscriptions", self._on_notify)

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


@dataclass(frozen=True)
class Billed:
    envelope: BilledEnvelope
    session: Session
    position: str


def read_billed(body: bytes) -> Billed:
    try:
        envelope = billed_decoder.decode(body)
        session = session_decoder.decode(envelope.session)
    except msgspec.MsgspecError as exc:
        raise RejectMessage(f"not a valid billed event: {exc}") from None
    key = order_key(session.status, session.updatedAt, envelope.received_at, envelope.event_id)
    return Billed(envelope, session, position(key))


def payload(billed: Billed) -> bytes:
    """The page's shape: a JSON array of session objects, billing filled, position added."""
    item = item_decoder.decode(billed.envelope.session)
    item["position"] = billed.position
    return encoder.encode([item])


@dataclass
class FanOut:
    pool: Pool
    broker: Broker
    cache: SubscriptionCache
    prefetch: int
    batch_size: int
    name: str = "notify"
    queue: QueueSpec = FANOUT_QUEUE

    def decode(self, message: Inbound) -> Billed:
        return read_billed(message.body)

    async def handle(self, batch: Sequence[Billed]) -> None:
        await self.cache.fresh()
        queued: list[str] = []
        async with self.pool.acquire() as conn, conn.transaction():
            for billed in batch:
                e, s = billed.envelope, billed.session
                for sub in self.cache.matching(s.status, e.provider):
                    queued.append(
                        await deliveries.create(
                            conn,
                            sub.id,
                            e.provider,
                            s.id,
                            e.event_id,
                            billed.position,
                            payload(billed),
                        )
                    )
        # after commit: a task never names a delivery not stored
        await asyncio.gather(
            *(
                self.broker.publish(
                    DELIVERY_EXCHANGE, DELIVER_KEY, task_message(DeliveryTask(delivery_id=d))
                )
                for d in queued
            )
        )


@dataclass(frozen=True)
class Outcome:
    result: deliveries.Outcome
    retry_after: float | None

    @property
    def succeeded(self) -> bool:
        return self.result.error_kind is None


class Deliverer:
    """Attempts one delivery at a time per message; the consumer runs many side by side."""

    name = "deliver"
    queue = DELIVERY_QUEUE

    def __init__(self, settings: Settings, pool: Pool, broker: Broker, metrics: Metrics) -> None:
        self.settings, self.pool, self.broker, self.metrics = settings, pool, broker, metrics
        self.concurrency = settings.delivery_concurrency
        self.schedule = retries.parse_schedule(settings.retry_schedule)
        self.delays = retries.delays_ms(self.schedule, settings.retry_busy_delay)
        self.http: aiohttp.ClientSession | None = None
        self.per_subscription: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.delivery_per_subscription)
        )
        self.rng = random.Random()  # noqa: S311 - jitter, not a secret

    @asynccontextmanager
    async def http_client(self) -> AsyncIterator[None]:
        connector = guarded_connector(self.settings.allow_private_urls)
        async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as http:
            self.http = http
            yield

    def decode(self, message: Inbound) -> DeliveryTask:
        try:
            return task_decoder.decode(message.body)
        except msgspec.MsgspecError as exc:
            raise RejectMessage(f"not a delivery task: {exc}") from None

    async def handle_one(self, task: DeliveryTask) -> None:
        pending = await deliveries.load(self.pool, task.delivery_id)
        if pending is None or pending.status != "pending":
            return  # deleted, or already finished by an earlier copy of this task
        if not pending.enabled:
            await deliveries.fail_without_attempt(self.pool, pending.id, "subscription disabled")
            return
        slots = self.per_subscription[pending.subscription_id]
        if slots.locked():  # one slow receiver must not take every worker slot
            await self.defer(task)
            return
        async with slots:
            await self.deliver(task, pending)

    async def deliver(self, task: DeliveryTask, pending: deliveries.Pending) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            claim = await deliveries.claim(conn, pending)
        if claim == "busy":
            await self.defer(task)
            return
        if claim == "superseded":
            self.metrics.inc("chargehook_deliveries_total", outcome="superseded")
            return
        outcome = await self.attempt(pending)
        delay = None if outcome.succeeded else self.next_delay(task, outcome)
        if delay is not None:  # queued before it is recorded: a crash in between loses nothing
            retry = DeliveryTask(delivery_id=task.delivery_id, round=task.round + 1)
            await self.broker.publish(
                DEFAULT_EXCHANGE, f"chargehook.delivery.wait.{delay}", task_message(retry)
            )
        await self.record(pending, outcome, delay)

    def next_delay(self, task: DeliveryTask, outcome: Outcome) -> int | None:
        if outcome.result.status_code == 410:
            return None
        return retries.retry_delay_ms(
            self.schedule, self.delays, task.round, outcome.retry_after, self.rng
        )

    async def defer(self, task: DeliveryTask) -> None:
        """Try the same round a little later, without counting an attempt."""
        busy = round(self.settings.retry_busy_delay * 1000)
        await self.broker.publish(
            DEFAULT_EXCHANGE, f"chargehook.delivery.wait.{busy}", task_message(task)
        )

    async def attempt(self, pending: deliveries.Pending) -> Outcome:
        started, at = time.monotonic(), datetime.now(UTC)

        def outcome(
            status: int | None, kind: str | None, snippet: str | None, after: float | None = None
        ) -> Outcome:
            latency = round((time.monotonic() - started) * 1000)
            return Outcome(deliveries.Outcome(at, status, latency, kind, snippet), after)

        try:
            await check_url(pending.url, self.settings.allow_private_urls)
            headers = await self.signed_headers(pending, at)
            assert self.http is not None
            async with self.http.post(
                pending.url, data=pending.payload, headers=headers, allow_redirects=False
            ) as answer:
                snippet = (await answer.content.read(deliveries.SNIPPET_CHARS)).decode(
                    errors="replace"
                )
                if 200 <= answer.status < 300:
                    return outcome(answer.status, None, snippet)
                kind = "redirect" if 300 <= answer.status < 400 else "http_status"
                after = retries.retry_after_seconds(
                    answer.status, answer.headers.get("Retry-After"), at
                )
                return outcome(answer.status, kind, snippet, after)
        except UnsafeUrl as exc:
            return outcome(None, "unsafe_url", exc.reason)
        except TimeoutError:
            return outcome(None, "timeout", None)
        except aiohttp.ClientConnectorError as exc:
            return outcome(None, "connect", str(exc))
        except aiohttp.ClientError as exc:
            return outcome(None, "network", repr(exc))

    async def signed_headers(self, pending: deliveries.Pending, at: datetime) -> dict[str, str]:
        secrets = await subscriptions.active_secrets(self.pool, pending.subscription_id)
        stamp = int(at.timestamp())
        return {
            "Content-Type": "application/json",
            "webhook-id": pending.id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature_header(secrets, pending.id, stamp, pending.payload),
        }

    async def record(
        self, pending: deliveries.Pending, outcome: Outcome, delay: int | None
    ) -> None:
        result = outcome.result
        next_at = None if delay is None else result.attempted_at + timedelta(milliseconds=delay)
        context = {
            "delivery_id": pending.id,
            "subscription_id": pending.subscription_id,
            "session_id": pending.session_id,
        }
        async with self.pool.acquire() as conn, conn.transaction():
            attempt = await deliveries.record(conn, pending, result, next_at)
            if outcome.succeeded:
                await subscriptions.record_success(conn, pending.subscription_id)
            elif result.status_code == 410:
                await self.disable(conn, pending, "the endpoint answered 410 Gone")
            elif await self.unhealthy(conn, pending):
                await self.disable(conn, pending, "no successful delivery for too long")
        outcome_name = "succeeded" if outcome.succeeded else ("retrying" if delay else "failed")
        self.metrics.inc("chargehook_deliveries_total", outcome=outcome_name)
        log.info(
            "delivery attempt",
            attempt=attempt,
            status=result.status_code,
            error=result.error_kind,
            outcome=outcome_name,
            **context,
        )

    async def unhealthy(self, conn: Connection, pending: deliveries.Pending) -> bool:
        since = await deliveries.last_success_before(conn, pending.subscription_id)
        return since is not None and datetime.now(UTC) - since > timedelta(
            seconds=self.settings.disable_after
        )

    async def disable(self, conn: Connection, pending: deliveries.Pending, reason: str) -> None:
        await subscriptions.disable(conn, pending.subscription_id, reason)
        self.metrics.inc("chargehook_subscriptions_disabled_total")
        log.warning("subscription disabled", subscription_id=pending.subscription_id, reason=reason)


@dataclass
class NotifyService:
    """The notify worker kind: the fan-out and the deliverer, side by side in one process."""

    settings: Settings
    pool: Pool
    broker: Broker
    metrics: Metrics

    def __post_init__(self) -> None:
        self.cache = SubscriptionCache(self.pool)

    async def run(self, stop: asyncio.Event) -> None:
        s, cache = self.settings, self.cache
        fanout = FanOut(self.pool, self.broker, cache, s.notify_prefetch, s.notify_batch_size)
        deliverer = Deliverer(s, self.pool, self.broker, self.metrics)
        async with cache.kept_fresh(), deliverer.http_client():
            await asyncio.gather(
                Consumer(self.broker, fanout, self.metrics, s.batch_linger).run(stop),
                ConcurrentConsumer(self.broker, deliverer, self.metrics).run(stop),
            )
