"""The dead-letter queues on the real RabbitMQ and PostgreSQL, through the admin API and the
command line: listing moves nothing, a replayed message (made valid by a fix) is processed once,
a dropped one is gone; and the same on the in-process broker. `chargehook status` shows them
beside the work queues and the subscriptions' health."""

import uuid
from functools import partial
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chargehook.dead_letters import actions as dead_letters
from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.broker import (
    REASON_HEADER,
)
from chargehook.plumbing.database import Pool
from chargehook.plumbing.memory_broker import MemoryBroker
from chargehook.workers import ALL_QUEUES
from chargehook.workers.persist import QUEUE
from tests import processes
from tests.support import ADMIN_TOKEN, dead_lettered, eventually, stored_events

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]


async def test_listed_stays_replayed_is_processed_once_dropped_is_gone(
    client: Client, broker: AmqpBroker, pool: Pool, persist_worker: Any
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    provider = f"dead-{uuid.uuid4().hex[:6]}"
    replayed, dropped = (
        await dead_lettered(broker, provider, f"s-{uuid.uuid4().hex}"),
        await dead_lettered(broker, provider, f"s-{uuid.uuid4().hex}"),
    )
    for _ in range(2):  # listing twice: both are still there
        listed = await (await client.get("/v1/dead-letters/persist", headers=admin)).json()
        ours = {d["message_id"]: d for d in listed if d["message_id"] in (replayed, dropped)}
        assert set(ours) == {replayed, dropped}
        assert ours[replayed]["reason"] == "a bug, since fixed"
        assert ours[replayed]["queue"] == "chargehook.persist"

    pick = {"ids": [replayed]}
    answer = await client.post("/v1/dead-letters/persist/replay", json=pick, headers=admin)
    assert (await answer.json()) == {"count": 1}
    assert await eventually(partial(stored_events, pool, provider)) == 1
    again = await client.post("/v1/dead-letters/persist/replay", json=pick, headers=admin)
    assert (await again.json()) == {"count": 0}  # it left the dead-letter queue

    dropping = {"ids": [dropped]}
    answer = await client.post(
        "/v1/dead-letters/chargehook.persist.dead/drop", json=dropping, headers=admin
    )
    assert (await answer.json()) == {"count": 1}
    listed = await (await client.get("/v1/dead-letters/persist", headers=admin)).json()
    assert not {d["message_id"] for d in listed} & {replayed, dropped}
    assert await stored_events(pool, provider) == 1  # processed once, the dropped one never


async def test_the_api_needs_the_admin_token_and_a_work_queue(client: Client) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert (await client.get("/v1/dead-letters/persist")).status == 401
    unknown = await client.get("/v1/dead-letters/nothing", headers=admin)
    assert unknown.status == 404 and "chargehook.persist" in (await unknown.json())["message"]
    neither = await client.post("/v1/dead-letters/persist/drop", json={}, headers=admin)
    assert neither.status == 400


async def test_the_command_line_lists_and_replays(
    amqp_url: str, database_url: str, broker: AmqpBroker, pool: Pool, persist_worker: Any
) -> None:
    provider = f"dead-cli-{uuid.uuid4().hex[:6]}"
    message_id = await dead_lettered(broker, provider, f"s-{uuid.uuid4().hex}")
    env = processes.chargehook_env(amqp_url=amqp_url, database_url=database_url)
    listed = await processes.run(["dead", "list", "persist"], env)
    assert listed.returncode == 0 and message_id in listed.stdout, listed.stderr
    assert "a bug, since fixed" in listed.stdout
    refused = await processes.run(["dead", "drop", "persist", "--all"], env)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    replay = await processes.run(["dead", "replay", "persist", "--id", message_id], env)
    assert replay.returncode == 0 and "1 put back on chargehook.persist" in replay.stdout
    assert await eventually(partial(stored_events, pool, provider)) == 1


async def test_the_in_process_broker_lists_replays_and_drops_all_the_same() -> None:
    broker = MemoryBroker()
    await broker.declare(ALL_QUEUES)
    ids = [await dead_lettered(broker, "memory", f"s-{n}") for n in range(3)]
    assert [d.message_id for d in await dead_letters.list_dead(broker, QUEUE)] == ids
    assert len(await dead_letters.list_dead(broker, QUEUE)) == 3  # listing moved nothing
    assert await dead_letters.replay_dead(broker, QUEUE, ids[:1]) == 1
    assert await dead_letters.drop_dead(broker, QUEUE, None) == 2
    assert await dead_letters.list_dead(broker, QUEUE) == []
    async with broker.consume(QUEUE, 10) as incoming:  # the replayed one is back on its queue
        back = await anext(incoming)
    assert back.message_id == ids[0] and REASON_HEADER not in back.headers


async def test_status_shows_queues_dead_letters_and_each_subscription(
    amqp_url: str, database_url: str, api: Client
) -> None:
    created = await api.post(
        "/v1/subscriptions",
        json={"url": "http://127.0.0.1:9/status", "providers": ["nobody"]},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    sub = (await created.json())["id"]
    env = processes.chargehook_env(amqp_url=amqp_url, database_url=database_url)
    status = await processes.run(["status"], env)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    for queue in ALL_QUEUES:
        assert any(line.startswith(queue.name + " ") for line in lines), queue.name
        assert any(line.startswith(queue.dead_letter_queue + " ") for line in lines)
    [row] = [line for line in lines if line.startswith(sub)]
    assert " enabled " in row and " never " in row  # never succeeded yet
    without = await processes.run(["status"], processes.chargehook_env())
    assert without.returncode == 2 and "CHARGEHOOK_AMQP_URL" in without.stderr
