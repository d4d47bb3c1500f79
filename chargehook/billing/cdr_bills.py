"""Billing OCPI CDRs (docs/billing.md#ocpi-sessions-and-cdrs): a CDR makes its session's final,
a credit CDR the credit of the final of the CDR it references, and the next CDR the new final.

The rules are pure (`plan_cdrs`, `refusal`); one read and one write bill a batch, in the ocpi
worker's transaction that stores the CDRs, so a CDR and its bill commit together. A CDR that
cannot be billed is refused: a credit of a CDR not billed here or credited already, or a CDR
for a session whose final is still uncredited (a correction is a credit CDR first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from chargehook.billing.rules import MISMATCH_TOLERANCE, Lines, cdr_lines, credit_of
from chargehook.billing.store import HEADS, BillRow, insert_bills, lock_sessions, new_ids
from chargehook.plumbing.database import Connection, Pool, Record, columns
from chargehook.providers.rules import Rates
from chargehook.sessions.order import SessionRef

BILLED_CDRS = """
SELECT b.id, b.provider, b.session_id, b.cdr_id, b.kind, b.currency, b.quantity, b.base,
    b.access_fee, b.subtotal, b.commission, b.tax, b.amount, b.commission_rate, b.tax_rate,
    b.cpo_excl_vat, b.cpo_incl_vat, b.refers_to,
    EXISTS (SELECT 1 FROM bills c WHERE c.kind = 'credit' AND c.refers_to = b.id) AS credited
