"""The bills table as chargehook reads it: one row to the wire's `Billing`, a session's bill."""

from __future__ import annotations

import asyncpg

from chargehook.schemas import Billing, ProviderFigures
from chargehook.sessions.order import order_key

COLUMNS = """
    kind, event_id, status, currency, price_unit, quantity, base, access_fee, subtotal,
    commission, tax, amount, commission_rate, tax_rate, reason, provider_amount,
    provider_commission, provider_tax, mismatch, updated_at, received_at
"""
SESSION_BILLS = f"SELECT {COLUMNS} FROM bills WHERE provider = $1 AND session_id = $2"


def billing_from_row(row: asyncpg.Record) -> Billing:
    sent = (row["provider_amount"], row["provider_commission"], row["provider_tax"])
    figures = None
    if any(value is not None for value in sent):
        figures = ProviderFigures(amount=sent[0], commision_price=sent[1], tax_price=sent[2])
    return Billing(
        kind=row["kind"],
        event_id=row["event_id"],
        currency=row["currency"],
        price_unit=row["price_unit"],
        quantity=row["quantity"],
        base=row["base"],
        access_fee=row["access_fee"],
        subtotal=row["subtotal"],
        commission=row["commission"],
        tax=row["tax"],
        amount=row["amount"],
        commission_rate=row["commission_rate"],
        tax_rate=row["tax_rate"],
        reason=row["reason"],
        provider_figures=figures,
        mismatch=row["mismatch"],
    )


def session_bill(rows: list[asyncpg.Record]) -> Billing | None:
    """The session's final bill; before it, the bill of its latest event by the persist order."""
    if not rows:
        return None
    finals = [row for row in rows if row["kind"] == "final"]
    latest = finals or sorted(
        rows,
        key=lambda r: order_key(r["status"], r["updated_at"], r["received_at"], r["event_id"]),
    )
    return billing_from_row(latest[-1])


async def read_session_bill(
    conn: asyncpg.Pool | asyncpg.Connection, provider: str, session_id: str
) -> Billing | None:
    return session_bill(await conn.fetch(SESSION_BILLS, provider, session_id))
