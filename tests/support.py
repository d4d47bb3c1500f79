"""Helpers the tests share: where the services are, polling instead of sleeps, event
factories, a worker consuming in the test's process, a cuttable TCP proxy.

Fixtures live in conftest.py; everything a test imports lives here.
"""

import asyncio
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn, TypeVar

import aio_pika
import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from chargehook.ingest.app import AUTO_DECOMPRESS
from chargehook.plumbing.broker import (
    DEAD_AT_HEADER,
    DEAD_EXCHANGE,
    REASON_HEADER,
    Broker,
    OutboundMessage,
)
from chargehook.plumbing.consume import Consumer, Worker
from chargehook.plumbing.memory_broker import MemoryBroker
from chargehook.plumbing.metrics import Metrics
from chargehook.workers.persist import QUEUE as PERSIST_QUEUE
from lab import bodies
from lab.services import ServiceUnavailable, throwaway_database, throwaway_vhost

T = TypeVar("T")
BASE_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AMQP_ROOT = os.environ.get("TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
DATABASE_ROOT = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_TOKEN = "test-admin-token-of-at-least-32-characters"


def unavailable(what: str, error: BaseException) -> NoReturn:
    """A service is unreachable: skip on a developer's machine, fail when CI is set."""
    message = f"{what} unreachable: {error!r}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set: service tests must run)")
    pytest.skip(message)


@asynccontextmanager
async def fresh_vhost(prefix: str) -> AsyncIterator[str]:
    """A RabbitMQ vhost of the caller's own (lab.services), deleted after; its URL."""
    try:
        async with throwaway_vhost(AMQP_ROOT, prefix) as url:
            yield url
    except ServiceUnavailable as exc:  # only making the vhost raises it
        unavailable("RabbitMQ", exc)


@asynccontextmanager
async def fresh_database(prefix: str) -> AsyncIterator[str]:
    """A PostgreSQL database of the caller's own (lab.services), dropped after; its URL."""
    try:
        async with throwaway_database(DATABASE_ROOT, prefix) as url:
            yield url
    except ServiceUnavailable as exc:  # only making the database raises it
        unavailable("PostgreSQL", exc)


class IngestServer(TestServer):
    """The ingest app served as `chargehook ingest` serves it (TestServer drops its options)."""

    async def _make_runner(self, **kwargs: Any) -> web.AppRunner:
        return web.AppRunner(self.app, auto_decompress=AUTO_DECOMPRESS, **kwargs)


class RecordingBroker(MemoryBroker):
    """The in-process broker, keeping every message published through it (and routing none)."""

    def __init__(self) -> None:
        super().__init__()
        self.published: list[tuple[str, str, OutboundMessage]] = []

    async def publish(
        self, exchange: str, routing_key: str, message: OutboundMessage, mandatory: bool = True
    ) -> None:
        self.published.append((exchange, routing_key, message))


@dataclass(frozen=True)
class Provider:
    name: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@asynccontextmanager
async def consuming(broker: Broker, worker: Worker[Any], metrics: Metrics) -> AsyncIterator[None]:
    """`worker` consuming in this process until the block ends; then it drains."""
    stop = asyncio.Event()
    task = asyncio.create_task(Consumer(broker, worker, metrics).run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def eventually(
    probe: Callable[[], Awaitable[T]], within: float = 20.0, interval: float = 0.05
) -> T:
    """Poll `probe` until it returns something truthy; fail with its last value on timeout."""
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s; last value {value!r}")
        await asyncio.sleep(interval)


async def answers_ok(http: aiohttp.ClientSession, url: str) -> bool:
    """Whether `url` answers 200 yet: for waiting on a process that is starting."""
    try:
        async with http.get(url) as answer:
            return answer.status == 200
    except aiohttp.ClientError:
        return False


def at(minutes: float) -> str:
    return (BASE_TIME + timedelta(minutes=minutes)).isoformat()


def event(
    session_id: str, status: str, minute: float | None = None, **fields: Any
) -> dict[str, Any]:
    item: dict[str, Any] = {"id": session_id, "status": status, **fields}
    if minute is not None:
        item["updatedAt"] = at(minute)
    return item


async def publish_many(
    broker: Broker, exchange: str, messages: list[tuple[str, OutboundMessage]]
) -> None:
    """Many confirmed publishes, 500 in flight at a time."""
    for start in range(0, len(messages), 500):
        chunk = messages[start : start + 500]
        await asyncio.gather(*(broker.publish(exchange, key, message) for key, message in chunk))


async def queue_depth(amqp_url: str, queue: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection, connection.channel() as channel:
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


async def purge(amqp_url: str, *queues: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection, connection.channel() as channel:
        for name in queues:
            declared = await channel.declare_queue(name, passive=True)
            await declared.purge()


class TcpProxy:
    """Forwards a local port to a target; `cut()` drops every connection and stops listening."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.url = ""
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )
        self._writers -= {writer, up_writer}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()


async def dead_lettered(broker: Broker, provider: str, session_id: str) -> str:
    """A valid event in persist's dead-letter queue, as a worker with a bug (since fixed) would
    have left it; its message id."""
    message = bodies.event_message(provider, bodies.encode(bodies.item(session_id)))
    headers = {**message.headers, REASON_HEADER: "a bug, since fixed", DEAD_AT_HEADER: "now"}
    dead = OutboundMessage(message.body, message.message_id, headers)
    await broker.publish(DEAD_EXCHANGE, PERSIST_QUEUE.name, dead)
    return message.message_id


async def stored_events(pool: asyncpg.Pool, provider: str) -> int:
    """How many of the provider's events persist has stored."""
    count: int = await pool.fetchval(
        "SELECT count(*) FROM session_events WHERE provider = $1", provider
    )
    return count
