"""Reading the bills ledger out (docs/billing.md#export): the whole of a period streamed as CSV
or JSON lines, for `chargehook bills export`, and one page of it, for `GET /v1/bills`. Both
read in (billed_at, id) order, on the index migration 0011 made for it; the rules are in
`export_format.py`."""

from collections.abc import AsyncGenerator

import structlog

from chargehook.billing.export_format import (
    COLUMNS,
    BillFilter,
    ExportFormat,
    PageAsked,
    iso,
    lines,
    preamble,
    stored_bill,
)
from chargehook.plumbing.database import Pool
from chargehook.schemas.bills import BillsPage

log = structlog.get_logger("chargehook.billing")

PAGE = 1000  # rows fetched and written at a time: the export's memory, whatever its length
CHOSEN = """billed_at >= $1 AND billed_at < $2
    AND ($3::text IS NULL OR provider = $3) AND ($4::text IS NULL OR kind = $4)"""
EXPORT = f"SELECT {', '.join(COLUMNS)} FROM bills WHERE {CHOSEN} ORDER BY billed_at, id"
# A page starts past the bill the last one ended with, by the same order.
ONE_PAGE = f"""
SELECT {", ".join(COLUMNS)} FROM bills
WHERE {CHOSEN} AND (billed_at, id) > ($5, $6)
ORDER BY billed_at, id
LIMIT $7
"""
BILLED_AT = "SELECT billed_at FROM bills WHERE id = $1"


class UnknownBill(LookupError):
    """`after` names no bill: it is not the `next` of an earlier page."""


def arguments(chosen: BillFilter) -> tuple[object, ...]:
    return chosen.since, chosen.until, chosen.provider, chosen.kind


async def export_bills(
    pool: Pool, chosen: BillFilter, fmt: ExportFormat, page: int = PAGE
) -> AsyncGenerator[bytes, None]:
    """Every bill chosen, a page of lines at a time, through a server-side cursor: memory
    stays that of one page. One repeatable-read transaction, so the export is one snapshot:
    a bill committed meanwhile is in none of its pages, or in it whole."""
    yield preamble(fmt)
    rows = 0
    async with pool.acquire() as conn:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            cursor = await conn.cursor(EXPORT, *arguments(chosen))
            while found := await cursor.fetch(page):
                rows += len(found)
                yield lines(fmt, found)
    period = {"since": iso(chosen.since), "until": iso(chosen.until)}
    log.info("bills exported", rows=rows, format=fmt, **period)


async def bills_page(pool: Pool, asked: PageAsked) -> BillsPage:
    """Up to `limit` bills past `after`; `next` names the last of them when more follow."""
    async with pool.acquire() as conn:
        if asked.after is None:
            start: tuple[object, int] = (asked.chosen.since, 0)  # ids start at 1
        else:
            billed_at = await conn.fetchval(BILLED_AT, asked.after)
            if billed_at is None:
                raise UnknownBill(asked.after)
            start = (billed_at, asked.after)
        found = await conn.fetch(ONE_PAGE, *arguments(asked.chosen), *start, asked.limit + 1)
    bills = [stored_bill(row) for row in found[: asked.limit]]
    more = len(found) > asked.limit
    return BillsPage(bills=bills, next=str(bills[-1].id) if more else None)
