"""Accepting a provider's callback: within its rate, its Idempotency-Key not reused for another
event, every event published and confirmed by the broker (docs/api.md#posting-session-events).

The body has already been split, validated and named (`sessions.intake`); what is left are the
decisions that need the rate limits, the history and the broker. Each refusal is an exception
named for what the caller should tell the provider.
"""

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass

import structlog

from chargehook.plumbing.broker import EVENTS_EXCHANGE, Broker, OutboundMessage
from chargehook.plumbing.database import Pool
from chargehook.plumbing.errors import BrokerUnavailable
from chargehook.plumbing.faults import is_infrastructure
from chargehook.plumbing.metrics import Metrics
from chargehook.providers.limits import RateLimits
from chargehook.schemas import Envelope
from chargehook.sessions import store
from chargehook.sessions.events import event_headers, routing_key
from chargehook.sessions.intake import Item, canonical, envelope_encoder

log = structlog.get_logger("chargehook.ingest")
KEY_CHECK_TIMEOUT = 1.0  # seconds the Idempotency-Key check may take before it is skipped


class OverRate(Exception):
    """The provider is over its rate: tell it to come back after `wait` seconds."""

    def __init__(self, provider: str, rate: float, wait: int) -> None:
        super().__init__(f"Provider {provider!r} is over its rate of {rate:g} events/s")
        self.wait = wait


class KeyReused(Exception):
    """The Idempotency-Key was already used for a different event: refuse, do not retry."""


class NotConfirmed(Exception):
    """The broker did not confirm every event: none is reported accepted; retry the request."""


@dataclass(frozen=True)
class Accepting:
    """What accepting needs: the broker, the history, the limits and the counters."""

    broker: Broker
    pool: Pool
    limits: RateLimits
    metrics: Metrics


async def accept(
    accepting: Accepting,
    provider: str,
    envelopes: list[Envelope],
    items: list[Item],
    key: str | None,
) -> None:
    """Publish the provider's events, each confirmed, or raise why not."""
    if wait := accepting.limits.take(provider, len(items), time.monotonic()):
        raise OverRate(provider, accepting.limits.rate, wait)
    if key is not None:
        await refuse_a_reused_key(accepting.pool, provider, key, items[0])
    await publish_all(accepting, envelopes, items)
    accepting.metrics.inc("chargehook_events_accepted_total", len(envelopes), provider=provider)


async def refuse_a_reused_key(pool: Pool, provider: str, key: str, item: Item) -> None:
    """KeyReused for an Idempotency-Key already stored with another item; the same item is a
    retry.

    Checked against the history, so a reuse within the moment before persist stored the first
    is not seen here: persist and billing then keep the first (docs/api.md#event-identity). A
    database that does not answer does not hold up ingest: the check is skipped."""
    try:
        stored = await asyncio.wait_for(store.stored_item(pool, provider, key), KEY_CHECK_TIMEOUT)
    except Exception as exc:
        if not is_infrastructure(exc):
            raise
        log.warning("idempotency check skipped", error=repr(exc))
        return
    if stored is not None and canonical(stored) != canonical(item.raw):
        raise KeyReused(
            f"Idempotency-Key {key!r} was already used for a different session event; "
            "a retry must send the same body, a new event needs a new key"
        )


async def publish_all(accepting: Accepting, envelopes: list[Envelope], items: list[Item]) -> None:
    """Every publish awaits its own confirm; they run side by side, never behind a lock."""
    pairs = zip(envelopes, items, strict=True)
    if len(envelopes) == 1:  # the common callback: no task around its one publish
        results: list[BaseException | None] = [
            await _caught(_publish(accepting.broker, *next(pairs)))
        ]
    else:
        publishes = (_publish(accepting.broker, env, item) for env, item in pairs)
        results = await asyncio.gather(*publishes, return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    if not failures:
        return
    accepting.metrics.inc("chargehook_publish_failures_total", len(failures))
    unexpected = [f for f in failures if not isinstance(f, BrokerUnavailable)]
    if unexpected:
        raise unexpected[0]
    log.warning("publish not confirmed", failures=len(failures), error=str(failures[0]))
    raise NotConfirmed(f"{len(failures)} of {len(envelopes)} events not confirmed")


async def _caught(publishing: Awaitable[None]) -> BaseException | None:
    try:
        await publishing
    except Exception as exc:  # noqa: BLE001 - sorted by publish_all, as gather's would be
        return exc
    return None


async def _publish(broker: Broker, env: Envelope, item: Item) -> None:
    status = item.session.status
    headers = event_headers(status, env.provider)
    message = OutboundMessage(envelope_encoder.encode(env), env.event_id, headers)
    await broker.publish(EVENTS_EXCHANGE, routing_key(status, env.provider), message)
    log.debug(
        "event accepted", provider=env.provider, session_id=item.session.id, event_id=env.event_id
    )
