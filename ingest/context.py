"""What every face's handlers share: the application's dependencies (`Ingest`, under `INGEST`),
the token a route asks for, and JSON in and out."""

from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import msgspec
from aiohttp import web

from chargehook.ingest.auth import require_admin
from chargehook.ingest.errors import ApiError
from chargehook.ocpi.parties import PartyTable
from chargehook.ocpi.registering import Registry
from chargehook.plumbing.broker import Broker, QueueSpec
from chargehook.plumbing.database import Pool
from chargehook.plumbing.metrics import Metrics
from chargehook.providers.tokens import TokenTable
from chargehook.sessions.accepting import Accepting
from chargehook.sessions.intake import explain

T = TypeVar("T")
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
    accepting: Accepting  # what accepting a callback needs
    queues: tuple[QueueSpec, ...]  # the work queues, whose dead letters the API shows
    disable_after: timedelta  # a subscription failing this long past its last success stops
    parties: PartyTable  # which parties each OCPI CPO may push for
    public_url: str  # where CPOs reach this ingest: the base of the OCPI URLs it hands out
    registry: Registry  # what onboarding a CPO needs


INGEST = web.AppKey("ingest", Ingest)


def json_response(value: object, status: int = 200) -> web.Response:
    return web.Response(status=status, body=encoder.encode(value), content_type="application/json")


async def plain_json(request: web.Request) -> bytes:
    """Every JSON body, read only once it is known to be JSON and not compressed (a compressed
    one stays so: the app does not inflate, docs/api.md#errors)."""
    if request.content_type not in JSON_TYPES:
        raise ApiError(415, f"Expected Content-Type application/json, got {request.content_type}")
    if request.headers.get("Content-Encoding", "identity").lower() not in IDENTITY:
        raise ApiError(415, "Expected an uncompressed body: Content-Encoding is not accepted")
    return await request.read()


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
