"""The bench's own RabbitMQ vhost and PostgreSQL database, the chargehook processes it runs on
them, and the probes it reads them with (queue depths, consumers, row counts).

`open_lab` stops every child it started when it closes, on an error or Ctrl-C too, and drops
the vhost and the database.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aio_pika
import aiohttp
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractConnection

from bench.processes import Child, Children, chargehook_args, command
from chargehook.plumbing.settings import load_settings
from chargehook.webhooks.tasks import wait_queue
from chargehook.workers import ALL_QUEUES, delay_queues
from lab.cpos import registered_cpo
from lab.services import chargehook_env, free_port, throwaway_database, throwaway_vhost

QUEUES = {queue.name.removeprefix("chargehook."): queue.name for queue in ALL_QUEUES}
PERSIST, BILLING, NOTIFY, DELIVERIES, OCPI = (
    QUEUES[kind] for kind in ("persist", "billing", "notify", "deliveries", "ocpi")
)
WORK_QUEUES = (PERSIST, BILLING, NOTIFY, DELIVERIES)  # the page-shaped pipeline's
# A probe connection idle this long is closed: its backend then reports its commits at once,
# where an idle one may hold them 10 s (PostgreSQL 15), and the design counts take them off.
PROBE_IDLE = 0.5
ADMIN_TOKEN = "bench-admin-token-of-at-least-32-characters"  # noqa: S105 - a fixed token of a throwaway vhost and database


@dataclass
class Lab:
    """A vhost and a database of the bench's own, with what the stages need to read them."""

    amqp_url: str
    database_url: str
    children: Children
    connection: AbstractConnection
    pool: asyncpg.Pool
    overrides: dict[str, str]
    http: aiohttp.ClientSession
    database_root: str = ""  # the server's own database: stats read there count in no other
    _channel: AbstractChannel | None = None

    @property
    def busy_queue(self) -> str:
        """The delay queue a delivery waits in when its subscriber's slots are all taken."""
        settings = load_settings({}, self.overrides)
        return wait_queue(round(settings.retry_busy_delay * 1000))

    def env(self, **settings: str) -> dict[str, str]:
        """The environment of a chargehook process on this lab's broker and database."""
        values = {
            "amqp_url": self.amqp_url,
            "database_url": self.database_url,
            "admin_token": ADMIN_TOKEN,
            "allow_private_urls": "true",
            "log_level": "warning",
            "log_format": "json",
            "drain_timeout": "3",
            **self.overrides,
            **settings,
        }
        return chargehook_env(**values)

    async def chargehook(self, *args: str) -> str:
        return await command(chargehook_args(*args), self.env())

    async def add_provider(self, name: str) -> str:
        """`chargehook provider add NAME`; the token is the last line it prints."""
        return (await self.chargehook("provider", "add", name)).strip().splitlines()[-1]

    async def add_cpo(self, name: str, country_code: str, party_id: str) -> str:
        """A registered OCPI CPO with one party (lab.cpos); its token C."""
        return await registered_cpo(self.pool, name, country_code, party_id)

    async def add_subscription(self, url: str) -> str:
        """`chargehook subscription add URL`; the signing secret is the last line it prints."""
        return (await self.chargehook("subscription", "add", url)).strip().splitlines()[-1]

    async def start(self, name: str, *args: str, **settings: str) -> Child:
        return await self.children.start(name, chargehook_args(*args), self.env(**settings))

    async def start_worker(self, kind: str) -> tuple[Child, str]:
        """`chargehook worker KIND` serving its /metrics on a port of its own: the child and
        that URL."""
        port = free_port()
        child = await self.start(f"worker-{kind}", "worker", kind, metrics_port=str(port))
        return child, f"http://127.0.0.1:{port}/metrics"

    async def reconnect(self) -> None:
        """The bench's own connection again, to a node that answers (after a fault)."""
        with suppress(Exception):
            await self.connection.close()
        self.connection = await probe_connection(self.amqp_url)
        self._channel = None

    async def channel(self) -> AbstractChannel:
        # A passive declare of a missing queue closes its channel: open another then.
        if self._channel is None or self._channel.is_closed:
            self._channel = await self.connection.channel(publisher_confirms=True)
        return self._channel

    async def queue_state(self, queue: str) -> tuple[int, int]:
        """(ready messages, consumers) of a queue."""
        declared = await (await self.channel()).declare_queue(queue, passive=True)
        result = declared.declaration_result
        return result.message_count or 0, result.consumer_count or 0

    async def depths(self, queues: Sequence[str] = WORK_QUEUES) -> dict[str, int]:
        return {queue: (await self.queue_state(queue))[0] for queue in queues}

    async def purge(self, queues: Sequence[str] | None = None) -> None:
        """Empty the work queues, their dead letters and every delay queue."""
        if queues is None:
            delays = delay_queues(load_settings({}, self.overrides))
            every = [*WORK_QUEUES, OCPI]
            queues = [*every, *(q + ".dead" for q in every), *(d.name for d in delays)]
        channel = await self.channel()
        for name in queues:
            with suppress(aio_pika.exceptions.AMQPError):
                await (await channel.declare_queue(name, passive=True)).purge()

    async def wait_consumers(self, queue: str, count: int, within: float = 60.0) -> float:
        """Wait until `count` consumers are on `queue`; the monotonic time they were."""
        deadline = time.monotonic() + within
        while (await self.queue_state(queue))[1] < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} consumers on {queue} not seen within {within}s")
            await asyncio.sleep(0.02)
        return time.monotonic()

    async def wait_http(self, url: str, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while True:
            with suppress(aiohttp.ClientError, OSError):
                async with self.http.get(url) as answer:
                    if answer.status == 200:
                        return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} not answering 200 within {within}s")
            await asyncio.sleep(0.1)

    async def count(self, sql: str, *args: object) -> int:
        value = await self.pool.fetchval(sql, *args)
        return int(value or 0)


