"""Wiring: open the resources a command needs, build the services on them, run until stopped."""

import asyncio
import secrets
import signal
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import structlog
from aiohttp import web

from chargehook.ingest.app import AUTO_DECOMPRESS, create_app
from chargehook.ingest.operators.portal import PREFIX as PORTAL
from chargehook.metrics_catalog import every_metric
from chargehook.ocpi import registering
from chargehook.ocpi.cpos import CpoConflict
from chargehook.ocpi.parties import party_code
from chargehook.plumbing.amqp import amqp_broker
from chargehook.plumbing.broker import Broker
from chargehook.plumbing.cluster import (
    broker_urls,
    management_urls,
    placement_lines,
    placements,
    vhost_of,
)
from chargehook.plumbing.database import Pool, embedded_postgres, migrate, open_pool
from chargehook.plumbing.errors import ConfigError
from chargehook.plumbing.memory_broker import MemoryBroker
from chargehook.plumbing.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from chargehook.plumbing.metrics import Metrics
from chargehook.plumbing.settings import Settings
from chargehook.providers.store import add_provider
from chargehook.workers import ALL_QUEUES, WORKERS, Deps, delay_queues

log = structlog.get_logger("chargehook")


@dataclass(frozen=True)
class Resources:
    broker: Broker
    pool: Pool
    metrics: Metrics


def require_services(settings: Settings, command: str) -> None:
    """Processes that scale apart must share a real broker and database."""
    for name, value in (("AMQP_URL", settings.amqp_url), ("DATABASE_URL", settings.database_url)):
        if value is None:
            flag = "--" + name.lower().replace("_", "-")
            raise ConfigError(f"`chargehook {command}` needs CHARGEHOOK_{name} (or {flag})")


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Pool]:
    async with AsyncExitStack() as stack:
        url = settings.database_url
        if url is None:
            url = await stack.enter_async_context(embedded_postgres(settings.data_dir))
        pool = await stack.enter_async_context(open_pool(url))
        await migrate(pool)
        yield pool


@asynccontextmanager
async def open_broker(
    settings: Settings, name: str, metrics: Metrics | None = None
) -> AsyncIterator[Broker]:
    if settings.amqp_url is None:
        broker: Broker = MemoryBroker(metrics)
        await broker.declare(ALL_QUEUES, delay_queues(settings))
        yield broker
        return
    async with amqp_broker(settings.amqp_url, name, settings.publish_timeout, metrics) as amqp:
        # Every process declares every worker queue, so no accepted event routes to nothing.
        await amqp.declare(ALL_QUEUES, delay_queues(settings))
        yield amqp


@asynccontextmanager
async def open_resources(settings: Settings, name: str) -> AsyncIterator[Resources]:
    metrics = every_metric()
    async with open_database(settings) as pool, open_broker(settings, name, metrics) as broker:
        yield Resources(broker, pool, metrics)


WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # noqa: S104 - names a wildcard, binds nothing


@asynccontextmanager
async def listening(
    resources: Resources, settings: Settings, admin_token: str | None
) -> AsyncIterator[None]:
    """Ingest accepting requests; on leaving, it stops accepting and lets in-flight ones finish."""
    app = create_app(
        resources.broker,
        resources.pool,
        resources.metrics,
        admin_token,
        settings.allow_private_urls,
        settings.delivery_batch_size,
        settings.provider_rate_limit,
        ALL_QUEUES,
        settings.disable_after,
        settings.base_url,
        settings.ocpi_country_code,
        settings.ocpi_party_id,
        settings.ocpi_business_name,
    )
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, auto_decompress=AUTO_DECOMPRESS
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http_host, settings.http_port).start()
        log.info("ingest listening", url=f"http://{settings.http_host}:{settings.http_port}")
        if settings.public_url is None and settings.http_host in WILDCARD_HOSTS:
            log.warning(
                "CHARGEHOOK_PUBLIC_URL unset: OCPI URLs handed to CPOs name a wildcard address",
                base_url=settings.base_url,
            )
        yield
    finally:
        await runner.cleanup()


async def serve_worker(
    kind: str, resources: Resources, settings: Settings, stop: asyncio.Event
) -> None:
    deps = Deps(settings, resources.pool, resources.broker, resources.metrics)
    service = WORKERS[kind].build(deps)
    log.info("worker consuming", worker=kind, queues=[q.name for q in WORKERS[kind].queues])
    await drained(service.run(stop), stop, settings.drain_timeout)


async def drained(work: Awaitable[None], stop: asyncio.Event, grace: float) -> None:
    """Run `work`; once `stop` is set give it `grace` seconds to finish, then cancel it."""
    task = asyncio.ensure_future(work)
    await asyncio.wait(
        {task, asyncio.ensure_future(stop.wait())}, return_when=asyncio.FIRST_COMPLETED
    )
    if not task.done():
        await asyncio.wait({task}, timeout=grace)
        task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    if not task.cancelled() and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]


def stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def run_all(settings: Settings) -> None:
    """Ingest and every worker kind in one process: the single-machine and embedded mode."""
    stop = stop_on_signals()
    async with open_resources(settings, "chargehook run") as resources:
        admin_token = settings.admin_token or "cha_" + secrets.token_urlsafe(24)
        demo_token = demo_cpo_token = None
        if settings.database_url is None:
            demo_token = await add_provider(resources.pool, "demo")
            demo_cpo_token = await add_demo_cpo(resources.pool)
        async with listening(resources, settings, admin_token):
            print_welcome(settings, admin_token, demo_token, settings.admin_token is None)
            print_demo_cpo(settings, demo_cpo_token)
            await asyncio.gather(
                *(serve_worker(kind, resources, settings, stop) for kind in WORKERS)
            )


async def run_ingest(settings: Settings) -> None:
    require_services(settings, "ingest")
    stop = stop_on_signals()
    async with (
        open_resources(settings, "chargehook ingest") as resources,
        listening(resources, settings, settings.admin_token),
    ):
        await stop.wait()


async def run_worker(settings: Settings, kind: str) -> None:
    require_services(settings, f"worker {kind}")
    stop = stop_on_signals()
    async with (
        open_resources(settings, f"chargehook worker {kind}") as resources,
        metrics_endpoint(settings, resources.metrics),
    ):
        await serve_worker(kind, resources, settings, stop)


@asynccontextmanager
async def metrics_endpoint(settings: Settings, metrics: Metrics) -> AsyncIterator[None]:
    """A worker's own /metrics and /healthz, when CHARGEHOOK_METRICS_PORT is set."""
    if settings.metrics_port is None:
        yield
        return

    async def render(request: web.Request) -> web.Response:
        text = metrics.render()
        return web.Response(body=text.encode(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def alive(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.add_routes([web.get("/metrics", render), web.get("/healthz", alive)])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.http_host, settings.metrics_port).start()
        yield
    finally:
        await runner.cleanup()


async def run_migrate(settings: Settings) -> None:
    async with open_database(settings):
        print("migrations: up to date")


async def run_topology(settings: Settings) -> None:
    if settings.amqp_url is None:
        raise ConfigError("`chargehook topology` needs CHARGEHOOK_AMQP_URL (or --amqp-url)")
    async with open_broker(settings, "chargehook topology"):
        print("topology declared: " + ", ".join(queue.name for queue in ALL_QUEUES))
    urls = broker_urls(settings.amqp_url)
    names = [name for q in ALL_QUEUES for name in (q.name, q.dead_letter_queue)]
    names += [delay.name for delay in delay_queues(settings)]
    management = management_urls(urls, settings.management_url)
    found = await placements(management, vhost_of(urls[0]), names)
    if found is None:
        print("where each queue lives: no management API answered (CHARGEHOOK_MANAGEMENT_URL)")
        return
    print("\n".join(placement_lines(found)))


DEMO_CPO, DEMO_PARTY = "demo-cpo", ("ES", "DEM")


async def add_demo_cpo(pool: Pool) -> str | None:
    """The demo CPO's token A; None when it registered in an earlier run (its data dir kept)."""
    try:
        return await registering.add_cpo(pool, DEMO_CPO, {DEMO_PARTY})
    except CpoConflict:
        return None


def print_demo_cpo(settings: Settings, token_a: str | None) -> None:
    if token_a is None:
        print(f"  demo OCPI CPO {DEMO_CPO}: registered in an earlier run", flush=True)
        return
    lines = [
        f"  demo OCPI CPO {DEMO_CPO} (party {party_code(DEMO_PARTY)}), token A: {token_a}",
        "  onboard it and push its session with curl, step by step: docs/ocpi.md#a-demo-cpo",
        f"    curl -s -H 'Authorization: Token {token_a}' {settings.base_url}/ocpi/versions",
    ]
    print("\n".join(lines), flush=True)


def print_welcome(
    settings: Settings, admin_token: str, demo_token: str | None, generated: bool
) -> None:
    url = f"http://{settings.http_host}:{settings.http_port}"
    mode = "the embedded default" if settings.embedded else "the configured services"
    lines = [f"chargehook is running on {mode}: {url}"]
    if generated:
        lines.append(f"  admin token (generated for this run): {admin_token}")
    lines.append(f"  operators' portal: {url}{PORTAL}/ (log in with the admin token)")
    if demo_token is not None:
        lines += [
            f"  demo provider token: {demo_token}",
            "  post the webhook page's example:",
            f"    curl -s -H 'Authorization: Bearer {demo_token}' \\",
            "      -H 'Content-Type: application/json' --data @examples/page-example.json \\",
            f"      {url}/v1/sessions",
            "  read it back, billed:",
            f"    curl -s -H 'Authorization: Bearer {admin_token}' \\",
            f"      {url}/v1/sessions/demo/string",
        ]
    print("\n".join(lines), flush=True)
