"""The bills export on the real database (docs/billing.md#export): every bill of a period, in
(billed_at, id) order, a page at a time, from one snapshot, the money as stored."""

import csv
import io
from collections.abc import AsyncIterator
from contextlib import aclosing
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from chargehook.billing.export import export_bills
from chargehook.billing.export_format import BillFilter, ExportFormat
from chargehook.plumbing.database import Pool
from tests.bill_support import EXAMPLE_1, EXAMPLE_5, YEN, add_bill, at, correct, fresh_ledger

pytestmark = pytest.mark.services
MARCH = BillFilter(at(0), at(60))


@pytest.fixture
async def ledger() -> AsyncIterator[Pool]:
    async with fresh_ledger() as (_, pool):
        yield pool


async def exported(
    pool: Pool, chosen: BillFilter = MARCH, fmt: ExportFormat = "csv", page: int = 1000
) -> list[bytes]:
    return [chunk async for chunk in export_bills(pool, chosen, fmt, page)]


def rows(chunks: list[bytes]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(chunks).decode(), newline="")))


def objects(chunks: list[bytes]) -> list[dict[str, Any]]:
    """The JSON lines, their numbers read exactly."""
    decode = msgspec.json.Decoder(float_hook=Decimal).decode
    return [decode(line) for line in b"".join(chunks).splitlines()]


async def test_the_period_is_half_open_and_in_billed_order(ledger: Pool) -> None:
    await add_bill(ledger, -0.001, session="before")
    first = await add_bill(ledger, 0, session="at-since")
    late = await add_bill(ledger, 30, session="late")
    early = await add_bill(ledger, 10, session="early")  # a later id, billed earlier
    await add_bill(ledger, 60, session="at-until")
    found = rows(await exported(ledger))
    assert [row["id"] for row in found] == [str(first), str(early), str(late)]
    assert found[0]["billed_at"] == "2026-03-01T00:00:00Z"
    assert found[0]["received_at"] == "2026-02-28T23:59:59Z"


async def test_a_correction_is_a_negative_credit_and_a_final_that_refers(ledger: Pool) -> None:
    final = await add_bill(ledger, 1)
    credit, replacement = await correct(ledger, final, 2)
    found = objects(await exported(ledger, fmt="jsonl"))
    assert [(o["id"], o["kind"], o["refers_to"]) for o in found] == [
        (final, "final", None), (credit, "credit", final), (replacement, "final", final),
    ]  # fmt: skip
    assert found[1]["amount"] == -Decimal(EXAMPLE_1.amount)
    text = b"".join(await exported(ledger, fmt="jsonl"))
    assert b'"amount":-14.06,' in text and b'"access_fee":0.00,' in text
    amounts = [Decimal(row["amount"]) for row in rows(await exported(ledger))]
    assert sum(amounts) == Decimal(EXAMPLE_5.amount)  # what is owed after the correction


async def test_a_cdr_final_and_an_incomplete_bill_keep_their_nulls(ledger: Pool) -> None:
    await add_bill(ledger, 1, provider="acme-cpo", cdr_id="ES-ABC-cdr-1")
    await add_bill(ledger, 2, session="s-2", kind="incomplete", lines=None,
                   reason="plug_price missing")  # fmt: skip
    cdr, incomplete = objects(await exported(ledger, fmt="jsonl"))
    assert cdr["event_id"] is None and cdr["cdr_id"] == "ES-ABC-cdr-1"
    assert cdr["cpo_excl_vat"] == Decimal("10.56")
    assert incomplete["amount"] is None and incomplete["reason"] == "plug_price missing"
    cdr_row, incomplete_row = rows(await exported(ledger))
    assert cdr_row["event_id"] == "" and incomplete_row["amount"] == ""


async def test_money_keeps_the_digits_stored(ledger: Pool) -> None:
    await add_bill(ledger, 1, lines=YEN, currency="JPY")
    [row] = rows(await exported(ledger))
    assert [row[name] for name in ("base", "access_fee", "tax", "amount")] == [
        "10000", "0.00", "2310", "13310",
    ]  # fmt: skip
    line = b"".join(await exported(ledger, fmt="jsonl"))
    assert b'"base":10000,' in line and b'"amount":13310,' in line


async def test_provider_and_kind_narrow_the_period(ledger: Pool) -> None:
    ours = await add_bill(ledger, 1, provider="emt")
    await add_bill(ledger, 2)
    estimate = await add_bill(ledger, 3, kind="estimate", session="s-9")
    emt = rows(await exported(ledger, BillFilter(at(0), at(60), provider="emt")))
    assert [row["id"] for row in emt] == [str(ours)]
    estimates = rows(await exported(ledger, BillFilter(at(0), at(60), kind="estimate")))
    assert [row["id"] for row in estimates] == [str(estimate)]
    assert rows(await exported(ledger, BillFilter(at(0), at(60), "emt", "credit"))) == []


async def test_the_export_comes_a_page_at_a_time(ledger: Pool) -> None:
    for n in range(25):
        await add_bill(ledger, n, session=f"s-{n}")
    header, *pages = await exported(ledger, page=10)
    assert header.startswith(b"id,provider,") and header.count(b"\r\n") == 1
    assert [page.count(b"\r\n") for page in pages] == [10, 10, 5]
    jsonl = await exported(ledger, fmt="jsonl", page=10)
    assert [page.count(b"\n") for page in jsonl] == [0, 10, 10, 5]


async def test_the_export_is_one_snapshot(ledger: Pool) -> None:
    for n in range(4):
        await add_bill(ledger, 10 + n, session=f"s-{n}")
    chunks = []
    async with aclosing(export_bills(ledger, MARCH, "csv", 2)) as lines:
        async for chunk in lines:
            chunks.append(chunk)
            if len(chunks) == 2:  # committed while the export runs, billed before its rest
                await add_bill(ledger, 11.5, session="meanwhile")
    assert len(rows(chunks)) == 4
    assert len(rows(await exported(ledger))) == 5


async def test_an_export_stopped_early_ends_its_transaction(ledger: Pool) -> None:
    for n in range(5):
        await add_bill(ledger, n, session=f"s-{n}")
    async with aclosing(export_bills(ledger, MARCH, "csv", 2)) as lines:
        async for _ in lines:
            break
    open_transactions = await ledger.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND state LIKE 'idle in transaction%'"
    )
    assert open_transactions == 0
    assert len(rows(await exported(ledger))) == 5
