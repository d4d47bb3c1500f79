"""The database breaks in the middle of a batch's transaction, for each worker kind, on the real
RabbitMQ and PostgreSQL: its backend is terminated (`pg_terminate_backend`), or PostgreSQL is
restarted. Every message is then processed once and nothing is dead-lettered (issue 15).

The batch is caught mid-transaction by a table lock the test holds: the worker's insert waits
on it, the test breaks the connection under it, then lets go.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.broker import DEFAULT_EXCHANGE, OutboundMessage, QueueSpec
from chargehook.plumbing.database import Pool, answering, open_pool
from chargehook.plumbing.faults import is_infrastructure
from chargehook.plumbing.metrics import Metrics
from chargehook.workers import WORKERS, Deps
from lab import bodies
from tests.notify_support import fast_settings, subscribe
from tests.receiver import Receiver, receiving
from tests.support import Provider, eventually, queue_depth, stored_events

pytestmark = [pytest.mark.services, pytest.mark.timeout(180)]
Client = TestClient[Any, Any]
SESSIONS = 30
# the table each kind writes inside its batch's transaction
LOCKED = {"persist": "session_events", "billing": "bills", "notify": "deliveries"}
CONSUMER = {"persist": "persist", "billing": "billing", "notify": "fanout"}  # metrics' `worker`


async def terminate(pool: Pool, pids: list[int]) -> None:
    await pool.execute("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", pids)


async def restart_postgresql(pool: Pool, pids: list[int]) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    restart = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
    process = await asyncio.create_subprocess_exec(
        *restart,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await asyncio.wait_for(process.wait(), 120) == 0
    await eventually(answering(pool))  # the test's own pool, on new connections


FAULTS: dict[str, Callable[[Pool, list[int]], Awaitable[None]]] = {
    "backend terminated": terminate,
    "PostgreSQL restarted": restart_postgresql,
}


@asynccontextmanager
async def locked(database_url: str, table: str) -> AsyncIterator[None]:
    """`table` locked against writes (reads go on) until the block ends or the lock's
    connection is lost with PostgreSQL."""
    connection = await asyncpg.connect(database_url)
    try:
        transaction = connection.transaction()
        await transaction.start()
        await connection.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        yield
        try:
            await transaction.commit()
        except Exception as exc:
            if not is_infrastructure(exc):  # else the lock went with its connection
                raise
    finally:
        connection.terminate()


async def waiting_on_a_lock(pool: Pool) -> list[int]:
    rows = await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    return [row["pid"] for row in rows]


@asynccontextmanager
async def worker(kind: str, pool: Pool, broker: AmqpBroker) -> AsyncIterator[Metrics]:
    """The worker kind as `chargehook worker <kind>` builds it, probe included, in process."""
    metrics, stop = every_metric(), asyncio.Event()
    service = WORKERS[kind].build(Deps(fast_settings(), pool, broker, metrics))
    task = asyncio.create_task(service.run(stop))
    try:
        yield metrics
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def messages(kind: str, provider: str) -> list[OutboundMessage]:
    """What reaches the kind's queue for SESSIONS finished sessions of `provider`."""
    made = bodies.billed if kind == "notify" else bodies.event_message
    return [
        made(provider, bodies.encode(bodies.item(f"s-{uuid.uuid4().hex[:8]}-{n}")))
        for n in range(SESSIONS)
    ]


async def done(kind: str, pool: Pool, provider: str) -> bool:
    if kind == "persist":
        return await stored_events(pool, provider) == SESSIONS
    if kind == "billing":
        query = "SELECT count(*) FROM bills WHERE provider = $1 AND kind = 'final'"
        return await pool.fetchval(query, provider) == SESSIONS  # type: ignore[no-any-return]
    # other tests' subscriptions to every provider may match too: only the provider's own count
    query = (
        "SELECT count(*) FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id"
        " WHERE d.provider = $1 AND d.status = 'succeeded' AND s.providers = ARRAY[$1]"
    )
    return await pool.fetchval(query, provider) == SESSIONS  # type: ignore[no-any-return]


async def once_each(kind: str, pool: Pool, provider: str, receiver: Receiver) -> None:
    if kind == "persist":
        rows = "SELECT count(*) FROM sessions WHERE provider = $1 AND status = 'FINISHED'"
        assert await pool.fetchval(rows, provider) == SESSIONS
    elif kind == "billing":
        bills = "SELECT count(*) FROM bills WHERE provider = $1"
        assert await pool.fetchval(bills, provider) == SESSIONS
    else:
        deliveries = (
            "SELECT count(*) FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id"
            " WHERE d.provider = $1 AND s.providers = ARRAY[$1]"
        )
        assert await pool.fetchval(deliveries, provider) == SESSIONS
        assert len({item["id"] for item in receiver.items}) == SESSIONS


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", list(LOCKED))
async def test_a_connection_broken_mid_transaction_is_retried_and_nothing_is_dead_lettered(
    kind: str,
    fault: str,
    broker: AmqpBroker,
    pool: Pool,
    database_url: str,
    amqp_url: str,
    api: Client,
    provider: Provider,
    flood: None,
) -> None:
    [queue] = [q for q in WORKERS[kind].queues if q.name != "chargehook.deliveries"]
    dead_before = await queue_depth(amqp_url, queue.dead_letter_queue)
    async with receiving() as receiver, open_pool(database_url) as worker_pool:
        if kind == "notify":
            await subscribe(api, receiver.url, provider.name)
        async with worker(kind, worker_pool, broker) as metrics:
            async with locked(database_url, LOCKED[kind]):
                await publish_to(broker, queue, messages(kind, provider.name))
                blocked = await eventually(lambda: waiting_on_a_lock(pool))
                await FAULTS[fault](pool, blocked)
            # the same worker, on its own, once the lock is gone (or went with PostgreSQL)
            await eventually(lambda: done(kind, pool, provider.name), within=60)
    await once_each(kind, pool, provider.name, receiver)
    assert await queue_depth(amqp_url, queue.dead_letter_queue) == dead_before
    assert (
        metrics.value("chargehook_worker_messages_total", worker=CONSUMER[kind], outcome="dead")
        == 0
    )
    # the fault was met, and blamed on the infrastructure
    retried = metrics.value(
        "chargehook_worker_failures_total", worker=CONSUMER[kind], blamed_on="infrastructure"
    )
    assert retried >= 1


async def publish_to(broker: AmqpBroker, queue: QueueSpec, sent: list[OutboundMessage]) -> None:
    """Straight onto the one queue, so no other worker kind's queue fills up meanwhile."""
    await asyncio.gather(*(broker.publish(DEFAULT_EXCHANGE, queue.name, m) for m in sent))
