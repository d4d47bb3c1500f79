"""A RabbitMQ cluster as chargehook sees it (docs/operations.md): several node URLs, the one
connection of a process following them when its node is lost, and where each quorum queue's
leader and members are, read from the management API."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote

import aio_pika
import aiohttp
import msgspec
import structlog
from aio_pika.abc import AbstractRobustConnection
from yarl import URL

from chargehook.plumbing.errors import ConfigError

log = structlog.get_logger("chargehook.amqp")
RECONNECT_INTERVAL = 1.0  # seconds between two attempts on one node
NEXT_NODE_AFTER = 2.0  # seconds without a connection before the next node is tried
CONNECT_TIMEOUT = 5.0  # seconds one connection attempt may take
MANAGEMENT_PORT = 15672


def broker_urls(text: str) -> list[str]:
    """CHARGEHOOK_AMQP_URL as a list: one URL, or several separated by commas (one per node,
    or a load balancer), each amqp:// or amqps://; ConfigError for anything else."""
    urls = [part.strip() for part in text.split(",")]
    if not urls or any(not url for url in urls):
        raise ConfigError(f"CHARGEHOOK_AMQP_URL: an empty URL in {text!r}")
    for url in urls:
        if URL(url).scheme not in ("amqp", "amqps") or not URL(url).host:
            raise ConfigError(f"CHARGEHOOK_AMQP_URL: {url!r} is no amqp:// or amqps:// URL")
    if len(set(urls)) != len(urls):
        raise ConfigError(f"CHARGEHOOK_AMQP_URL: a URL twice in {text!r}")
    return urls


def shown(url: str) -> str:
    """A URL as logs may show it: without its password."""
    return str(URL(url).with_password(None))


@dataclass
class Nodes:
    """The URLs in turn: a connection that loses its node goes on to the next."""

    urls: list[str]
    current: int = 0

    def url(self) -> str:
        return self.urls[self.current]

    def advance(self) -> str:
        self.current = (self.current + 1) % len(self.urls)
        return self.url()


async def connect_first(nodes: Nodes, name: str) -> AbstractRobustConnection:
    """A robust connection to the first node that answers, in the list's order."""
    failures: list[str] = []
    for _ in nodes.urls:
        try:
            return await aio_pika.connect_robust(
                nodes.url(),
                client_properties={"connection_name": name},
                reconnect_interval=RECONNECT_INTERVAL,
                # every attempt, reconnects too: a node that drops packets is left in seconds
                timeout=CONNECT_TIMEOUT,
            )
        except Exception as exc:  # noqa: BLE001 - every way a node can fail to answer
            failures.append(f"{shown(nodes.url())}: {exc!r}")
            nodes.advance()
    raise ConnectionError("no broker node answered: " + "; ".join(failures))


@contextlib.asynccontextmanager
async def following(connection: AbstractRobustConnection, nodes: Nodes) -> AsyncIterator[None]:
    """While open, the connection reconnects to the next node when it loses the one it has,
    and keeps going round the nodes while none answers. aio-pika's robust connection
    reconnects to its `url` and restores its channels and consumers; the URL is what moves."""
    if len(nodes.urls) == 1:
        yield
        return

    def lost(*_: object) -> None:
        _move(connection, nodes, "connection lost")

    connection.close_callbacks.add(lost)
    watching = asyncio.create_task(_keep_going_round(connection, nodes))
    try:
        yield
    finally:
        connection.close_callbacks.discard(lost)
        watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watching


async def _keep_going_round(connection: AbstractRobustConnection, nodes: Nodes) -> None:
    connected: asyncio.Event = connection.connected
    while True:
        await asyncio.sleep(NEXT_NODE_AFTER)
        if not connected.is_set() and not connection.is_closed:
            _move(connection, nodes, "node does not answer")


def _move(connection: AbstractRobustConnection, nodes: Nodes, why: str) -> None:
    if connection.is_closed:
        return
    before = nodes.url()
    # the concrete connection's url is read again at each reconnect
    cast(aio_pika.RobustConnection, connection).url = URL(nodes.advance())
    log.warning("broker node switch", reason=why, lost=shown(before), next=shown(nodes.url()))


class QueueInfo(msgspec.Struct):
    """What the management API says of a queue (only what `chargehook topology` shows)."""

    name: str
    type: str = "classic"
    node: str | None = None  # a classic queue's node
    leader: str | None = None  # a quorum queue's
    members: list[str] = msgspec.field(default_factory=list)
    online: list[str] | None = None  # a quorum queue's; None for a classic queue


@dataclass(frozen=True)
class Placement:
    queue: str
    leader: str | None
    members: list[str]
    online: list[str]


queue_decoder = msgspec.json.Decoder(QueueInfo)


def management_urls(amqp_urls: Sequence[str], configured: str | None) -> list[str]:
    """The management API of each node: as configured (comma-separated), else each AMQP
    URL's host on the management port, with the AMQP URL's user."""
    if configured:
        return [part.strip() for part in configured.split(",") if part.strip()]
    made = []
    for url in map(URL, amqp_urls):
        user = quote(url.user or "guest", safe="")
        password = quote(url.password or "guest", safe="")
        made.append(f"http://{user}:{password}@{url.host}:{MANAGEMENT_PORT}")
    return made


async def placements(
    management: Sequence[str], vhost: str, queues: Sequence[str]
) -> list[Placement] | None:
    """Each queue's leader and members, from the first management API that answers; None
    when none does (the management plugin is off, or no node answers)."""
    for base in management:
        try:
            return await _read_placements(URL(base), vhost, queues)
        except (aiohttp.ClientError, TimeoutError, msgspec.MsgspecError) as exc:
            log.warning("management API did not answer", url=shown(base), error=repr(exc))
    return None


async def _read_placements(base: URL, vhost: str, queues: Sequence[str]) -> list[Placement]:
    auth = aiohttp.BasicAuth(base.user or "guest", base.password or "guest")
    root = str(base.with_user(None)).rstrip("/")
    timeout = aiohttp.ClientTimeout(total=5)
    found = []
    async with aiohttp.ClientSession(auth=auth, timeout=timeout) as http:
        for name in queues:
            url = f"{root}/api/queues/{quote(vhost, safe='')}/{quote(name, safe='')}"
            async with http.get(url) as answer:
                answer.raise_for_status()
                info = queue_decoder.decode(await answer.read())
            leader = info.leader or info.node
            members = info.members or ([info.node] if info.node else [])
            online = members if info.online is None else info.online
            found.append(Placement(name, leader, members, online))
    return found


def vhost_of(amqp_url: str) -> str:
    """The vhost an AMQP URL names: its path, unquoted, or `/` for none."""
    path = URL(amqp_url).path
    return path[1:] if len(path) > 1 else "/"


def placement_lines(found: Sequence[Placement]) -> list[str]:
    """`chargehook topology`'s table: each queue's leader, members and how many are online."""
    width = max((len(p.queue) for p in found), default=5)
    lead = max((len(p.leader or "-") for p in found), default=6)
    lines = [f"{'queue'.ljust(width)}  {'leader'.ljust(lead)}  members (online)"]
    for p in found:
        online = f"{len(set(p.online) & set(p.members))} of {len(p.members)} online"
        members = ", ".join(p.members) or "-"
        leader = (p.leader or "-").ljust(lead)
        lines.append(f"{p.queue.ljust(width)}  {leader}  {members} ({online})")
    return lines
