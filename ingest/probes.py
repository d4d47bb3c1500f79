"""The public probes, no token: liveness, readiness (the broker and the database answer) and the
process's metrics (docs/api.md#health-readiness-and-metrics)."""

from aiohttp import web

from chargehook.ingest.context import INGEST, RETRY_AFTER_SECONDS, json_response
from chargehook.ingest.errors import ApiError
from chargehook.plumbing.database import responds
from chargehook.plumbing.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE


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
