"""Reconciliation (docs/billing.md#reconciliation): a day's finals and credits per provider
against the provider's own figures, and a session's bill chain with its billed total."""

from datetime import date

import structlog

from chargehook.billing import books, books_store
from chargehook.billing.books import BillChain, Reconciliation
from chargehook.plumbing.database import Pool

log = structlog.get_logger("chargehook.billing")


async def reconcile(pool: Pool, day: date, provider: str | None = None) -> Reconciliation:
    """The UTC day's books of one provider, or of every provider with a final or a credit."""
    # one snapshot for both statements: a bill committed in between is in both or in neither
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        sums = await books_store.day_sums(conn, day, provider)
        differences = await books_store.day_differences(conn, day, provider)
    report = books.reconciliation(day, provider, sums, differences)
    log.info(
        "reconciled",
        day=day.isoformat(),
        provider=provider,
        providers=len(report.providers),
        mismatches=sum(len(p.mismatches) for p in report.providers),
    )
    return report


async def session_bills(pool: Pool, provider: str, session_id: str) -> BillChain | None:
    """The session's bill chain in id order with its billed total; None without a bill."""
    found = await books_store.chain_bills(pool, provider, session_id)
    return books.bill_chain(provider, session_id, found)
