"""The books, as a pure function: what a day's finals and credits add up to per provider, which
of the provider's own figures disagree with ours, and a session's bill chain with its billed
total (docs/billing.md#reconciliation).

Only finals and credits are in the books; estimates, zero and incomplete bills are not. Decimal
only: every sum is the database's exact `numeric`, and a sum over nothing is zero at the
currency's minor unit.
"""

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

import msgspec

from chargehook.billing.rules import MISMATCH_TOLERANCE, minor_unit

BillKind = Literal["estimate", "final", "credit", "zero", "incomplete"]
IN_THE_BOOKS = ("final", "credit")
DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # fromisoformat takes more (20260301)


@dataclass(frozen=True)
class Figure:
    """One figure a provider may send, and the line of ours it is compared with."""

    name: str  # as the provider sends it
    theirs: str  # the bills column holding it
    ours: str  # the bills column of our line
    zero_is_sent: bool  # False: a 0 is the page example's placeholder, not a figure


# The page's three (billing.rules.differing_figures: a 0 is not compared) and an OCPI CPO's
# total_cost net of VAT, which is our base: B = q(total_cost.excl_vat).
FIGURES = (
    Figure("amount", "provider_amount", "amount", zero_is_sent=False),
    Figure("commision_price", "provider_commission", "commission", zero_is_sent=False),
    Figure("tax_price", "provider_tax", "tax", zero_is_sent=False),
    Figure("total_cost.excl_vat", "cpo_excl_vat", "base", zero_is_sent=True),
)


class BillSums(msgspec.Struct, kw_only=True):
    """Our money lines added up."""

    amount: Decimal
    commission: Decimal
    tax: Decimal


class FigureSums(msgspec.Struct, kw_only=True):
    """A provider's figure summed over the bills it sent it on, and our line over the same."""

    figure: str
    bills: int
    theirs: Decimal
    ours: Decimal
    difference: Decimal  # theirs - ours


class FigureMismatch(msgspec.Struct, kw_only=True):
    """A figure the provider sent on a bill, more than 0.01 from our line."""

    bill_id: int
    session_id: str
    kind: BillKind
    currency: str
    figure: str
    theirs: Decimal
    ours: Decimal
    difference: Decimal  # theirs - ours


class CurrencyReconciliation(msgspec.Struct, kw_only=True):
    """A provider's finals and credits of the day in one currency."""

    currency: str
    finals: int
    credits: int
    finals_sum: BillSums
    credits_sum: BillSums
    net: BillSums  # finals + credits: what the day billed
    provider_figures: list[FigureSums]  # the figures it sent at least once


class ProviderReconciliation(msgspec.Struct, kw_only=True):
    """A provider's day: its counts, its sums per currency, its mismatches."""

    provider: str
    finals: int
    credits: int
    currencies: list[CurrencyReconciliation]
    mismatches: list[FigureMismatch]


class Reconciliation(msgspec.Struct, kw_only=True):
    """A UTC day's finals and credits, by the day of their billed_at, per provider."""

    day: date  # of billed_at, in UTC
    provider: str | None  # the one asked for, or None for every provider
    providers: list[ProviderReconciliation]


class ChainBill(msgspec.Struct, kw_only=True):
    """One bill of a session's chain, as stored."""

    id: int
    kind: BillKind
    refers_to: int | None  # a credit: the final it credits; a final: the final it replaces
    event_id: str | None
    cdr_id: str | None
    status: str
    reason: str | None
    currency: str
    price_unit: str | None
    quantity: Decimal | None
    base: Decimal | None
    access_fee: Decimal | None
    subtotal: Decimal | None
    commission: Decimal | None
    tax: Decimal | None
    amount: Decimal | None
    commission_rate: Decimal
    tax_rate: Decimal
    provider_amount: Decimal | None
    provider_commission: Decimal | None
    provider_tax: Decimal | None
    cpo_excl_vat: Decimal | None
    cpo_incl_vat: Decimal | None
    mismatch: bool
    billed_at: datetime


class BilledTotal(msgspec.Struct, kw_only=True):
    """A session's finals and credits added up in one currency."""

    currency: str
    amount: Decimal
    commission: Decimal
    tax: Decimal


class BillChain(msgspec.Struct, kw_only=True):
    """A session's bills, and what it is billed: its finals and credits."""

    provider: str
    session_id: str
    bills: list[ChainBill]  # every bill, in id order
    billed_total: list[BilledTotal]  # finals + credits, per currency (one unless corrected)


LEDGER_TYPES = (Reconciliation, BillChain)


@dataclass(frozen=True)
class SentSums:
    """One figure over the bills that sent it: how many, their sum, ours over the same."""

    bills: int
    theirs: Decimal | None
    ours: Decimal | None


@dataclass(frozen=True)
class KindSums:
    """A provider's finals or credits of the day in one currency, as the database summed them."""

    provider: str
    currency: str
    kind: str
    bills: int
    amount: Decimal | None
    commission: Decimal | None
    tax: Decimal | None
    sent: tuple[SentSums, ...]  # one per FIGURES, in its order


@dataclass(frozen=True)
class Difference:
    """A figure a provider sent on a bill that is not equal to our line."""

    provider: str
    bill_id: int
    session_id: str
    kind: BillKind
    currency: str
    figure: str
    theirs: Decimal
    ours: Decimal


