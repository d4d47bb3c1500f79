"""The bills table: one bill per event, one final bill per session, read back as `Billing`."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from chargehook.billing.rules import Bill, bill_to_show
from chargehook.plumbing.database import Connection, Pool
from chargehook.schemas import Billing, ProviderFigures
from chargehook.sessions.events import SessionEvent
from chargehook.sessions.order import OrderKey, order_key

COLUMNS = """
    kind, event_id, status, currency, price_unit, quantity, base, access_fee, subtotal,
    commission, tax, amount, commission_rate, tax_rate, reason, provider_amount,
    provider_commission, provider_tax, mismatch, updated_at, received_at
"""
SESSION_BILLS = f"SELECT {COLUMNS} FROM bills WHERE provider = $1 AND session_id = $2"
FINAL = f"SELECT {COLUMNS} FROM bills WHERE provider = $1 AND session_id = $2 AND kind = 'final'"
OWN = f"SELECT {COLUMNS} FROM bills WHERE provider = $1 AND event_id = $2"
INSERT = f"""
INSERT INTO bills (provider, session_id, event_id, status, kind, reason, currency, price_unit,
    quantity, base, access_fee, subtotal, commission, tax, amount, commission_rate, tax_rate,
    provider_amount, provider_commission, provider_tax, mismatch, updated_at, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23)
ON CONFLICT DO NOTHING
RETURNING {COLUMNS}
"""


async def stored_bill(conn: Connection, event: SessionEvent) -> Billing | None:
    """The figures this event already carries: its session's final bill, else its own bill."""
    final = await conn.fetchrow(FINAL, event.provider, event.session.id)
    own = final or await conn.fetchrow(OWN, event.provider, event.event_id)
    return None if own is None else billing_from_row(own)


async def insert_bill(
    conn: Connection, event: SessionEvent, computed: Bill, mismatch: bool
) -> Billing:
    """Store the bill; when another worker billed this event or the session's final first,
    theirs is returned, so a session is billed once whatever runs in parallel."""
    inserted = await conn.fetchrow(INSERT, *_bill_row(event, computed, mismatch))
    if inserted is not None:
        return billing_from_row(inserted)
    winner = await stored_bill(conn, event)
    assert winner is not None  # a conflict means the winning row exists
    return winner


def _bill_row(event: SessionEvent, computed: Bill, mismatch: bool) -> tuple[object, ...]:
    e, s, lines = event.envelope, event.session, computed.lines
    money = (lines.quantity, *lines.money) if lines else (None,) * 7
    return (
        e.provider, s.id, e.event_id, s.status, computed.kind, computed.reason, computed.currency,
        s.price_unit, *money, computed.rates.commission, computed.rates.tax, s.amount,
        s.commision_price, s.tax_price, mismatch, s.updatedAt or e.received_at, e.received_at,
    )  # fmt: skip


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


def _row_key(row: asyncpg.Record) -> OrderKey:
    return order_key(row["status"], row["updated_at"], row["received_at"], row["event_id"])


async def read_session_bill(
    conn: Pool | Connection, provider: str, session_id: str
) -> Billing | None:
    rows: Sequence[asyncpg.Record] = await conn.fetch(SESSION_BILLS, provider, session_id)
    shown = bill_to_show(rows, lambda row: str(row["kind"]), _row_key)
    return None if shown is None else billing_from_row(shown)
