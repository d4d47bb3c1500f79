"""Fixtures on the real RabbitMQ and PostgreSQL: a vhost and a database of the test run's own.

Where a service cannot be reached the tests that need it are skipped on a developer's machine
and fail when CI is set, so a green CI always means they ran. Only fixtures live here; the
helpers tests import are in tests/support.py.
"""

import shutil
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from aiohttp.test_utils import TestClient

from chargehook.ingest.app import create_app
from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.amqp import AmqpBroker, amqp_broker
from chargehook.plumbing.database import Pool, migrate, open_pool
from chargehook.plumbing.metrics import Metrics
from chargehook.providers.store import add_provider
from chargehook.workers import ALL_QUEUES
from chargehook.workers.billing import BillingWorker
from chargehook.workers.persist import PersistWorker
from tests.ocpi_support import PUBLIC_URL, Cpo, Pushes, make_cpo, ocpi_pushes
from tests.support import (
    ADMIN_TOKEN,
    AMQP_ROOT,
    IngestServer,
    Provider,
    consuming,
    fresh_database,
    fresh_vhost,
    purge,
    unavailable,
)


@pytest.fixture(scope="session")
async def amqp_url() -> AsyncIterator[str]:
    """A vhost of this run's own, when rabbitmqctl is at hand; else the URL as given."""
    if shutil.which("rabbitmqctl") is None:
        yield AMQP_ROOT
        return
    async with fresh_vhost("chargehook-test") as url:
        yield url


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    async with fresh_database("chargehook_test") as url:
        yield url


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[Pool]:
    async with open_pool(database_url) as pool:
        await migrate(pool)
        yield pool


@pytest.fixture(scope="session")
async def broker(amqp_url: str) -> AsyncIterator[AmqpBroker]:
    try:
        # generous: tests publish thousands at once, right after others deleted whole vhosts
        async with amqp_broker(amqp_url, "chargehook tests", publish_timeout=15) as broker:
            await broker.declare(ALL_QUEUES)
            yield broker
    except (OSError, aio_pika.exceptions.AMQPError) as exc:
        unavailable("RabbitMQ", exc)


@pytest.fixture
async def client(broker: AmqpBroker, pool: Pool) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(broker, pool, every_metric(), ADMIN_TOKEN, queues=ALL_QUEUES)
    async with TestClient(IngestServer(app)) as client:
        yield client


@pytest.fixture
async def api(broker: AmqpBroker, pool: Pool) -> AsyncIterator[TestClient[Any, Any]]:
    """The admin API with private URLs allowed, as the tests' receivers live on loopback."""
    app = create_app(
        broker, pool, every_metric(), ADMIN_TOKEN, allow_private_urls=True, queues=ALL_QUEUES
    )
    async with TestClient(IngestServer(app)) as client:
        yield client


@pytest.fixture
async def flood(amqp_url: str) -> AsyncIterator[None]:
    """For tests that publish thousands of events: other tests' queues start empty after them."""
    yield
    await purge(amqp_url, *(queue.name for queue in ALL_QUEUES))


@pytest.fixture
async def provider(pool: Pool) -> Provider:
    name = f"p{uuid.uuid4().hex[:10]}"
    return Provider(name, await add_provider(pool, name))


@pytest.fixture
def admin() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def persist_worker(broker: AmqpBroker, pool: Pool) -> AsyncIterator[Metrics]:
    metrics = every_metric()
    async with consuming(broker, PersistWorker(pool, prefetch=200, batch_size=100), metrics):
        yield metrics


@pytest.fixture
async def billing_worker(broker: AmqpBroker, pool: Pool) -> AsyncIterator[Metrics]:
    metrics = every_metric()
    worker = BillingWorker(pool, broker, metrics, prefetch=100, batch_size=50)
    async with consuming(broker, worker, metrics):
        yield metrics


@pytest.fixture
async def cpo(pool: Pool) -> Cpo:
    """An OCPI CPO with a party of its own (tests/ocpi_support.py)."""
    return await make_cpo(pool)


@pytest.fixture
async def other_cpo(pool: Pool) -> Cpo:
    return await make_cpo(pool)


@pytest.fixture
async def face(
    broker: AmqpBroker, pool: Pool, cpo: Cpo, other_cpo: Cpo
) -> AsyncIterator[TestClient[Any, Any]]:
    """The ingest app for the OCPI face's tests, made once both CPOs are in the database (it
    loads them at start)."""
    app = create_app(broker, pool, every_metric(), ADMIN_TOKEN, public_url=PUBLIC_URL + "/")
    async with TestClient(IngestServer(app)) as client:
        yield client


@pytest.fixture
async def pushes(broker: AmqpBroker, amqp_url: str) -> AsyncIterator[Pushes]:
    """A queue of the test's own bound to `ocpi.#`: what the OCPI face publishes."""
    async with ocpi_pushes(amqp_url) as found:
        yield found
