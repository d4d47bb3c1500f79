"""The bills table: one bill per event, one final bill per session, read back as `Billing`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from chargehook.billing.plan import EventRef, Made, plan, without_clashes
from chargehook.billing.rules import bill_to_show
from chargehook.plumbing.database import Connection, Pool, columns
from chargehook.providers.rules import Rates
from chargehook.schemas import Billing, ProviderFigures
from chargehook.sessions.events import SessionEvent
from chargehook.sessions.order import OrderKey, SessionRef, order_key

COLUMNS = """
    kind, event_id, status, currency, price_unit, quantity, base, access_fee, subtotal,
    commission, tax, amount, commission_rate, tax_rate, reason, provider_amount,
    provider_commission, provider_tax, mismatch, updated_at, received_at
"""
SESSION_BILLS = f"SELECT {COLUMNS} FROM bills WHERE provider = $1 AND session_id = $2"
# The finals of the batch's sessions, then the events' own bills (the two unique indexes).
KNOWN = f"""
SELECT {COLUMNS}, provider, session_id, true AS final FROM bills
WHERE kind = 'final' AND (provider, session_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
UNION ALL
SELECT {COLUMNS}, provider, session_id, false AS final FROM bills
WHERE (provider, event_id) IN (SELECT * FROM unnest($1::text[], $3::text[]))
"""
INSERT = f"""
INSERT INTO bills (provider, session_id, event_id, status, kind, reason, currency, price_unit,
    quantity, base, access_fee, subtotal, commission, tax, amount, commission_rate, tax_rate,
    provider_amount, provider_commission, provider_tax, mismatch, updated_at, received_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::text[], $9::numeric[], $10::numeric[], $11::numeric[], $12::numeric[],
    $13::numeric[], $14::numeric[], $15::numeric[], $16::numeric[], $17::numeric[],
    $18::numeric[], $19::numeric[], $20::numeric[], $21::bool[], $22::timestamptz[],
    $23::timestamptz[])
ON CONFLICT DO NOTHING
RETURNING {COLUMNS}, provider
"""


@dataclass(frozen=True)
class KnownBills:
    finals: dict[SessionRef, Billing]  # the final bills of the batch's sessions
    own: dict[EventRef, Billing]  # the events' own bills
    owners: dict[EventRef, str]  # the session each of those bills is for


async def known_bills(conn: Connection, events: Sequence[SessionEvent]) -> KnownBills:
    """One round trip: the final bills of the batch's sessions and the events' own bills."""
    rows = await conn.fetch(
        KNOWN,
        [e.provider for e in events],
        [e.session.id for e in events],
        [e.event_id for e in events],
    )
    finals = {(r["provider"], r["session_id"]): billing_from_row(r) for r in rows if r["final"]}
    own = {(r["provider"], r["event_id"]): billing_from_row(r) for r in rows if not r["final"]}
    owners = {(r["provider"], r["event_id"]): r["session_id"] for r in rows if not r["final"]}
    return KnownBills(finals, own, owners)


@dataclass(frozen=True)
class Billed:
    """A batch billed: each kept event with the figures it carries, the new bills, and the
    events left out because their id was taken by another session's event."""

    carried: list[tuple[SessionEvent, Billing]]
    made: list[Made]
    clashing: list[SessionEvent]


async def bill_batch(
    conn: Connection, events: Sequence[SessionEvent], rates: Mapping[str, Rates]
) -> Billed:
    """The figures each event carries, its new bills stored in one statement; the new bills
    back too. A bill another worker stored first wins, so a session is billed once."""
    known = await known_bills(conn, events)
    events, clashing = without_clashes(events, known.owners)
    finals, own = known.finals, known.own
    carried = plan(events, finals, own, rates)
    made = [item for item in carried if isinstance(item, Made)]
    # in one order (their keys'), so batches billed side by side never deadlock
    unique = sorted({m.ref: m for m in made}.values(), key=lambda m: (m.ref, m.event.session.id))
    stored = await _insert(conn, unique)
    lost = [m.event for m in made if m.ref not in stored]
    raced: list[SessionEvent] = []
    if lost:  # another worker billed these events or their sessions' finals first
        again = await known_bills(conn, lost)
        # or another session's event took the id in between: left out, as a clash seen first
        raced = without_clashes(lost, again.owners)[1]
        for m in made:
            if m.ref not in stored and m.event not in raced:
                session = (m.event.provider, m.event.session.id)
                stored[m.ref] = again.finals.get(session) or again.own[m.ref]
    pairs = [(e, item) for e, item in zip(events, carried, strict=True) if e not in raced]
    figures = [(e, item if isinstance(item, Billing) else stored[item.ref]) for e, item in pairs]
    new = [m for m in made if m.event not in raced and stored[m.ref].event_id == m.event.event_id]
    return Billed(figures, new, clashing + raced)


async def _insert(conn: Connection, made: Sequence[Made]) -> dict[EventRef, Billing]:
    if not made:
        return {}
    rows = await conn.fetch(INSERT, *columns(map(_bill_row, made)))
    return {(r["provider"], r["event_id"]): billing_from_row(r) for r in rows}


def _bill_row(made: Made) -> tuple[object, ...]:
    e, s, computed = made.event.envelope, made.event.session, made.bill
    lines, mismatch = computed.lines, bool(made.differing)
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
