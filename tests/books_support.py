"""A day of bills written straight into the ledger, as the billing and ocpi workers will write
them (issue 18), for the tests of the books: reconciliation and a session's bill chain.

2026-03-01, rates 0.10 and 0.21. repsol posts page-shaped sessions: s-page billed (example 1),
then corrected (its credit and a new final in one transaction, as migration 0011's deferred
check asks); s-off sent an amount 0.03 from ours and a tax 0.01 from ours; s-zero sent the
page example's 0 placeholders, at the day's last microsecond. acme-cpo is an OCPI CPO:
ES-ABC-s1 billed from a CDR, credited by a credit CDR, billed again from a third CDR; ES-ABC-s2
billed from a CDR, then credited by a credit CDR whose total_cost.excl_vat is 0.10 short of the
final's. emt bills in JPY. Around them: an estimate, a
zero and an incomplete bill, and finals a microsecond either side of the day.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from chargehook.plumbing.database import Connection, Pool, migrate, open_pool
from tests.support import fresh_database

DAY = date(2026, 3, 1)
MIDNIGHT = datetime(2026, 3, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Every fraction as the text it was sent with: compared digit for digit.
exact = msgspec.json.Decoder(float_hook=str)


def at(hour: float) -> datetime:
    return MIDNIGHT + timedelta(hours=hour)


@dataclass(frozen=True)
class Books:
    url: str
    pool: Pool
    ids: dict[str, int] = field(default_factory=dict)  # each bill's id by its name here


@asynccontextmanager
async def fresh_books() -> AsyncIterator[Books]:
    """A database of the test's own, migrated, and its pool."""
    async with fresh_database("chargehook_books") as url, open_pool(url) as pool:
        await migrate(pool)
        yield Books(url, pool)


def lines(base: str, commission: str, tax: str, amount: str) -> dict[str, Decimal]:
    """The money lines of a bill without an access fee (S = B)."""
    b = Decimal(base)
    zero = Decimal("0.00")
    return {
        "base": b,
        "access_fee": zero,
        "subtotal": b,
        "commission": Decimal(commission),
        "tax": Decimal(tax),
        "amount": Decimal(amount),
    }


def sent(amount: str, commission: str, tax: str) -> dict[str, Decimal]:
    """The page's figures as a provider sent them."""
    return {
        "provider_amount": Decimal(amount),
        "provider_commission": Decimal(commission),
        "provider_tax": Decimal(tax),
    }


def cpo(excl_vat: str, incl_vat: str) -> dict[str, Decimal]:
    return {"cpo_excl_vat": Decimal(excl_vat), "cpo_incl_vat": Decimal(incl_vat)}


NEGATED = (
    "base", "access_fee", "subtotal", "commission", "tax", "amount", "provider_amount",
    "provider_commission", "provider_tax",
)  # fmt: skip


