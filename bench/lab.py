"""The bench's own RabbitMQ vhost and PostgreSQL database, the child processes it runs on them,
and the probes it reads them with (queue depths, row counts, RSS).

Every child is started in its own session and asked to die with the bench (PR_SET_PDEATHSIG),
and `Lab` stops every child it started when it closes, on an error or Ctrl-C too.
"""

import asyncio
import ctypes
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import aiohttp
import asyncpg
from aio_pika.abc import AbstractChannel, AbstractConnection
from yarl import URL

from chargehook.plumbing.settings import load_settings
from chargehook.webhooks.tasks import wait_queue
from chargehook.workers import ALL_QUEUES, delay_queues

PERSIST, BILLING, NOTIFY, DELIVERIES = (q.name for q in ALL_QUEUES)
WORK_QUEUES = (PERSIST, BILLING, NOTIFY, DELIVERIES)
ADMIN_TOKEN = "bench-admin-token"  # noqa: S105 - a fixed token of a throwaway vhost and database
PR_SET_PDEATHSIG = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


_prctl: Callable[[int, int], int] | None = None
with suppress(OSError, AttributeError):  # resolved in the parent: the child only calls it
    _prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the bench goes, however the bench goes."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process from /proc, in MB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """CPU time a process used so far (user + system); pid 0: the whole machine's busy time."""
    try:
        if pid == 0:
            fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            busy = sum(fields) - fields[3] - fields[4]  # less idle and iowait
            return busy / CLOCK_TICKS
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(stat[11]) + int(stat[12])) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 5) -> str:
        with suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class Children:
    """Every process the bench started, so that all of them are stopped whatever happens."""

    log_dir: Path
    running: list[Child] = field(default_factory=list)

    async def start(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        stdout_pipe: bool = False,
    ) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}-{len(self.running)}.log"
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                *args,
                env=dict(env if env is not None else os.environ),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if stdout_pipe else sink,
                stderr=sink,
                start_new_session=True,  # Ctrl-C reaches the bench only; it stops the rest
                preexec_fn=_die_with_parent,
            )
        child = Child(name, process, log)
        self.running.append(child)
        with (self.log_dir / "children.txt").open("a") as index:
            index.write(f"{process.pid} {name} {log.name}\n")
        return child

    async def output(self, child: Child, within: float) -> str:
        """All a piped child prints until it exits (bounded by `within`), then it is stopped."""
        assert child.process.stdout is not None
        try:
            out = await asyncio.wait_for(child.process.stdout.read(), within)
            # reap it before stop() could signal it: no second wait on the same pid
            await asyncio.wait_for(child.process.wait(), 10)
        finally:
            await self.stop(child)
        return out.decode(errors="replace")

    async def stop(self, child: Child, grace: float = 8.0) -> None:
        """SIGTERM (workers drain, `chargehook run` stops its PostgreSQL), then SIGKILL."""
        if child.process.returncode is None:
            with suppress(ProcessLookupError):
                child.process.terminate()
            try:
                await asyncio.wait_for(child.process.wait(), grace)
            except TimeoutError:
                with suppress(ProcessLookupError):
                    child.process.kill()
                await child.process.wait()
        if child in self.running:
            self.running.remove(child)

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(child) for child in list(self.running)))


async def command(args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Run a short command; its stdout, or RuntimeError with its stderr."""
    process = await asyncio.create_subprocess_exec(
        *args,
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"{' '.join(args[:3])} timed out") from None
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed: {err.decode(errors='replace')[-800:]}")
    return out.decode()


def chargehook_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "chargehook", *args]


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
    _channel: AbstractChannel | None = None

    @property
    def busy_queue(self) -> str:
        """The delay queue a delivery waits in when its subscriber's slots are all taken."""
        settings = load_settings({}, self.overrides)
        return wait_queue(round(settings.retry_busy_delay * 1000))

    def env(self, **settings: str) -> dict[str, str]:
        """The environment of a chargehook process on this lab's broker and database."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEHOOK_")}
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
        env.update({f"CHARGEHOOK_{k.upper()}": v for k, v in values.items()})
        return env

    async def chargehook(self, *args: str) -> str:
        return await command(chargehook_args(*args), self.env())

    async def add_provider(self, name: str) -> str:
        """`chargehook provider add NAME`; the token is the last line it prints."""
        return (await self.chargehook("provider", "add", name)).strip().splitlines()[-1]

    async def add_subscription(self, url: str) -> str:
        """`chargehook subscription add URL`; the signing secret is the last line it prints."""
        return (await self.chargehook("subscription", "add", url)).strip().splitlines()[-1]

    async def start(self, name: str, *args: str, **settings: str) -> Child:
        return await self.children.start(name, chargehook_args(*args), self.env(**settings))

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
            queues = [*WORK_QUEUES, *(q + ".dead" for q in WORK_QUEUES), *(d.name for d in delays)]
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


async def rabbitmqctl(*args: str) -> None:
    await command(["rabbitmqctl", "-q", *args])


@asynccontextmanager
async def open_lab(
    amqp_root: str, database_root: str, log_dir: Path, overrides: Mapping[str, str]
) -> AsyncIterator[Lab]:
    tag = uuid.uuid4().hex[:8]
    vhost, database = f"chargehook-bench-{tag}", f"chargehook_bench_{tag}"
    user = URL(amqp_root).user or "guest"
    await rabbitmqctl("add_vhost", vhost)
    children = Children(log_dir)
    try:
        await rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        admin = await asyncpg.connect(database_root)
        try:
            await admin.execute(f'CREATE DATABASE "{database}"')
            amqp_url = amqp_root.rstrip("/") + "/" + vhost
            database_url = database_root.rsplit("/", 1)[0] + "/" + database
            async with (
                asyncpg.create_pool(database_url, min_size=1, max_size=4) as pool,
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            ):
                # Not robust: a robust channel caches a queue's first declare, depths and all.
                connection = await aio_pika.connect(
                    amqp_url, client_properties={"connection_name": "chargehook bench"}
                )
                lab = Lab(amqp_url, database_url, children, connection, pool, dict(overrides), http)
                try:
                    await lab.chargehook("topology")  # the exchanges and queues, declared once
                    await lab.chargehook("migrate")
                    yield lab
                finally:
                    await children.stop_all()
                    await connection.close()
        finally:
            await children.stop_all()
            with suppress(asyncpg.PostgresError, OSError):
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()
    finally:
        await children.stop_all()
        await rabbitmqctl("delete_vhost", vhost)
