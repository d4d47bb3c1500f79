"""What the bills export tests share: a database of the test's own, and bills written straight
into it with SQL, as the ledger holds them (a final, a correction: the credit and the new final
in one transaction, as migration 0011's deferred check asks; a CDR's final; an incomplete)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from chargehook.plumbing.database import Connection, Pool, migrate, open_pool
from tests.support import fresh_database

START = datetime(2026, 3, 1, tzinfo=UTC)
INSERT = """
INSERT INTO bills (provider, session_id, event_id, cdr_id, status, kind, refers_to, reason,
    currency, price_unit, quantity, base, access_fee, subtotal, commission, tax, amount,
    commission_rate, tax_rate, cpo_excl_vat, cpo_incl_vat, updated_at, received_at, billed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'kwh', $10, $11, $12, $11, $13, $14, $15, 0.10,
    0.21, $16, $17, $18::timestamptz - interval '2 seconds', $18 - interval '1 second', $18)
RETURNING id
"""


@dataclass(frozen=True)
class Lines:
    """A bill's money: base, commission, tax, amount (no access fee, so the subtotal is B)."""

    base: str
    commission: str
    tax: str
    amount: str

    def negated(self) -> "Lines":
        return Lines(*(str(-Decimal(value)) for value in vars(self).values()))

    def numbers(self) -> list[Decimal | None]:
        return [Decimal(value) for value in vars(self).values()]


EXAMPLE_1 = Lines("10.56", "1.06", "2.44", "14.06")  # docs/billing.md, worked example 1
EXAMPLE_5 = Lines("1.25", "0.13", "0.29", "1.67")
YEN = Lines("10000", "1000", "2310", "13310")


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


class Ledger(NamedTuple):
    url: str
    pool: Pool


@asynccontextmanager
async def fresh_ledger() -> AsyncIterator[Ledger]:
    """A database of the test's own, migrated: no other test's bills in its periods."""
    async with fresh_database("chargehook_export") as url, open_pool(url) as pool:
        await migrate(pool)
        yield Ledger(url, pool)


async def add_bill(
    conn: "Connection | Pool",
    minute: float,
    *,
    session: str = "s-1",
    kind: str = "final",
    provider: str = "repsol",
    lines: Lines | None = EXAMPLE_1,
    refers_to: int | None = None,
    cdr_id: str | None = None,
    currency: str = "EUR",
    reason: str | None = None,
) -> int:
    """One bill billed at START + `minute`; its id. A bill from a CDR has no event id."""
    event_id = None if cdr_id else f"evt-{session}-{kind}-{minute}"
    money = lines.numbers() if lines else [None] * 4
    quantity = Decimal("23.456") if lines else None
    cpo = [money[0], money[0]] if cdr_id else [None, None]
    status = "IN_PROGRESS" if kind == "estimate" else "FINISHED"
    bill_id: int = await conn.fetchval(
        INSERT, provider, session, event_id, cdr_id, status, kind, refers_to, reason, currency,
        quantity, money[0], Decimal("0.00") if lines else None, *money[1:], *cpo, at(minute),
    )  # fmt: skip
    return bill_id


async def correct(
    pool: Pool,
    final: int,
    minute: float,
    *,
    credited: Lines = EXAMPLE_1,
    lines: Lines = EXAMPLE_5,
    provider: str = "repsol",
    session: str = "s-1",
) -> list[int]:
    """The credit of `final` and the final that replaces it, in one transaction; their ids."""
    async with pool.acquire() as conn, conn.transaction():
        credit = await add_bill(conn, minute, kind="credit", lines=credited.negated(),
                                provider=provider, session=session, refers_to=final)  # fmt: skip
        replacement = await add_bill(conn, minute, lines=lines, provider=provider,
                                     session=session, refers_to=final)  # fmt: skip
    return [credit, replacement]
