"""The sessions API of docs/api.md: accept events, read a session back; health and metrics."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import structlog
from aiohttp import web

from chargehook.billing.store import read_session_bill
from chargehook.ingest.auth import require_admin, require_provider
from chargehook.ingest.errors import ApiError
from chargehook.plumbing.broker import Broker, QueueSpec
from chargehook.plumbing.database import Pool, responds
from chargehook.plumbing.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from chargehook.plumbing.metrics import Metrics
from chargehook.providers.tokens import TokenTable
from chargehook.schemas import Accepted
from chargehook.sessions import store as sessions
from chargehook.sessions.accepting import Intake, KeyReused, NotConfirmed, OverRate, accept
from chargehook.sessions.intake import (
    BadInput,
    check_idempotency_key,
    envelope,
    split_body,
    validate,
)

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
    intake: Intake  # what accepting a callback needs
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
        await accept(ingest.intake, provider, envelopes, items, key)
    except BadInput as exc:
        raise ApiError(400, str(exc)) from None
    except OverRate as exc:
        raise ApiError(
            429, f"{exc}; retry after {exc.wait} s", {"Retry-After": str(exc.wait)}
        ) from None
    except KeyReused as exc:
        raise ApiError(409, str(exc)) from None
    except NotConfirmed:
        raise ApiError(
            503,
            "The broker did not confirm every event, so none is reported accepted; "
            f"retry the same request after {RETRY_AFTER_SECONDS} s (retries are deduplicated)",
            {"Retry-After": RETRY_AFTER_SECONDS},
        ) from None
    return json_response(Accepted(len(envelopes), [e.event_id for e in envelopes]))


async def plain_json(request: web.Request) -> bytes:
    """Every JSON body, read only once it is known to be JSON and not compressed (a compressed
    one stays so: the app does not inflate, docs/api.md#errors)."""
    if request.content_type not in JSON_TYPES:
        raise ApiError(415, f"Expected Content-Type application/json, got {request.content_type}")
    if request.headers.get("Content-Encoding", "identity").lower() not in IDENTITY:
        raise ApiError(415, "Expected an uncompressed body: Content-Encoding is not accepted")
    return await request.read()


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
    checks = {"broker": ingest.broker.is_ready(), "database": await responds(ingest.pool, 2)}
    if all(checks.values()):
        return json_response({"status": "ready", **checks})
    failing = ", ".join(name for name, ok in checks.items() if not ok)
    raise ApiError(503, f"Not ready: {failing} unreachable", {"Retry-After": RETRY_AFTER_SECONDS})


async def metrics(request: web.Request) -> web.Response:
    text = request.app[INGEST].metrics.render()
    return web.Response(body=text.encode(), headers={"Content-Type": METRICS_CONTENT_TYPE})
