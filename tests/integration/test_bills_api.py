"""GET /v1/bills on the real database (docs/api.md#bills): keyset pages walked to the end, the
filters, and every bad parameter answered 400 in the page's error shape, naming it."""

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient

from chargehook.ingest.app import create_app
from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.database import Pool
from chargehook.plumbing.memory_broker import MemoryBroker
from chargehook.providers.store import add_provider
from tests.bill_support import add_bill, at, correct, fresh_ledger
from tests.support import ADMIN_TOKEN, IngestServer

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
decode = msgspec.json.Decoder(float_hook=Decimal).decode


@pytest.fixture
async def ledger() -> AsyncIterator[Pool]:
    async with fresh_ledger() as (_, pool):
        yield pool


@pytest.fixture
async def api(ledger: Pool) -> AsyncIterator[Client]:
    app = create_app(MemoryBroker(), ledger, every_metric(), ADMIN_TOKEN)
    async with TestClient(IngestServer(app)) as client:
        yield client


async def page(api: Client, **query: str) -> dict[str, Any]:
    answer = await api.get("/v1/bills", params=query, headers=ADMIN)
    assert answer.status == 200, await answer.text()
    found: dict[str, Any] = decode(await answer.read())
    return found


async def walk(api: Client, **query: str) -> list[list[int]]:
    """Every page from the first, following `next` until it is null: the ids of each."""
    pages: list[list[int]] = []
    after: dict[str, str] = {}
    while True:
        found = await page(api, **query, **after)
        pages.append([bill["id"] for bill in found["bills"]])
        if found["next"] is None:
            return pages
        after = {"after": found["next"]}


@pytest.mark.parametrize(("bills", "sizes"), [(5, [2, 2, 1]), (4, [2, 2]), (0, [0])])
async def test_pages_are_walked_to_the_end_by_next(
    api: Client, ledger: Pool, bills: int, sizes: list[int]
) -> None:
    ids = [await add_bill(ledger, 50 - n, session=f"s-{n}") for n in range(bills)]
    pages = await walk(api, limit="2")
    assert [len(ids_of_page) for ids_of_page in pages] == sizes
    assert [bill_id for ids_of_page in pages for bill_id in ids_of_page] == ids[::-1]


async def test_bills_billed_together_page_by_id(api: Client, ledger: Pool) -> None:
    final = await add_bill(ledger, 1)
    credit, replacement = await correct(ledger, final, 2)  # one transaction, one billed_at
    assert await walk(api, limit="1") == [[final], [credit], [replacement]]


async def test_filters_and_money_as_numbers(api: Client, ledger: Pool) -> None:
    final = await add_bill(ledger, 1)
    credit, _ = await correct(ledger, final, 2)
    await add_bill(ledger, 3, provider="emt")
    found = await page(api, since="2026-03-01T00:01:30Z", until="2026-03-02", kind="credit")
    [bill] = found["bills"]
    assert (bill["id"], bill["refers_to"], bill["amount"]) == (credit, final, Decimal("-14.06"))
    assert found["next"] is None
    emt = await page(api, provider="emt")
    assert [bill["provider"] for bill in emt["bills"]] == ["emt"]
    answer = await api.get("/v1/bills", params={"kind": "credit"}, headers=ADMIN)
    assert b'"amount":-14.06,' in await answer.read()
    assert (await page(api, until="2026-03-01"))["bills"] == []


async def test_next_carries_on_with_the_same_filters(api: Client, ledger: Pool) -> None:
    for n in range(6):
        await add_bill(ledger, n, session=f"s-{n}", provider="emt" if n % 2 else "repsol")
    pages = await walk(api, provider="emt", limit="2", since=at(0).isoformat())
    assert [len(ids) for ids in pages] == [2, 1]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "yesterday"}, "since: Expected a date (its UTC midnight) or a date-time"),
        ({"until": "2026-03-01T00:00:00"}, "until: Expected a date"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until: Expected a time after since"),
        ({"provider": "Bad.Name"}, "provider: Expected a provider name"),
        ({"kind": "refund"}, "kind: Expected one of final, estimate, credit, zero, incomplete"),
        ({"limit": "0"}, "limit: Expected a whole number from 1 to 1000, got '0'"),
        ({"limit": "1001"}, "limit: Expected a whole number from 1 to 1000"),
        ({"after": "x"}, "after: Expected the `next` of an earlier page, got 'x'"),
        ({"after": "424242"}, "after: No bill 424242; use the `next` of a page"),
        ({"offset": "10"}, "offset: Unknown parameter"),
    ],
)
async def test_a_bad_parameter_is_a_400_naming_it(
    api: Client, query: dict[str, str], message: str
) -> None:
    answer = await api.get("/v1/bills", params=query, headers=ADMIN)
    assert answer.status == 400
    body = await answer.json()
    assert body["statusCode"] == 400 and body["error"] == "Bad Request"
    assert body["message"].startswith(message), body


async def test_only_the_admin_reads_the_ledger(api: Client, ledger: Pool) -> None:
    assert (await api.get("/v1/bills")).status == 401
    token = await add_provider(ledger, "repsol")
    answer = await api.get("/v1/bills", headers={"Authorization": f"Bearer {token}"})
    assert answer.status == 403