async def probe_connection(amqp_url: str) -> AbstractConnection:
    """The bench's own connection, to the first node of `amqp_url` that answers. Not robust:
    a robust channel caches a queue's first declare, depths and all."""
    failures: list[Exception] = []
    for url in amqp_url.split(","):
        try:
            return await aio_pika.connect(
                url, client_properties={"connection_name": "chargehook bench"}
            )
        except Exception as exc:  # noqa: BLE001 - a node down: try the next
            failures.append(exc)
    raise ConnectionError(f"no broker node answered: {failures!r}")


def as_user(url: str, user: str) -> str:
    """`url` (one host or several) with `user` instead of its user, its password kept."""
    scheme, rest = url.split("://", 1)
    credentials, at, where = rest.rpartition("@")
    password = credentials.partition(":")[2] if at else ""
    return f"{scheme}://{user}{':' + password if password else ''}@{where}"


async def skip_reset(connection: asyncpg.Connection) -> None:
    """The probe keeps no session state: no reset statements (and commits) on each release."""


@asynccontextmanager
async def probe_role(database_url: str) -> AsyncIterator[str]:
    """A login role of the bench's own for its probes, so that the SQL counted per event
    (pg_stat_statements, by user) is chargehook's alone: it may read and write every table
    the migrations make and read every user's statistics. Its URL; dropped on leaving.
    pg_stat_statements is made in the database when the server has it."""
    role = f"chargehook_bench_probe_{uuid.uuid4().hex[:8]}"
    password = unquote(urlsplit(database_url.split(",")[0]).password or "")
    admin = await asyncpg.connect(database_url)
    try:
        create = "SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', $1::text, $2::text)"
        await admin.execute(await admin.fetchval(create, role, password or None))
        await admin.execute(f'GRANT pg_read_all_stats TO "{role}"')
        for kind in ("TABLES", "SEQUENCES"):
            await admin.execute(f'ALTER DEFAULT PRIVILEGES GRANT ALL ON {kind} TO "{role}"')
        with suppress(asyncpg.PostgresError):  # not installed: the bench says SQL is unavailable
            await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        await admin.close()
    try:
        yield as_user(database_url, role)
    finally:
        admin = await asyncpg.connect(database_url)  # anew: the server may have restarted
        try:
            await admin.execute(f'DROP OWNED BY "{role}"')  # its grants, then the role
            await admin.execute(f'DROP ROLE "{role}"')
        finally:
            await admin.close()


@asynccontextmanager
async def open_lab(
    amqp_root: str,
    database_root: str,
    log_dir: Path,
    overrides: Mapping[str, str],
    rabbitmq_node: str | None = None,
) -> AsyncIterator[Lab]:
    """A vhost and a database of the bench's own (lab.services), and the children it starts on
    them, every one stopped before the vhost and the database go. `amqp_root` may name a
    cluster's nodes, comma-separated (`rabbitmq_node` the one rabbitmqctl asks)."""
    async with (
        throwaway_vhost(amqp_root, "chargehook-bench", rabbitmq_node) as amqp_url,
        throwaway_database(database_root, "chargehook_bench") as database_url,
        probe_role(database_url) as probe_url,
        asyncpg.create_pool(
            probe_url,
            min_size=0,  # none kept open: each is closed once idle (PROBE_IDLE)
            max_size=4,
            reset=skip_reset,
            max_inactive_connection_lifetime=PROBE_IDLE,
        ) as pool,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
    ):
        children = Children(log_dir)
        connection = await probe_connection(amqp_url)
        lab = Lab(amqp_url, database_url, children, connection, pool, dict(overrides), http)
        lab.database_root = database_root
        try:
            await lab.chargehook("topology")  # the exchanges and queues, declared once
            await lab.chargehook("migrate")
            yield lab
        finally:
            await children.stop_all()
            await connection.close()