FROM bills b
WHERE (b.provider, b.cdr_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
"""


@dataclass(frozen=True)
class CdrCharge:
    """What billing needs of one CDR."""

    provider: str  # the CPO
    session_id: str  # the page id of the session it bills
    cdr_id: str  # '<country_code>-<party_id>-<id>'
    credits: str | None  # a credit CDR's: the cdr_id of the CDR it credits
    currency: str
    excl_vat: Decimal
    incl_vat: Decimal | None
    last_updated: datetime
    received_at: datetime


@dataclass
class Billed:
    """A bill of a CDR, stored or planned: what a later CDR of the batch needs of it."""

    bill_id: int
    session_id: str
    kind: str  # final or credit
    currency: str
    lines: Lines
    rates: Rates
    cpo_figures: tuple[Decimal | None, Decimal | None]
    refers_to: int | None = None
    credited: bool = False
    mismatch: bool = False


@dataclass
class Ledger:
    """What the batch's CDRs are billed against: each session's head, and the CDRs billed."""

    heads: dict[SessionRef, Billed] = field(default_factory=dict)
    by_cdr: dict[tuple[str, str], Billed] = field(default_factory=dict)


@dataclass(frozen=True)
class CdrPlan:
    rows: list[BillRow]
    refused: list[tuple[CdrCharge, str]]


def refusal(charge: CdrCharge, ledger: Ledger) -> str | None:
    """Why `charge` cannot be billed against `ledger`, or None (billed already included)."""
    if (charge.provider, charge.cdr_id) in ledger.by_cdr:
        return None
    if charge.credits is not None:
        final = ledger.by_cdr.get((charge.provider, charge.credits))
        if final is None or final.kind != "final":
            return f"credit_reference_id {charge.credits}: no CDR of this CPO is billed under it"
        if final.credited:
            return f"CDR {charge.credits} is credited already"
        return None
    head = ledger.heads.get((charge.provider, charge.session_id))
    if head is not None and head.kind == "final" and not head.credited:
        return (
            f"session {charge.session_id} is billed by a CDR that is not credited; a correction "
            "is a credit CDR first, then the new CDR"
        )
    return None


def plan_cdrs(
    charges: Sequence[CdrCharge], ledger: Ledger, ids: Sequence[int], rates: Mapping[str, Rates]
) -> CdrPlan:
    """Each new CDR's bill in the order the CPO sent them (a credit after the CDR it credits),
    as if billed one by one; `ids` holds an id for each charge. A CDR billed before (a
    redelivery) makes nothing."""
    rows: list[BillRow] = []
    refused: list[tuple[CdrCharge, str]] = []
    in_order = sorted(charges, key=lambda c: (c.received_at, c.last_updated, c.cdr_id))
    for charge, bill_id in zip(in_order, ids, strict=True):
        if (charge.provider, charge.cdr_id) in ledger.by_cdr:
            continue
        reason = refusal(charge, ledger)
        if reason is not None:
            refused.append((charge, reason))
            continue
        made = (
            _credit(charge, ledger, bill_id)
            if charge.credits
            else _final(charge, bill_id, ledger, rates)
        )
        ledger.heads[(charge.provider, made.session_id)] = made
        ledger.by_cdr[(charge.provider, charge.cdr_id)] = made
        rows.append(_row(charge, made))
    return CdrPlan(rows, refused)


def _final(charge: CdrCharge, bill_id: int, ledger: Ledger, rates: Mapping[str, Rates]) -> Billed:
    """The CDR's final; after a credit, it replaces the final the credit credited."""
    head = ledger.heads.get((charge.provider, charge.session_id))
    replaced = head.refers_to if head is not None and head.kind == "credit" else None
    rated, currency = rates[charge.provider], charge.currency.upper()
    lines = cdr_lines(charge.excl_vat, currency, rated)
    figures = (charge.excl_vat, charge.incl_vat)
    return Billed(bill_id, charge.session_id, "final", currency, lines, rated, figures, replaced)


def _credit(charge: CdrCharge, ledger: Ledger, bill_id: int) -> Billed:
    """The exact negation of the referenced CDR's final; the credit CDR's own totals are
    checked against the negation of that CDR's."""
    final = ledger.by_cdr[(charge.provider, charge.credits or "")]
    final.credited = True
    figures = (charge.excl_vat, charge.incl_vat)
    differs = any(
        ours is not None and theirs is not None and abs(ours + theirs) > MISMATCH_TOLERANCE
        for ours, theirs in zip(figures, final.cpo_figures, strict=True)
    )
    return Billed(bill_id, final.session_id, "credit", final.currency, credit_of(final.lines),
                  final.rates, figures, final.bill_id, mismatch=differs)  # fmt: skip


def _row(charge: CdrCharge, made: Billed) -> BillRow:
    return BillRow(
        made.bill_id, charge.provider, made.session_id, None, charge.cdr_id, "FINISHED",
        made.kind, made.refers_to, None, made.currency, "session", made.lines, made.rates,
        (None, None, None), made.cpo_figures, made.mismatch, None, charge.last_updated,
        charge.received_at,
    )  # fmt: skip


async def read_ledger(conn: Connection | Pool, charges: Sequence[CdrCharge]) -> Ledger:
    """The heads of the charges' sessions and the bills of the CDRs they are or credit."""
    sessions = sorted({(c.provider, c.session_id) for c in charges})
    named = sorted({(c.provider, n) for c in charges for n in (c.cdr_id, c.credits) if n})
    heads = await conn.fetch(HEADS, *columns(sessions))
    billed = await conn.fetch(BILLED_CDRS, *columns(named))
    return Ledger(
        {(r["provider"], r["session_id"]): _billed(r) for r in heads},
        {(r["provider"], r["cdr_id"]): _billed(r) for r in billed},
    )


def _billed(row: Record) -> Billed:
    money = (row["quantity"], row["base"], row["access_fee"], row["subtotal"],
             row["commission"], row["tax"], row["amount"])  # fmt: skip
    credited, cpo = row.get("credited", False), (row.get("cpo_excl_vat"), row.get("cpo_incl_vat"))
    return Billed(row["id"], row["session_id"], row["kind"], row["currency"], Lines(*money),
                  Rates(row["commission_rate"], row["tax_rate"]), cpo, row["refers_to"],
                  credited)  # fmt: skip


async def bill_cdrs(
    conn: Connection, charges: Sequence[CdrCharge], rates: Mapping[str, Rates]
) -> list[tuple[CdrCharge, str]]:
    """Bill the CDRs in the transaction that stores them: four statements, whatever the
    batch's size. The refused back, each with why: the caller stores those nowhere."""
    if not charges:
        return []
    await lock_sessions(conn, {(c.provider, c.session_id) for c in charges})
    ledger = await read_ledger(conn, charges)
    planned = plan_cdrs(charges, ledger, await new_ids(conn, len(charges)), rates)
    await insert_bills(conn, planned.rows)
    return planned.refused


async def cdr_refusal(pool: Pool, charge: CdrCharge) -> str | None:
    """Why a CDR would be refused if it came now (ingest asks before it accepts one)."""
    return refusal(charge, await read_ledger(pool, [charge]))