def parse_day(text: str | None) -> date:
    """A UTC day as YYYY-MM-DD, strictly; ValueError saying what is wrong."""
    if not text:
        raise ValueError("Expected a date as YYYY-MM-DD (the UTC day of billed_at)")
    if DAY.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass  # the shape of a date, but none (2026-02-30)
    raise ValueError(f"Expected a date as YYYY-MM-DD, got {text!r}")


def is_mismatch(theirs: Decimal, ours: Decimal) -> bool:
    """docs/billing.md: a figure further than 0.01 from ours."""
    return abs(theirs - ours) > MISMATCH_TOLERANCE


def zero(currency: str) -> Decimal:
    return Decimal(0).quantize(minor_unit(currency))


def money(value: Decimal | None, currency: str) -> Decimal:
    return zero(currency) if value is None else value


Lines = tuple[Decimal | None, Decimal | None, Decimal | None]  # amount, commission, tax


def added(currency: str, lines: Iterable[Lines]) -> BillSums:
    amount = commission = tax = zero(currency)
    for line_amount, line_commission, line_tax in lines:
        amount += money(line_amount, currency)
        commission += money(line_commission, currency)
        tax += money(line_tax, currency)
    return BillSums(amount=amount, commission=commission, tax=tax)


def sums_of(rows: Iterable[KindSums], currency: str) -> BillSums:
    return added(currency, ((row.amount, row.commission, row.tax) for row in rows))


def figure_sums(rows: Sequence[KindSums], currency: str) -> list[FigureSums]:
    """Each figure sent at least once, summed over finals and credits alike."""
    found = []
    for index, figure in enumerate(FIGURES):
        sent = [row.sent[index] for row in rows]
        bills = sum(s.bills for s in sent)
        if not bills:
            continue
        theirs = sum((money(s.theirs, currency) for s in sent), zero(currency))
        ours = sum((money(s.ours, currency) for s in sent), zero(currency))
        found.append(FigureSums(
            figure=figure.name, bills=bills, theirs=theirs, ours=ours, difference=theirs - ours
        ))  # fmt: skip
    return found


def currency_day(currency: str, rows: Sequence[KindSums]) -> CurrencyReconciliation:
    finals = [row for row in rows if row.kind == "final"]
    credits = [row for row in rows if row.kind == "credit"]
    return CurrencyReconciliation(
        currency=currency,
        finals=sum(row.bills for row in finals),
        credits=sum(row.bills for row in credits),
        finals_sum=sums_of(finals, currency),
        credits_sum=sums_of(credits, currency),
        net=sums_of(rows, currency),
        provider_figures=figure_sums(rows, currency),
    )


def mismatches(differences: Iterable[Difference]) -> list[FigureMismatch]:
    """The differences beyond the tolerance, by bill id and then in FIGURES' order."""
    order = {figure.name: index for index, figure in enumerate(FIGURES)}
    kept = sorted(
        (d for d in differences if is_mismatch(d.theirs, d.ours)),
        key=lambda d: (d.bill_id, order.get(d.figure, len(order))),
    )
    return [
        FigureMismatch(
            bill_id=d.bill_id, session_id=d.session_id, kind=d.kind, currency=d.currency,
            figure=d.figure, theirs=d.theirs, ours=d.ours, difference=d.theirs - d.ours,
        )
        for d in kept
    ]  # fmt: skip


def provider_day(
    provider: str, rows: Sequence[KindSums], differences: Sequence[Difference]
) -> ProviderReconciliation:
    currencies = [
        currency_day(currency, [row for row in rows if row.currency == currency])
        for currency in sorted({row.currency for row in rows})
    ]
    return ProviderReconciliation(
        provider=provider,
        finals=sum(c.finals for c in currencies),
        credits=sum(c.credits for c in currencies),
        currencies=currencies,
        mismatches=mismatches(d for d in differences if d.provider == provider),
    )


def reconciliation(
    day: date, provider: str | None, sums: Sequence[KindSums], differences: Sequence[Difference]
) -> Reconciliation:
    """The day's report: every provider with a final or a credit that day, by name."""
    rows = [row for row in sums if row.kind in IN_THE_BOOKS]
    names = sorted({row.provider for row in rows})
    return Reconciliation(
        day=day,
        provider=provider,
        providers=[
            provider_day(name, [row for row in rows if row.provider == name], differences)
            for name in names
        ],
    )


def billed_totals(bills: Sequence[ChainBill]) -> list[BilledTotal]:
    """A session's finals and credits added up per currency, in the order each first came."""
    booked = [bill for bill in bills if bill.kind in IN_THE_BOOKS]
    totals = []
    for currency in dict.fromkeys(bill.currency for bill in booked):
        lines = ((b.amount, b.commission, b.tax) for b in booked if b.currency == currency)
        total = added(currency, lines)
        totals.append(BilledTotal(
            currency=currency, amount=total.amount, commission=total.commission, tax=total.tax
        ))  # fmt: skip
    return totals


def bill_chain(provider: str, session_id: str, bills: Sequence[ChainBill]) -> BillChain | None:
    """The chain with its billed total; None for a session without a bill."""
    if not bills:
        return None
    ordered = sorted(bills, key=lambda bill: bill.id)
    return BillChain(
        provider=provider,
        session_id=session_id,
        bills=ordered,
        billed_total=billed_totals(ordered),
    )
