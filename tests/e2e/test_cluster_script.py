"""lab/cluster.py on its own three RabbitMQ nodes and two PostgreSQL servers: a quorum queue
serves through node 2 while node 1 is down, and a row committed synchronously survives the
primary's crash once the standby is promoted, under the same database URL.

It starts five servers of its own (about 0.7 GB of memory) and takes 35 to 50 s here, so it
runs only when CHARGEHOOK_CLUSTER_TESTS=1. It stops the cluster after, unless the
cluster already ran before it (then it leaves it running, the PostgreSQL roles swapped).
"""

import os
import uuid
from collections.abc import AsyncIterator

import aio_pika
import asyncpg
import pytest

from lab import cluster
from tests.support import eventually

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        os.environ.get("CHARGEHOOK_CLUSTER_TESTS") != "1",
        reason="starts a RabbitMQ cluster and two PostgreSQL servers: CHARGEHOOK_CLUSTER_TESTS=1",
    ),
]

NODE_NAMES = {cluster.node_name(n) for n in cluster.NODES}


@pytest.fixture(scope="module")
async def lab_cluster() -> AsyncIterator[None]:
    before = await cluster.status()
    ran_before = any(before.nodes.values()) or any(before.postgres.values())
    await cluster.up()
    yield
    if not ran_before:
        await cluster.down()


async def test_a_quorum_queue_serves_through_node_2_while_node_1_is_down(
    lab_cluster: None,
) -> None:
    name = f"cluster-test-{uuid.uuid4().hex[:8]}"
    node_1, node_2, _ = cluster.amqp_urls()
    async with await aio_pika.connect(node_1) as connection:
        channel = await connection.channel()
        await channel.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})

    async def all_online() -> bool:
        return set((await cluster.queue_leader(name)).online) == NODE_NAMES

    await eventually(all_online)
    assert set((await cluster.queue_leader(name)).members) == NODE_NAMES

    await cluster.stop_node(1)
    try:
        async with await aio_pika.connect(node_2) as connection:
            channel = await connection.channel()  # publisher confirms: a leader took the message
            await channel.default_exchange.publish(
                aio_pika.Message(b"through node 2", delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=name,
            )
            queue = await channel.get_queue(name)
            message = await eventually(lambda: queue.get(fail=False))
            assert message is not None
            await message.ack()
            assert message.body == b"through node 2"
        now = await cluster.queue_leader(name)
        assert now.leader != cluster.node_name(1)
        assert cluster.node_name(1) not in now.online
    finally:
        await cluster.start_node(1)

    await eventually(all_online)  # node 1 is a member again, caught up
    async with await aio_pika.connect(node_1) as connection:  # node 1 serves again
        channel = await connection.channel()
        await channel.queue_delete(name)


async def _has_row(port: int, table: str, row_id: int) -> bool:
    connection = await asyncpg.connect(host="127.0.0.1", port=port, user="postgres")
    try:
        return bool(
            await connection.fetchval(f"SELECT count(*) FROM {table} WHERE id = $1", row_id)
        )
    except asyncpg.UndefinedTableError:  # the standby has not replayed the CREATE yet
        return False
    finally:
        await connection.close()


async def test_a_synchronous_row_survives_the_primary_and_the_promoted_standby_takes_writes(
    lab_cluster: None,
) -> None:
    table = f"cluster_test_{uuid.uuid4().hex[:8]}"
    url = cluster.database_url()
    connection = await asyncpg.connect(url)
    try:
        primary = await connection.fetchval("SELECT inet_server_port()")
        await connection.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)")
        await connection.execute(f"INSERT INTO {table} VALUES (1, 'before the failover')")
        sync = await connection.fetchval(
            "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'"
        )
    finally:
        await connection.close()
    assert sync == "sync"
    (standby,) = (port for port in cluster.PG_PORTS if port != primary)
    # The commit waited for the standby to flush it; replaying it may take a moment more.
    await eventually(lambda: _has_row(standby, table, 1), within=5)

    assert await cluster.stop_primary("immediate") == primary  # as a crash would
    assert await cluster.promote_standby() == standby

    connection = await asyncpg.connect(url)  # the same URL finds the new primary
    try:
        assert await connection.fetchval("SELECT inet_server_port()") == standby
        assert await connection.fetchval(f"SELECT note FROM {table} WHERE id = 1") == (
            "before the failover"
        )
        await connection.execute(f"INSERT INTO {table} VALUES (2, 'after the failover')")
    finally:
        await connection.close()

    assert await cluster.start_old_primary_as_standby() == primary
    assert (await cluster.status()).postgres == {standby: "primary", primary: "standby"}
    await eventually(lambda: _has_row(primary, table, 2), within=5)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f"DROP TABLE {table}")
    finally:
        await connection.close()
