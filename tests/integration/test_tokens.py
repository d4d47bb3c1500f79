"""Provider tokens over their life, against a running ingest on the real PostgreSQL and broker:
revoked and rotated tokens stop working within moments, unknown ones are remembered, and a
provider over its rate limit is told when to come back."""

from datetime import timedelta
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient

from chargehook.ingest.app import create_app
from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.database import Pool
from chargehook.providers.store import add_provider, revoke_tokens, rotate_token
from chargehook.providers.tokens import CHANNEL as TOKENS_CHANNEL
from chargehook.providers.tokens import TokenTable
from chargehook.workers.persist import QUEUE
from tests.corpus import good
from tests.support import ADMIN_TOKEN, IngestServer, Provider, eventually, queue_depth

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]


async def status_with(client: Client, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = await client.post("/v1/sessions", data=msgspec.json.encode(good()), headers=headers)
    return response.status


async def test_a_revoked_token_stops_working_on_a_running_ingest(
    client: Client, provider: Provider, pool: Pool
) -> None:
    assert await status_with(client, provider.token) == 200
    assert await revoke_tokens(pool, provider.name) == 1

    async def refused() -> bool:
        return await status_with(client, provider.token) == 401

    await eventually(refused, within=5)


async def test_a_rotated_token_works_through_its_grace_and_the_new_one_at_once(
    client: Client, provider: Provider, pool: Pool
) -> None:
    kept = await rotate_token(pool, provider.name, timedelta(hours=1))
    assert kept is not None
    assert await status_with(client, kept) == 200
    assert await status_with(client, provider.token) == 200  # within its grace
    ended = await rotate_token(pool, provider.name, timedelta(0))
    assert ended is not None and await status_with(client, ended) == 200

    async def old_ones_refused() -> bool:
        return {await status_with(client, t) for t in (provider.token, kept)} == {401}

    await eventually(old_ones_refused, within=5)
    assert await rotate_token(pool, "no-such-provider", timedelta(0)) is None


async def test_a_token_unknown_a_moment_ago_works_once_it_is_added(
    client: Client, pool: Pool
) -> None:
    """Unknown tokens are remembered, but adding a token clears what was remembered."""
    assert await status_with(client, "chp_not-yet-issued") == 401
    name = "p-late-added"
    token = await add_provider(pool, name)

    async def accepted() -> bool:
        return await status_with(client, token) == 200

    await eventually(accepted, within=5)


class CountingPool:
    """A stand-in that answers every lookup "unknown" and counts the lookups."""

    def __init__(self) -> None:
        self.lookups = 0

    async def fetchrow(self, *_: object) -> None:
        self.lookups += 1


async def test_an_unknown_token_costs_one_lookup_however_often_it_is_sent() -> None:
    counting = CountingPool()
    tokens = TokenTable(counting)  # type: ignore[arg-type]
    for _ in range(100):
        assert await tokens.provider_for("chp_guessed") is None
    assert await tokens.provider_for("chp_another-guess") is None
    assert counting.lookups == 2


async def test_a_provider_over_its_rate_limit_gets_a_429_and_nothing_is_published(
    broker: AmqpBroker, pool: Pool, provider: Provider, amqp_url: str
) -> None:
    app = create_app(broker, pool, every_metric(), ADMIN_TOKEN, provider_rate_limit=1.0)
    async with TestClient(IngestServer(app)) as client:
        batch = msgspec.json.encode([good(id=f"rl-{n}") for n in range(500)])  # one full burst
        headers = {**provider.auth, "Content-Type": "application/json"}
        assert (await client.post("/v1/sessions", data=batch, headers=headers)).status == 200
        before = await queue_depth(amqp_url, QUEUE.name)
        over = await client.post("/v1/sessions", data=msgspec.json.encode(good()), headers=headers)
        answer = await over.json()
        assert over.status == 429 and answer["error"] == "Too Many Requests", answer
        assert over.headers["Retry-After"] == "1"
        assert await queue_depth(amqp_url, QUEUE.name) == before


async def test_a_running_ingest_listens_again_when_its_listening_connection_is_lost(
    client: Client, provider: Provider, pool: Pool
) -> None:
    assert await status_with(client, provider.token) == 200
    listening = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query = $1"
    statement = f'LISTEN "{TOKENS_CHANNEL}"'
    [lost] = await pool.fetch(listening, statement)
    # as a PostgreSQL restart would: the connection is gone, and the LISTEN with it
    await pool.execute("SELECT pg_terminate_backend($1)", lost["pid"])

    async def listening_again() -> bool:
        return [row["pid"] for row in await pool.fetch(listening, statement)] not in ([], [lost])

    await eventually(listening_again, within=10)
    assert await revoke_tokens(pool, provider.name) == 1

    async def refused() -> bool:
        return await status_with(client, provider.token) == 401

    await eventually(refused, within=5)  # by the NOTIFY: the timed reload is 30 s away
