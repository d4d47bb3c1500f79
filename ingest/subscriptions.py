"""The subscriptions API of docs/delivery.md and the delivery log: admin token only."""

from datetime import datetime
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from chargehook.ingest.auth import require_admin
from chargehook.ingest.errors import ApiError
from chargehook.ingest.intake import explain
from chargehook.ingest.routes import INGEST, Ingest, json_response, plain_json
from chargehook.schemas import (
    DELIVERY_STATUSES,
    DeliveryTask,
    NewSubscription,
    Recover,
    Replayed,
    SubscriptionChange,
)
from chargehook.webhooks import deliveries, probe, subscriptions, tasks
from chargehook.webhooks.ssrf import UnsafeUrl, check_url

T = TypeVar("T")
new_decoder = msgspec.json.Decoder(NewSubscription)
change_decoder = msgspec.json.Decoder(SubscriptionChange)
recover_decoder = msgspec.json.Decoder(Recover)
MAX_LOG = 500


async def admin(request: web.Request) -> Ingest:
    ingest = request.app[INGEST]
    await require_admin(request, ingest.tokens, ingest.admin_token)
    return ingest


async def read_json(request: web.Request, decoder: msgspec.json.Decoder[T]) -> T:
    body = await plain_json(request)
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ApiError(400, explain(exc, "$")) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"Body is not valid JSON: {exc}") from None


async def safe_url(url: str, ingest: Ingest) -> None:
    try:
        await check_url(url, ingest.allow_private_urls)
    except UnsafeUrl as exc:
        raise ApiError(400, f"$.url: {exc.reason}") from None


def found(value: T | None, subscription_id: str) -> T:
    if value is None:
        raise ApiError(404, f"No subscription {subscription_id!r}")
    return value


async def create(request: web.Request) -> web.Response:
    ingest = await admin(request)
    new = await read_json(request, new_decoder)
    await safe_url(new.url, ingest)
    return json_response(await subscriptions.create(ingest.pool, new), status=201)


async def list_all(request: web.Request) -> web.Response:
    ingest = await admin(request)
    return json_response(await subscriptions.list_all(ingest.pool))


async def health(request: web.Request) -> web.Response:
    ingest = await admin(request)
    return json_response(await subscriptions.health(ingest.pool, ingest.disable_after))


async def read(request: web.Request) -> web.Response:
    ingest, sid = await admin(request), request.match_info["id"]
    return json_response(found(await subscriptions.get(ingest.pool, sid), sid))


async def update(request: web.Request) -> web.Response:
    ingest, sid = await admin(request), request.match_info["id"]
    change = await read_json(request, change_decoder)
    if not isinstance(change.url, msgspec.UnsetType):
        await safe_url(change.url, ingest)
    return json_response(found(await subscriptions.update(ingest.pool, sid, change), sid))


async def delete(request: web.Request) -> web.Response:
    ingest, sid = await admin(request), request.match_info["id"]
    found(await subscriptions.delete(ingest.pool, sid) or None, sid)
    return web.Response(status=204)


async def rotate_secret(request: web.Request) -> web.Response:
    ingest, sid = await admin(request), request.match_info["id"]
    return json_response(found(await subscriptions.rotate_secret(ingest.pool, sid), sid))


async def send_test(request: web.Request) -> web.Response:
    """A signed example event to the subscription's URL, and what the receiver answered."""
    ingest, sid = await admin(request), request.match_info["id"]
    answered = await probe.send_test(ingest.pool, sid, ingest.allow_private_urls)
    return json_response(found(answered, sid))


async def delivery_log(request: web.Request) -> web.Response:
    """Deliveries with every attempt, newest first; filters `status`, `since`, `limit`."""
    ingest, sid = await admin(request), request.match_info["id"]
    found(await subscriptions.get(ingest.pool, sid), sid)
    query = request.query
    status = query.get("status")
    if status is not None and status not in DELIVERY_STATUSES:
        raise ApiError(400, f"status: Expected one of {', '.join(DELIVERY_STATUSES)}")
    since = _convert(query.get("since"), datetime, "since")
    limit = _convert(query.get("limit", "100"), int, "limit")
    if not 0 < limit <= MAX_LOG:
        raise ApiError(400, f"limit: Expected 1 to {MAX_LOG}")
    return json_response(await deliveries.log(ingest.pool, sid, status, since, limit))


async def replay(request: web.Request) -> web.Response:
    ingest, sid = await admin(request), request.match_info["id"]
    reopened = await deliveries.reopen(ingest.pool, sid, request.match_info["delivery"], None)
    if not reopened:
        raise ApiError(404, f"No delivery {request.match_info['delivery']!r} for {sid!r}")
    return await _queue(ingest, reopened, 1)


async def recover(request: web.Request) -> web.Response:
    """Replay every failed delivery of the subscription since a time."""
    ingest, sid = await admin(request), request.match_info["id"]
    subscription = found(await subscriptions.get(ingest.pool, sid), sid)
    since = (await read_json(request, recover_decoder)).since
    reopened = await deliveries.reopen(ingest.pool, sid, None, since)
    return await _queue(ingest, reopened, subscription.batch_size or ingest.delivery_batch_size)


async def _queue(ingest: Ingest, delivery_ids: list[str], batch_size: int) -> web.Response:
    for chunk in tasks.chunks(delivery_ids, batch_size):
        await tasks.queue_now(ingest.broker, DeliveryTask(delivery_ids=chunk), tag="replay")
    return json_response(Replayed(replayed=len(delivery_ids)), status=202)


def _convert(text: str | None, kind: type[Any], name: str) -> Any:
    if text is None:
        return None
    try:
        return msgspec.convert(text, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ApiError(400, f"{name}: {str(exc).split(' - at')[0]}") from None
