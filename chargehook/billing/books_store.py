"""The books read from the bills table: a day's finals and credits summed per provider,
currency and kind, the provider's figures that differ from ours, and a session's bill chain.

Each is one set-based statement: the day's bills are read by `bills_by_billed_at` (migration
0011), a session's by `bills_by_session`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from chargehook.billing.books import FIGURES, ChainBill, Difference, Figure, KindSums, SentSums
from chargehook.plumbing.database import Connection, Pool


def sent(figure: Figure, table: str = "") -> str:
    """SQL: whether the bill carries the figure (billing.books.Figure.zero_is_sent)."""
    column = table + figure.theirs
    return f"{column} IS NOT NULL" if figure.zero_is_sent else f"{column} <> 0"


# The UTC day of $1, finals and credits only, of provider $2 or of all when it is NULL.
IN_THE_DAY = """
    billed_at >= ($1::date)::timestamp AT TIME ZONE 'UTC'
    AND billed_at < ($1::date + 1)::timestamp AT TIME ZONE 'UTC'
    AND kind IN ('final', 'credit') AND ($2::text IS NULL OR provider = $2)
"""
SENT_SUMS = ",\n".join(
    f"count(*) FILTER (WHERE {sent(f)}) AS sent_{i}, "
    f"sum({f.theirs}) FILTER (WHERE {sent(f)}) AS theirs_{i}, "
    f"sum({f.ours}) FILTER (WHERE {sent(f)}) AS ours_{i}"
    for i, f in enumerate(FIGURES)
)
DAY_SUMS = f"""
SELECT provider, currency, kind, count(*) AS bills, sum(amount) AS amount,
       sum(commission) AS commission, sum(tax) AS tax,
       {SENT_SUMS}
FROM bills WHERE {IN_THE_DAY}
GROUP BY provider, currency, kind
"""
FIGURE_ROWS = ", ".join(f"('{f.name}', b.{f.theirs}, b.{f.ours}, {sent(f, 'b.')})" for f in FIGURES)
# Every sent figure that is not equal to ours; billing.books decides which is a mismatch.
DAY_DIFFERENCES = f"""
SELECT b.provider, b.id, b.session_id, b.kind, b.currency, f.figure, f.theirs, f.ours
FROM bills b CROSS JOIN LATERAL (VALUES {FIGURE_ROWS}) AS f (figure, theirs, ours, sent)
WHERE {IN_THE_DAY} AND f.sent AND f.theirs <> f.ours
"""
CHAIN = """
SELECT id, kind, refers_to, event_id, cdr_id, status, reason, currency, price_unit, quantity,
       base, access_fee, subtotal, commission, tax, amount, commission_rate, tax_rate,
       provider_amount, provider_commission, provider_tax, cpo_excl_vat, cpo_incl_vat,
       mismatch, billed_at
FROM bills WHERE provider = $1 AND session_id = $2
ORDER BY id
"""


async def day_sums(conn: Connection, day: date, provider: str | None) -> list[KindSums]:
    rows: Sequence[asyncpg.Record] = await conn.fetch(DAY_SUMS, day, provider)
    return [_kind_sums(row) for row in rows]


def _kind_sums(row: asyncpg.Record) -> KindSums:
    return KindSums(
        provider=row["provider"],
        currency=row["currency"],
        kind=row["kind"],
        bills=row["bills"],
        amount=row["amount"],
        commission=row["commission"],
        tax=row["tax"],
        sent=tuple(
            SentSums(row[f"sent_{i}"], row[f"theirs_{i}"], row[f"ours_{i}"])
            for i in range(len(FIGURES))
        ),
    )


async def day_differences(conn: Connection, day: date, provider: str | None) -> list[Difference]:
    rows: Sequence[asyncpg.Record] = await conn.fetch(DAY_DIFFERENCES, day, provider)
    return [
        Difference(
            provider=row["provider"], bill_id=row["id"], session_id=row["session_id"],
            kind=row["kind"], currency=row["currency"], figure=row["figure"],
            theirs=row["theirs"], ours=row["ours"],
        )
        for row in rows
    ]  # fmt: skip


async def chain_bills(conn: Pool | Connection, provider: str, session_id: str) -> list[ChainBill]:
    """Every bill of the session, in id order."""
    rows: Sequence[asyncpg.Record] = await conn.fetch(CHAIN, provider, session_id)
    return [ChainBill(**dict(row.items())) for row in rows]
