"""The aiohttp application: the route table of `openapi.py`, the error shape, request metrics."""

import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web
from aiohttp.typedefs import Handler

from chargehook.ingest.context import INGEST, Ingest
from chargehook.ingest.errors import ApiError, shaped
from chargehook.ingest.ocpi.envelope import is_ocpi, ocpi_error
from chargehook.ingest.operators.portal import portal_routes
from chargehook.ingest.route_table import ROUTES
from chargehook.ocpi.parties import PartyTable
from chargehook.plumbing.broker import Broker, QueueSpec
from chargehook.plumbing.database import Pool
from chargehook.plumbing.metrics import Metrics
from chargehook.plumbing.settings import Settings
from chargehook.providers.limits import RateLimits
from chargehook.providers.tokens import TokenTable
from chargehook.schemas.session import CONTROL_CHARACTERS
from chargehook.sessions.accepting import Accepting
from chargehook.sessions.intake import MAX_BODY_BYTES

CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
# A compressed body stays compressed until a handler reads it: aiohttp would inflate it while
# it arrives, before any token is checked (and POST /v1/sessions refuses it with 415).
AUTO_DECOMPRESS = False


@web.middleware
async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One layer around every handler: faults in the page's error shape (the OCPI envelope on
    an OCPI route), each request counted and timed with its route and status (one middleware,
    not two, on the hot path)."""
    started = time.perf_counter()
    try:
        if any(CONTROL.search(value) for value in request.match_info.values()):
            # no id, name or token chargehook stores holds one (PostgreSQL text cannot hold NUL)
            raise ApiError(404, "No such resource: a path parameter holds a control character")
        response: web.StreamResponse = await handler(request)
    except Exception as exc:  # noqa: BLE001 - every fault gets the page's shape or OCPI's
        response = ocpi_error(exc, request) if is_ocpi(request) else shaped(exc, request)
    elapsed = time.perf_counter() - started
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    status = str(response.status)
    metrics = request.app[INGEST].metrics
    metrics.inc("chargehook_http_requests_total", route=route, status=status)
    metrics.observe("chargehook_http_request_seconds", elapsed, route=route, status=status)
    return response


def create_app(
    broker: Broker,
    pool: Pool,
    metrics: Metrics,
    admin_token: str | None,
    allow_private_urls: bool = False,
    delivery_batch_size: int = Settings().delivery_batch_size,
    provider_rate_limit: float = 0.0,
    queues: tuple[QueueSpec, ...] = (),
    disable_after: float = Settings().disable_after,
    public_url: str = "http://127.0.0.1:8080",
) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[answer])
    parties = PartyTable(pool)
    tokens = TokenTable(pool, parties.load)
    app[INGEST] = Ingest(
        broker,
        pool,
        tokens,
        metrics,
        admin_token,
        allow_private_urls,
        delivery_batch_size,
        Accepting(broker, pool, RateLimits(provider_rate_limit), metrics),
        queues,
        timedelta(seconds=disable_after),
        parties,
        public_url.rstrip("/"),
    )

    async def load_tokens(app: web.Application) -> AsyncIterator[None]:
        async with tokens.kept_fresh():
            yield

    app.cleanup_ctx.append(load_tokens)
    app.add_routes([route.definition() for route in ROUTES])
    app.add_routes(portal_routes())
    return app
