"""The sessions API of docs/api.md: accept events, read a session back; health and metrics."""

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import structlog
from aiohttp import web

from chargehook.billing.store import read_session_bill
from chargehook.ingest.auth import TokenTable, require_admin, require_provider
from chargehook.ingest.errors import ApiError
from chargehook.ingest.intake import (
    BadInput,
    Item,
    canonical,
    check_idempotency_key,
    envelope,
    envelope_encoder,
    split_body,
    validate,
)
from chargehook.plumbing.broker import EVENTS_EXCHANGE, Broker, OutboundMessage, QueueSpec
from chargehook.plumbing.database import Pool
from chargehook.plumbing.errors import BrokerUnavailable
from chargehook.plumbing.faults import is_infrastructure
from chargehook.plumbing.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from chargehook.plumbing.metrics import Metrics
from chargehook.providers.limits import RateLimits
from chargehook.schemas import Accepted, Envelope
from chargehook.sessions import store as sessions
from chargehook.sessions.events import event_headers, routing_key

log = structlog.get_logger("chargehook.ingest")
RETRY_AFTER_SECONDS = "5"
JSON_TYPES = ("application/json",)
IDENTITY = ("identity", "")
encoder = msgspec.json.Encoder(decimal_format="number")


@dataclass(frozen=True)
class Ingest:
    broker: Broker
    pool: Pool
    tokens: TokenTable
    metrics: Metrics
    admin_token: str | None
    allow_private_urls: bool
    delivery_batch_size: int  # a recovery's tasks carry this many deliveries at most
    limits: RateLimits
    queues: tuple[QueueSpec, ...]  # the work queues, whose dead letters the API shows
    disable_after: timedelta  # a subscription failing this long past its last success stops


INGEST = web.AppKey("ingest", Ingest)


def json_response(value: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=encoder.encode(value), content_type="application/json")


async def post_sessions(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    provider = await require_provider(request, ingest.tokens, ingest.admin_token)
    body = await plain_json(request)
    try:
        raws, is_array = split_body(body)
        key = check_idempotency_key(request.headers.get("Idempotency-Key"), len(raws))
        items = validate(raws, is_array)
        received_at = datetime.now(UTC)
        envelopes = [envelope(provider, item, received_at, key) for item in items]
    except BadInput as exc:
        raise ApiError(400, str(exc)) from None
    if wait := ingest.limits.take(provider, len(items), time.monotonic()):
        raise ApiError(
            429,
            f"Provider {provider!r} is over its rate of {ingest.limits.rate:g} events/s; "
            f"retry after {wait} s",
            {"Retry-After": str(wait)},
        )
    if key is not None:
        await refuse_a_reused_key(ingest, provider, key, items[0])
    await publish_all(ingest, envelopes, items)
    ingest.metrics.inc("chargehook_events_accepted_total", len(envelopes), provider=provider)
    return json_response(Accepted(len(envelopes), [e.event_id for e in envelopes]))


async def plain_json(request: web.Request) -> bytes:
    """Every JSON body, read only once it is known to be JSON and not compressed (a compressed
    one stays so: the app does not inflate, docs/api.md#errors)."""
    if request.content_type not in JSON_TYPES:
        raise ApiError(415, f"Expected Content-Type application/json, got {request.content_type}")
    if request.headers.get("Content-Encoding", "identity").lower() not in IDENTITY:
        raise ApiError(415, "Expected an uncompressed body: Content-Encoding is not accepted")
    return await request.read()


async def refuse_a_reused_key(ingest: Ingest, provider: str, key: str, item: Item) -> None:
    """409 for an Idempotency-Key already stored with another item; the same item is a retry.

    Checked against the history, so a reuse within the moment before persist stored the first
    is not seen here: persist and billing then keep the first (docs/api.md#event-identity). A
    database that does not answer does not hold up ingest: the check is skipped."""
    try:
        stored = await asyncio.wait_for(sessions.stored_item(ingest.pool, provider, key), 1)
    except Exception as exc:
        if not is_infrastructure(exc):
            raise
        log.warning("idempotency check skipped", error=repr(exc))
        return
    if stored is not None and canonical(stored) != canonical(item.raw):
        raise ApiError(
            409,
            f"Idempotency-Key {key!r} was already used for a different session event; "
            "a retry must send the same body, a new event needs a new key",
        )


async def publish_all(ingest: Ingest, envelopes: list[Envelope], items: list[Item]) -> None:
    """Every publish awaits its own confirm; they run side by side, never behind a lock."""
    pairs = zip(envelopes, items, strict=True)
    if len(envelopes) == 1:  # the common callback: no task around its one publish
        results: list[BaseException | None] = [await _caught(_publish(ingest.broker, *next(pairs)))]
    else:
        publishes = (_publish(ingest.broker, env, item) for env, item in pairs)
        results = await asyncio.gather(*publishes, return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    if not failures:
        return
    ingest.metrics.inc("chargehook_publish_failures_total", len(failures))
    unexpected = [f for f in failures if not isinstance(f, BrokerUnavailable)]
    if unexpected:
        raise unexpected[0]
    log.warning("publish not confirmed", failures=len(failures), error=str(failures[0]))
    raise ApiError(
        503,
        "The broker did not confirm every event, so none is reported accepted; "
        f"retry the same request after {RETRY_AFTER_SECONDS} s (retries are deduplicated)",
        {"Retry-After": RETRY_AFTER_SECONDS},
    )


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


async def get_session(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    await require_admin(request, ingest.tokens, ingest.admin_token)
    provider, session_id = request.match_info["provider"], request.match_info["id"]
    state = await sessions.session_state(ingest.pool, provider, session_id)
    if state is None:
        raise ApiError(404, f"No session {session_id!r} from provider {provider!r}")
    billing = await read_session_bill(ingest.pool, provider, session_id)
    return json_response(msgspec.structs.replace(state, billing=billing))


async def get_session_events(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    await require_admin(request, ingest.tokens, ingest.admin_token)
    provider, session_id = request.match_info["provider"], request.match_info["id"]
    events = await sessions.session_events(ingest.pool, provider, session_id)
    if not events:
        raise ApiError(404, f"No session {session_id!r} from provider {provider!r}")
    return json_response(events)


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    checks = {"broker": ingest.broker.is_ready(), "database": await _database_ok(ingest.pool)}
    if all(checks.values()):
        return json_response({"status": "ready", **checks})
    failing = ", ".join(name for name, ok in checks.items() if not ok)
    raise ApiError(503, f"Not ready: {failing} unreachable", {"Retry-After": RETRY_AFTER_SECONDS})


async def _database_ok(pool: Pool) -> bool:
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), 2)
    except Exception:  # noqa: BLE001 - any failure means "not ready"
        return False
    return True


async def metrics(request: web.Request) -> web.Response:
    text = request.app[INGEST].metrics.render()
    return web.Response(body=text.encode(), headers={"Content-Type": METRICS_CONTENT_TYPE})
