"""The subscriptions API and the delivery log of docs/api.md: admin token only. Each handler
parses, calls one use case of the webhooks room, and answers."""

from datetime import datetime
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from chargehook.ingest.context import admin, json_response, read_json
from chargehook.ingest.errors import ApiError
from chargehook.schemas import (
    DELIVERY_STATUSES,
    NewSubscription,
    Recover,
    Replayed,
    SubscriptionChange,
)
from chargehook.webhooks import deliveries, replaying, subscribing, subscriptions, test_sends
from chargehook.webhooks.ssrf import UnsafeUrl

T = TypeVar("T")
new_decoder = msgspec.json.Decoder(NewSubscription)
change_decoder = msgspec.json.Decoder(SubscriptionChange)
recover_decoder = msgspec.json.Decoder(Recover)
MAX_LOG = 500


def unsafe(exc: UnsafeUrl) -> ApiError:
    return ApiError(400, f"$.url: {exc.reason}")


def found(value: T | None, subscription_id: str) -> T:
    if value is None:
        raise ApiError(404, f"No subscription {subscription_id!r}")
    return value


async def create(request: web.Request) -> web.Response:
    ingest = await admin(request)
    new = await read_json(request, new_decoder)
    try:
        created = await subscribing.subscribe(ingest.pool, new, ingest.allow_private_urls)
    except UnsafeUrl as exc:
        raise unsafe(exc) from None
    return json_response(created, status=201)


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
    try:
        changed = await subscribing.change(ingest.pool, sid, change, ingest.allow_private_urls)
    except UnsafeUrl as exc:
        raise unsafe(exc) from None
    return json_response(found(changed, sid))


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
    answered = await test_sends.send_test(ingest.pool, sid, ingest.allow_private_urls)
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
    ingest, sid, delivery = (
        await admin(request),
        request.match_info["id"],
        request.match_info["delivery"],
    )
    replayed = await replaying.replay(ingest.pool, ingest.broker, sid, delivery)
    if not replayed:
        raise ApiError(404, f"No delivery {delivery!r} for {sid!r}")
    return json_response(Replayed(replayed=replayed), status=202)


async def recover(request: web.Request) -> web.Response:
    """Replay every failed delivery of the subscription since a time."""
    ingest, sid = await admin(request), request.match_info["id"]
    since = (await read_json(request, recover_decoder)).since
    recovered = await replaying.recover(
        ingest.pool, ingest.broker, sid, since, ingest.delivery_batch_size
    )
    return json_response(Replayed(replayed=found(recovered, sid)), status=202)


def _convert(text: str | None, kind: type[Any], name: str) -> Any:
    if text is None:
        return None
    try:
        return msgspec.convert(text, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise ApiError(400, f"{name}: {str(exc).split(' - at')[0]}") from None