def credit_of(final: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The exact negation of a final's lines and figures (billing.rules.credit_of)."""
    negated = {name: -final[name] for name in NEGATED if final.get(name) is not None}
    kept = {k: final.get(k) for k in ("provider", "session_id", "price_unit", "quantity")}
    return {**kept, "currency": final.get("currency", "EUR"), **negated, "kind": "credit", **extra}


async def insert(conn: Pool | Connection, bill: dict[str, Any]) -> int:
    """One bill; status FINISHED, EUR, rates 0.10 and 0.21 and times at billed_at unless told."""
    row = {
        "status": "FINISHED",
        "currency": "EUR",
        "commission_rate": Decimal("0.10"),
        "tax_rate": Decimal("0.21"),
        "updated_at": bill["billed_at"],
        "received_at": bill["billed_at"],
        **bill,
    }
    names = ", ".join(row)
    places = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    bill_id: int = await conn.fetchval(
        f"INSERT INTO bills ({names}) VALUES ({places}) RETURNING id", *row.values()
    )
    return bill_id


async def correct(pool: Pool, credit: dict[str, Any], final: dict[str, Any]) -> tuple[int, int]:
    """A credit and the final that replaces the one it credits, in one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        return await insert(conn, credit), await insert(conn, final)


def page_bill(session: str, event: str, billed_at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "provider": "repsol",
        "session_id": session,
        "event_id": event,
        "kind": "final",
        "price_unit": "session",
        "quantity": Decimal(1),
        "billed_at": billed_at,
        **fields,
    }


def cdr_bill(session: str, cdr: str, billed_at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "provider": "acme-cpo",
        "session_id": session,
        "cdr_id": cdr,
        "kind": "final",
        "price_unit": "session",
        "quantity": Decimal(1),
        "billed_at": billed_at,
        **fields,
    }


KWH = {"price_unit": "kwh"}


async def a_day_of_bills(books: Books) -> dict[str, int]:
    """The day of the module docstring; each bill's id by name."""
    await a_page_session(books)
    await a_mismatch_and_placeholders(books)
    await not_in_the_books(books)
    await an_ocpi_session(books)
    books.ids["emt"] = await insert(books.pool, {
        **page_bill("s-emt", "evt-emt-1", at(17), currency="JPY"),
        **lines("1250", "125", "289", "1664"),
        "provider": "emt",
        "provider_amount": Decimal("1664"),
    })  # fmt: skip
    return books.ids


async def a_page_session(books: Books) -> None:
    """s-page: an estimate, a final (example 1), then its credit and a new final."""
    pool, ids = books.pool, books.ids
    estimate = page_bill("s-page", "evt-page-0", at(9), kind="estimate", status="IN_PROGRESS",
                          quantity=Decimal("11.000"), **KWH)  # fmt: skip
    ids["estimate"] = await insert(pool, {**estimate, **lines("4.95", "0.50", "1.14", "6.59")})
    first = {
        **page_bill("s-page", "evt-page-1", at(10), quantity=Decimal("23.456"), **KWH),
        **lines("10.56", "1.06", "2.44", "14.06"),
        **sent("14.06", "1.06", "2.44"),
    }
    ids["page final"] = await insert(pool, first)
    replaced = {"refers_to": ids["page final"]}
    again = {
        **page_bill("s-page", "evt-page-2", at(11), quantity=Decimal("25.000"), **KWH),
        **lines("11.25", "1.13", "2.60", "14.98"),
        **sent("14.98", "1.13", "2.60"),
        **replaced,
    }
    credit = credit_of(first, event_id="evt-page-2", billed_at=at(11), **replaced)
    ids["page credit"], ids["page again"] = await correct(pool, credit, again)


async def a_mismatch_and_placeholders(books: Books) -> None:
    """s-off: an amount 0.03 and a tax 0.01 from ours; s-zero: the page's 0 placeholders, at
    the day's last microsecond."""
    pool, ids = books.pool, books.ids
    off = page_bill("s-off", "evt-off-1", at(12))
    ids["off"] = await insert(pool, {**off, **lines("1.25", "0.13", "0.29", "1.67"),
                                     **sent("1.70", "0.13", "0.30")})  # fmt: skip
    last = MIDNIGHT + timedelta(days=1) - MICROSECOND
    placeholders = page_bill("s-zero", "evt-zero-1", last)
    ids["zero placeholders"] = await insert(pool, {
        **placeholders, **lines("2.00", "0.20", "0.46", "2.66"), **sent("0", "0", "0"),
    })  # fmt: skip


async def an_ocpi_session(books: Books) -> None:
    """ES-ABC-s1 from a CDR, credited by a credit CDR and billed again; ES-ABC-s2 from a CDR,
    credited by a credit CDR of -2.00 excl. VAT where the final's base is 2.10."""
    pool, ids = books.pool, books.ids
    first = {
        **cdr_bill("ES-ABC-s1", "ES-ABC-cdr1", at(14)),
        **lines("4.00", "0.40", "0.92", "5.32"),
        **cpo("4.00", "4.84"),
    }
    ids["cdr final"] = await insert(pool, first)
    replaced = {"refers_to": ids["cdr final"]}
    credit = credit_of(first, cdr_id="ES-ABC-cdr2", billed_at=at(15), **cpo("-4.00", "-4.84"),
                       **replaced)  # fmt: skip
    again = {
        **cdr_bill("ES-ABC-s1", "ES-ABC-cdr3", at(15), **replaced),
        **lines("4.50", "0.45", "1.04", "5.99"),
        **cpo("4.50", "5.45"),
    }
    ids["cdr credit"], ids["cdr again"] = await correct(pool, credit, again)
    other = {
        **cdr_bill("ES-ABC-s2", "ES-ABC-cdr4", at(16)),
        **lines("2.10", "0.21", "0.49", "2.80"),
        **cpo("2.10", "2.54"),
    }
    ids["cdr other"] = await insert(pool, other)
    short = credit_of(other, cdr_id="ES-ABC-cdr5", billed_at=at(16.5), **cpo("-2.00", "-2.42"),
                      refers_to=ids["cdr other"])  # fmt: skip
    ids["cdr credit off"] = await insert(pool, short)


async def not_in_the_books(books: Books) -> None:
    """Bills of the day that are no final nor credit, and finals just outside the day (with an
    amount far from ours, which this day does not list)."""
    pool, ids = books.pool, books.ids
    failed = page_bill("s-failed", "evt-failed-1", at(13), kind="zero", status="NOT_PLUGGED")
    ids["zero"] = await insert(pool, {**failed, **lines("0.00", "0.00", "0.00", "0.00")})
    ids["incomplete"] = await insert(pool, page_bill(
        "s-incomplete", "evt-incomplete-1", at(13), kind="incomplete", price_unit=None,
        quantity=None, reason="price_unit missing",
    ))  # fmt: skip
    for name, billed_at in (("before", MIDNIGHT - MICROSECOND), ("after", at(24))):
        outside = page_bill(f"s-{name}", f"evt-{name}-1", billed_at)
        ids[name] = await insert(pool, {**outside, **lines("1.25", "0.13", "0.29", "1.67"),
                                        **sent("9.99", "0.13", "0.29")})  # fmt: skip
