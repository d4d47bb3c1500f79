"""Throwaway room on the real RabbitMQ and PostgreSQL, and what a child `chargehook` needs.

A vhost and a database of the caller's own, deleted on leaving; ServiceUnavailable when either
service cannot even make them, so a caller can tell an absent service from a failing test.
"""

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from yarl import URL


class ServiceUnavailable(Exception):
    """RabbitMQ or PostgreSQL could not make the caller's vhost or database."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def chargehook_env(**settings: str) -> dict[str, str]:
    """The environment of a `chargehook` child: this one's without any CHARGEHOOK_* variable,
    then each setting as its variable; logs as JSON unless a setting says otherwise."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEHOOK_")}
    env.update({f"CHARGEHOOK_{name.upper()}": value for name, value in settings.items()})
    env.setdefault("CHARGEHOOK_LOG_FORMAT", "json")
    return env


async def rabbitmqctl(*args: str, node: str | None = None) -> None:
    at = ["-n", node] if node else []
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "-q",
        *at,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 60)
    if process.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {err.decode().strip()}")


@asynccontextmanager
async def throwaway_vhost(
    amqp_root: str, prefix: str, node: str | None = None
) -> AsyncIterator[str]:
    """A vhost of the caller's own on the broker `amqp_root` names (one URL, or a cluster's
    comma-separated, `node` the one rabbitmqctl asks), deleted after; its URL, or URLs."""
    vhost = f"{prefix}-{uuid.uuid4().hex[:8]}"
    roots = [root.strip() for root in amqp_root.split(",")]
    user = URL(roots[0]).user or "guest"
    try:
        await rabbitmqctl("add_vhost", vhost, node=node)
        await rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*", node=node)
    except (OSError, RuntimeError, TimeoutError) as exc:
        raise ServiceUnavailable(f"RabbitMQ: {exc!r}") from exc
    try:
        yield ",".join(root.rstrip("/") + "/" + vhost for root in roots)
    finally:
        await rabbitmqctl("delete_vhost", vhost, node=node)


async def _until_it_answers(url: str, within: float = 10.0) -> None:
    """A new database through a URL naming a standby first: asyncpg tries the standby, which
    may not have replayed the CREATE DATABASE yet, and does not go on to the next host."""
    ends = asyncio.get_running_loop().time() + within
    while True:
        try:
            await (await asyncpg.connect(url)).close()
            return
        except asyncpg.InvalidCatalogNameError:
            if asyncio.get_running_loop().time() > ends:
                raise
            await asyncio.sleep(0.2)


def database_url_of(database_root: str, name: str) -> str:
    """The URL of database `name` on the server(s) `database_root` names, its query kept
    (a standby's `target_session_attrs=read-write`)."""
    base, _, query = database_root.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")


@asynccontextmanager
async def throwaway_database(database_root: str, prefix: str) -> AsyncIterator[str]:
    """A database of the caller's own on the server `database_root` names, dropped after (on a
    connection of its own: the caller may have restarted PostgreSQL meanwhile); its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        admin = await asyncpg.connect(database_root)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ServiceUnavailable(f"PostgreSQL: {exc!r}") from exc
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = database_url_of(database_root, name)
    await _until_it_answers(url)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(database_root)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
