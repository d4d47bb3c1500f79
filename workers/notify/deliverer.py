"""The deliverer: one delivery attempt per task, signed, ordered per session, retried from the
broker. The rules it follows are chargehook.webhooks.lifecycle's (docs/delivery.md)."""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aiohttp
import msgspec
import structlog

from chargehook.plumbing.broker import Broker, Inbound
from chargehook.plumbing.database import Connection, Pool
from chargehook.plumbing.errors import RejectMessage
from chargehook.plumbing.metrics import Metrics
from chargehook.plumbing.settings import Settings
from chargehook.schemas import DeliveryTask
from chargehook.webhooks import deliveries, lifecycle, retries, subscriptions, tasks
from chargehook.webhooks.deliveries import Pending
from chargehook.webhooks.lifecycle import AttemptResult
from chargehook.webhooks.signing import signature_header
from chargehook.webhooks.ssrf import UnsafeUrl, check_url, guarded_connector

TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
log = structlog.get_logger("chargehook.notify")
task_decoder = msgspec.json.Decoder(DeliveryTask)


class Deliverer:
    """Attempts one delivery per message; the consumer runs many side by side."""

    name = "deliver"
    queue = tasks.DELIVERY_QUEUE

    def __init__(self, settings: Settings, pool: Pool, broker: Broker, metrics: Metrics) -> None:
        self.settings, self.pool, self.broker, self.metrics = settings, pool, broker, metrics
        self.concurrency = settings.delivery_concurrency
        self.schedule = retries.parse_schedule(settings.retry_schedule)
        self.delays = retries.delays_ms(self.schedule, settings.retry_busy_delay)
        self.busy_delay_ms = round(settings.retry_busy_delay * 1000)
        self.disable_after = timedelta(seconds=settings.disable_after)
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
            await tasks.queue_after(self.broker, task, self.busy_delay_ms)
            return
        async with slots:
            await self.deliver(task, pending)

    async def deliver(self, task: DeliveryTask, pending: Pending) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            claim = await deliveries.claim(conn, pending)
        if claim == "busy":  # the same round a little later, without counting an attempt
            await tasks.queue_after(self.broker, task, self.busy_delay_ms)
            return
        if claim == "superseded":
            self.metrics.inc("chargehook_deliveries_total", outcome="superseded")
            return
        result = await self.attempt(pending)
        delay = self.next_delay(task, result)
        if delay is not None:  # queued before it is recorded: a crash in between loses nothing
            retry = DeliveryTask(delivery_id=task.delivery_id, round=task.round + 1)
            await tasks.queue_after(self.broker, retry, delay)
        await self.record(pending, result, delay)

    def next_delay(self, task: DeliveryTask, result: AttemptResult) -> int | None:
        if not lifecycle.may_retry(result):
            return None
        return retries.retry_delay_ms(
            self.schedule, self.delays, task.round, result.retry_after, self.rng
        )

    async def attempt(self, pending: Pending) -> AttemptResult:
        started, at = time.monotonic(), datetime.now(UTC)

        def result(
            status: int | None, kind: str | None, snippet: str | None, after: float | None = None
        ) -> AttemptResult:
            latency = round((time.monotonic() - started) * 1000)
            return AttemptResult(at, status, latency, kind, snippet, after)

        try:
            await check_url(pending.url, self.settings.allow_private_urls)
            headers = await self.signed_headers(pending, at)
            assert self.http is not None
            async with self.http.post(
                pending.url, data=pending.payload, headers=headers, allow_redirects=False
            ) as answer:
                raw = await answer.content.read(lifecycle.SNIPPET_CHARS)
                snippet = raw.decode(errors="replace")
                if 200 <= answer.status < 300:
                    return result(answer.status, None, snippet)
                kind = "redirect" if 300 <= answer.status < 400 else "http_status"
                after = retries.retry_after_seconds(
                    answer.status, answer.headers.get("Retry-After"), at
                )
                return result(answer.status, kind, snippet, after)
        except UnsafeUrl as exc:
            return result(None, "unsafe_url", exc.reason)
        except TimeoutError:
            return result(None, "timeout", None)
        except aiohttp.ClientConnectorError as exc:
            return result(None, "connect", str(exc))
        except aiohttp.ClientError as exc:
            return result(None, "network", repr(exc))

    async def signed_headers(self, pending: Pending, at: datetime) -> dict[str, str]:
        secrets = await subscriptions.active_secrets(self.pool, pending.subscription_id)
        stamp = int(at.timestamp())
        return {
            "Content-Type": "application/json",
            "webhook-id": pending.id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": signature_header(secrets, pending.id, stamp, pending.payload),
        }

    async def record(self, pending: Pending, result: AttemptResult, delay: int | None) -> None:
        next_at = None if delay is None else result.attempted_at + timedelta(milliseconds=delay)
        async with self.pool.acquire() as conn, conn.transaction():
            attempt, status = await deliveries.record(conn, pending, result, next_at)
            if result.succeeded:
                await subscriptions.record_success(conn, pending.subscription_id)
            else:
                await self.check_health(conn, pending, result)
        outcome = lifecycle.outcome(status)
        self.metrics.inc("chargehook_deliveries_total", outcome=outcome)
        log.info(
            "delivery attempt",
            attempt=attempt,
            status=result.status_code,
            error=result.error_kind,
            outcome=outcome,
            delivery_id=pending.id,
            subscription_id=pending.subscription_id,
            session_id=pending.session_id,
        )

    async def check_health(self, conn: Connection, pending: Pending, result: AttemptResult) -> None:
        """Switch the subscription off on a 410 or after too long without a success."""
        last = (
            None if result.gone else await subscriptions.last_success(conn, pending.subscription_id)
        )
        reason = lifecycle.disable_reason(result, last, datetime.now(UTC), self.disable_after)
        if reason is None:
            return
        await subscriptions.disable(conn, pending.subscription_id, reason)
        self.metrics.inc("chargehook_subscriptions_disabled_total")
        log.warning("subscription disabled", subscription_id=pending.subscription_id, reason=reason)
