"""chargehook on the local three-node cluster (lab.cluster, docs/operations.md): ingest,
persist and billing as processes given all three node URLs. The node they are connected to is
stopped while they work: every batch in hand is finished on another node, once; ingest answers
200 or 503, and every event answered 200 is stored and billed. Opt-in, as the cluster script's
own test: CHARGEHOOK_CLUSTER_TESTS=1 (the full drill is `python -m bench.drills --cluster`)."""

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bench.lab import BILLING, PERSIST, Lab, open_lab
from chargehook.plumbing.broker import DEAD_QUEUE_SUFFIX
from lab import bodies, cluster
from lab.services import free_port
from tests.support import eventually

pytestmark = [
    pytest.mark.services,
    pytest.mark.cluster,
    pytest.mark.skipif(
        os.environ.get("CHARGEHOOK_CLUSTER_TESTS") != "1",
        reason="starts a RabbitMQ cluster and two PostgreSQL servers: CHARGEHOOK_CLUSTER_TESTS=1",
    ),
]
EVENTS = 400


@pytest.fixture
async def lab_on_cluster(tmp_path: Path) -> AsyncIterator[Lab]:
    await cluster.up()
    urls = ",".join(cluster.amqp_urls())
    overrides = {"persist_batch_size": "20", "billing_batch_size": "20"}
    async with open_lab(
        urls, cluster.database_url(), tmp_path, overrides, cluster.node_name(2)
    ) as lab:
        yield lab
    await cluster.start_node(1)  # if the test failed with it stopped


async def post_all(url: str, token: str, tag: str) -> tuple[Counter[int], list[str]]:
    """Every event posted once, as fast as answered: each answer's status counted, and the
    sessions whose event was answered 200."""
    statuses: Counter[int] = Counter()
    accepted: list[str] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(headers=headers) as http:
        for n in range(EVENTS):
            body = bodies.encode(bodies.item(f"{tag}-{n}", "FINISHED", 5))
            async with http.post(url, data=body) as answer:
                statuses[answer.status] += 1
                if answer.status == 200:
                    accepted.append(f"{tag}-{n}")
            await asyncio.sleep(0.01)
    return statuses, accepted


async def test_the_node_everyone_is_on_stops_mid_batch_and_nothing_is_lost_or_doubled(
    lab_on_cluster: Lab,
) -> None:
    lab, tag = lab_on_cluster, uuid.uuid4().hex[:8]
    port = free_port()
    await lab.start("ingest", "ingest", http_port=str(port))
    for kind in ("persist", "billing"):
        await lab.start(f"worker-{kind}", "worker", kind)
    await lab.wait_http(f"http://127.0.0.1:{port}/readyz")
    name = f"fail-{tag}"
    token = await lab.add_provider(name)
    posting = asyncio.create_task(post_all(f"http://127.0.0.1:{port}/v1/sessions", token, tag))

    async def some_stored() -> bool:
        return await lab.count("SELECT count(*) FROM session_events") >= EVENTS // 4

    assert await eventually(some_stored, within=60)
    await cluster.stop_node(1)  # every process is connected to its first URL, c1
    statuses, accepted = await posting

    async def all_billed() -> bool:
        return await lab.count("SELECT count(*) FROM bills WHERE provider = $1", name) >= len(
            accepted
        )

    assert await eventually(all_billed, within=120, interval=0.5)
    await cluster.start_node(1)
    assert set(statuses) <= {200, 503}, statuses  # never a 500, never a 200 unconfirmed
    stored = await lab.pool.fetch("SELECT session_id FROM session_events WHERE provider = $1", name)
    billed = await lab.pool.fetch("SELECT session_id, kind FROM bills WHERE provider = $1", name)
    assert set(accepted) <= {row["session_id"] for row in stored}
    assert Counter(row["session_id"] for row in billed if row["kind"] == "final") == Counter(
        {session: 1 for session in {row["session_id"] for row in stored}}
    )  # each event billed once, on whichever node its batch was finished
    await lab.reconnect()  # the test's own connection was on the stopped node
    dead = await lab.depths([PERSIST + DEAD_QUEUE_SUFFIX, BILLING + DEAD_QUEUE_SUFFIX])
    assert sum(dead.values()) == 0
