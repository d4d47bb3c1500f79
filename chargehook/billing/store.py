"""The bills table, a ledger (docs/billing.md#the-ledger): rows written once, read back as
`Billing`; a batch of events billed in three statements and a fourth when it makes bills."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from chargehook.billing.export_format import stored_digits
from chargehook.billing.plan import EventRef, Head, Made, plan, without_clashes
from chargehook.billing.rules import Lines, bill_to_show, credit_of
from chargehook.plumbing.database import Connection, Pool, columns, lock_keys
from chargehook.plumbing.errors import RetryLater
from chargehook.providers.rules import Rates
from chargehook.schemas import Billing, ProviderFigures
from chargehook.sessions.events import SessionEvent
from chargehook.sessions.order import OrderKey, SessionRef, order_key

COLUMNS = """
    id, kind, event_id, status, currency, price_unit, quantity, base, access_fee, subtotal,
    commission, tax, amount, commission_rate, tax_rate, reason, provider_amount,
    provider_commission, provider_tax, mismatch, updated_at, received_at, refers_to, cdr_id,
    inputs
"""
SESSION_BILLS = f"SELECT {COLUMNS} FROM bills WHERE provider = $1 AND session_id = $2"
# Each session's head: its uncredited final, else its latest credit (docs/billing.md#the-ledger).
HEADS = f"""
SELECT DISTINCT ON (b.provider, b.session_id) {COLUMNS}, provider, session_id,
    (SELECT l.updated_at FROM billing_latest_finished l
     WHERE l.provider = b.provider AND l.session_id = b.session_id) AS seen_until
FROM bills b
WHERE b.kind IN ('final', 'credit')
  AND (b.provider, b.session_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
ORDER BY b.provider, b.session_id,
    b.kind = 'final' AND NOT EXISTS (
        SELECT 1 FROM bills c WHERE c.kind = 'credit' AND c.refers_to = b.id) DESC,
    b.id DESC
"""
# The heads of the batch's sessions, then the events' own bills (a credit is not one's own).
KNOWN = f"""
(SELECT *, true AS head FROM ({HEADS}) AS heads)
UNION ALL
SELECT {COLUMNS}, provider, session_id, NULL, false AS head FROM bills
WHERE kind <> 'credit' AND (provider, event_id) IN (SELECT * FROM unnest($1::text[], $3::text[]))
"""
SEEN_UNTIL = """
INSERT INTO billing_latest_finished (provider, session_id, updated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
ON CONFLICT (provider, session_id) DO UPDATE
SET updated_at = greatest(billing_latest_finished.updated_at, excluded.updated_at)
"""
# Ids are taken first, so that a credit and a final can name a bill made in the same statement.
NEW_IDS = "SELECT nextval(pg_get_serial_sequence('bills', 'id')) FROM generate_series(1, $1)"
WRITTEN = (
    "provider", "session_id", "event_id", "cdr_id", "status", "kind", "refers_to", "reason",
    "currency", "price_unit", "quantity", "base", "access_fee", "subtotal", "commission", "tax",
    "amount", "commission_rate", "tax_rate", "provider_amount", "provider_commission",
    "provider_tax", "cpo_excl_vat", "cpo_incl_vat", "mismatch", "inputs", "updated_at",
    "received_at",
)  # fmt: skip
TYPES = (
    "bigint", *("text",) * 6, "bigint", "text", "text", "text", *("numeric",) * 14, "bool",
    "text", "timestamptz", "timestamptz",
)  # fmt: skip
# A row without an id takes the next one: ids are taken first only where a bill of the batch
# names another bill of the batch.
INSERT = f"""
INSERT INTO bills (id, {", ".join(WRITTEN)})
SELECT coalesce(id, nextval(pg_get_serial_sequence('bills', 'id'))), {", ".join(WRITTEN)}
FROM unnest({", ".join(f"${n}::{t}[]" for n, t in enumerate(TYPES, 1))})
    AS written (id, {", ".join(WRITTEN)})
ON CONFLICT DO NOTHING
RETURNING {COLUMNS}, provider
"""


NUMBERS = (
    "quantity", "base", "access_fee", "subtotal", "commission", "tax", "amount",
    "commission_rate", "tax_rate", "provider_amount", "provider_commission", "provider_tax",
)  # fmt: skip


@dataclass(frozen=True)
class BillRow:
    """One row of the ledger as it is written, once."""

    id: int | None  # None: the next id
    provider: str
    session_id: str
    event_id: str | None
    cdr_id: str | None
    status: str
    kind: str
    refers_to: int | None
    reason: str | None
    currency: str
    price_unit: str | None
    lines: Lines | None
    rates: Rates
    provider_figures: tuple[Decimal | None, Decimal | None, Decimal | None]
    cpo_figures: tuple[Decimal | None, Decimal | None]
    mismatch: bool
    inputs: str | None
    updated_at: datetime
    received_at: datetime

    def values(self) -> tuple[object, ...]:
        money = (self.lines.quantity, *self.lines.money) if self.lines else (None,) * 7
        return (
            self.id, self.provider, self.session_id, self.event_id, self.cdr_id, self.status,
            self.kind, self.refers_to, self.reason, self.currency, self.price_unit, *money,
            self.rates.commission, self.rates.tax, *self.provider_figures, *self.cpo_figures,
            self.mismatch, self.inputs, self.updated_at, self.received_at,
        )  # fmt: skip


async def new_ids(conn: Connection, count: int) -> list[int]:
    return [] if count == 0 else [row[0] for row in await conn.fetch(NEW_IDS, count)]


async def insert_bills(conn: Connection, rows: Sequence[BillRow]) -> list[tuple[str, Billing]]:
    """The rows stored, each with its provider; a row whose event already has a bill is not."""
    if not rows:
        return []
    # in one order (their events'), so batches billed side by side never deadlock
    ordered = sorted(rows, key=lambda r: (r.provider, r.event_id or "", r.cdr_id or "", r.kind))
    stored = await conn.fetch(INSERT, *columns(r.values() for r in ordered))
    return [(r["provider"], billing_from_row(r)) for r in stored]


async def lock_sessions(conn: Connection, sessions: Iterable[SessionRef]) -> None:
    """Bill each session's ledger in one transaction at a time (docs/billing.md#the-ledger)."""
    await lock_keys(conn, (f"bills\n{provider}\n{session}" for provider, session in sessions))


@dataclass(frozen=True)
class KnownBills:
    heads: dict[SessionRef, Head]  # the heads of the batch's sessions
    own: dict[EventRef, Billing]  # the events' own bills
    owners: dict[EventRef, str]  # the session each of those bills is for


async def known_bills(conn: Connection, events: Sequence[SessionEvent]) -> KnownBills:
    """One round trip: the heads of the batch's sessions and the events' own bills."""
    rows = await conn.fetch(
        KNOWN,
        [e.provider for e in events],
        [e.session.id for e in events],
        [e.event_id for e in events],
    )
    heads = {(r["provider"], r["session_id"]): head_from_row(r) for r in rows if r["head"]}
    own = {(r["provider"], r["event_id"]): billing_from_row(r) for r in rows if not r["head"]}
    owners = {(r["provider"], r["event_id"]): r["session_id"] for r in rows if not r["head"]}
    return KnownBills(heads, own, owners)


def head_from_row(row: asyncpg.Record) -> Head:
    return Head(billing_from_row(row), row["updated_at"], row["inputs"], row["seen_until"])


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
    back too. Each session's ledger is billed by one transaction at a time."""
    await lock_sessions(conn, {(e.provider, e.session.id) for e in events})
    known = await known_bills(conn, events)
    events, clashing = without_clashes(events, known.owners)
    planned = plan(events, known.heads, known.own, rates)
    carried = planned.carried
    if planned.seen_until:
        await conn.execute(SEEN_UNTIL, *columns((*s, t) for s, t in planned.seen_until.items()))
    made = list({id(m): m for m in carried if isinstance(m, Made)}.values())
    inserted = await insert_bills(conn, await _rows(conn, made))
    stored = {(p, b.event_id): b for p, b in inserted if b.kind != "credit"}
    # another session's event took an id in the moment after it was read: left out, as a
    # clash seen first; its sessions' events are billed again with the retried batch
    lost = [m.event for m in made if m.ref not in stored]
    if any(m.replaces for m in made if m.ref not in stored):
        # its credit is stored, its final is not: roll back, and the retry sees the clash
        raise RetryLater("a correcting event's id was taken by another session's event")
    raced = without_clashes(lost, (await known_bills(conn, lost)).owners)[1] if lost else []
    if len(raced) != len(lost):
        raise RuntimeError(
            f"bills of {len(lost) - len(raced)} events were neither stored nor found"
        )
    figures = [
        (e, item if isinstance(item, Billing) else stored[item.ref])
        for e, item in zip(events, carried, strict=True)
        if e not in raced
    ]
    new = [m for m in made if m.event not in raced]
    return Billed(figures, new, clashing + raced)


async def _rows(conn: Connection, made: Sequence[Made]) -> list[BillRow]:
    """Each new bill's row, and a credit's before each correction's final; with their ids
    taken first when the batch corrects (a correction names the bill it replaces)."""
    count = sum(2 if m.replaces else 1 for m in made)
    corrects = any(m.replaces for m in made)
    fresh = iter(await new_ids(conn, count) if corrects else [None] * count)
    ids: dict[int, int | None] = {}
    rows: list[BillRow] = []
    for m in made:
        replaced = None
        if m.replaces is not None:
            replaced = _id_of(m.replaces, ids)
            rows.append(credit_row(next(fresh), m, replaced))
        ids[id(m)] = next(fresh)
        rows.append(bill_row(ids[id(m)], m, replaced))
    return rows


def _id_of(head: Head | Made, ids: Mapping[int, int | None]) -> int:
    if isinstance(head, Made):
        taken = ids[id(head)]
        assert taken is not None  # ids are taken first when the batch corrects
        return taken
    assert head.billing.bill_id is not None  # a stored head has its id
    return head.billing.bill_id


def bill_row(bill_id: int | None, made: Made, replaced: int | None) -> BillRow:
    e, s, computed = made.event.envelope, made.event.session, made.bill
    return BillRow(
        bill_id, e.provider, s.id, e.event_id, None, s.status, computed.kind, replaced,
        computed.reason, computed.currency, s.price_unit, computed.lines, computed.rates,
        (s.amount, s.commision_price, s.tax_price), (None, None), bool(made.differing),
        made.inputs, made.updated_at, e.received_at,
    )  # fmt: skip


def credit_row(bill_id: int | None, made: Made, replaced: int) -> BillRow:
    """The credit of the final `made` replaces: its exact negation, at its rates, the
    provider's figures negated too (docs/billing.md#corrections)."""
    e, old = made.event.envelope, made.replaces
    assert old is not None  # only a correction has a credit
    final = _credited(old)
    return BillRow(
        bill_id, e.provider, made.event.session.id, e.event_id, None, made.event.session.status,
        "credit", replaced, None, final.currency, final.price_unit, credit_of(final.lines),
        final.rates, _negation(final.provider_figures), (None, None), final.mismatch, None,
        made.updated_at, e.received_at,
    )  # fmt: skip


@dataclass(frozen=True)
class Credited:
    """What a credit takes of the final it credits."""

    currency: str
    price_unit: str | None
    lines: Lines
    rates: Rates
    provider_figures: tuple[Decimal | None, Decimal | None, Decimal | None]
    mismatch: bool


def _credited(old: Head | Made) -> Credited:
    if isinstance(old, Made):
        s, computed = old.event.session, old.bill
        assert computed.lines is not None  # a final always has its lines
        sent = (s.amount, s.commision_price, s.tax_price)
        return Credited(computed.currency, s.price_unit, computed.lines, computed.rates,
                        sent, bool(old.differing))  # fmt: skip
    b = old.billing
    figures = b.provider_figures or ProviderFigures()
    money = (b.quantity, b.base, b.access_fee, b.subtotal, b.commission, b.tax, b.amount)
    assert None not in money  # a final always has its lines
    return Credited(
        b.currency, b.price_unit, Lines(*money), Rates(b.commission_rate, b.tax_rate),  # type: ignore[arg-type]
        (figures.amount, figures.commision_price, figures.tax_price), b.mismatch,
    )  # fmt: skip


def _negation(
    figures: tuple[Decimal | None, Decimal | None, Decimal | None],
) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    amount, commission, tax = (None if f is None else -f for f in figures)
    return amount, commission, tax


def billing_from_row(row: asyncpg.Record | Mapping[str, Any]) -> Billing:
    # asyncpg reads a round numeric (10000) as Decimal('1E+4'): put back the stored digits
    n = {key: stored_digits(row[key]) for key in NUMBERS}
    sent = (n["provider_amount"], n["provider_commission"], n["provider_tax"])
    figures = None
    if any(value is not None for value in sent):
        figures = ProviderFigures(amount=sent[0], commision_price=sent[1], tax_price=sent[2])
    return Billing(
        kind=row["kind"],
        event_id=row["event_id"],
        currency=row["currency"],
        price_unit=row["price_unit"],
        quantity=n["quantity"],
        base=n["base"],
        access_fee=n["access_fee"],
        subtotal=n["subtotal"],
        commission=n["commission"],
        tax=n["tax"],
        amount=n["amount"],
        commission_rate=n["commission_rate"],
        tax_rate=n["tax_rate"],
        reason=row["reason"],
        provider_figures=figures,
        mismatch=row["mismatch"],
        bill_id=row["id"],
        refers_to=row["refers_to"],
        cdr_id=row["cdr_id"],
    )


def _row_key(row: Mapping[str, Any]) -> OrderKey:
    return order_key(row["status"], row["updated_at"], row["received_at"], row["event_id"] or "")


async def read_session_bill(
    conn: Pool | Connection, provider: str, session_id: str
) -> Billing | None:
    rows = [dict(row) for row in await conn.fetch(SESSION_BILLS, provider, session_id)]
    shown = bill_to_show(rows, _row_key)
    return None if shown is None else billing_from_row(shown)
