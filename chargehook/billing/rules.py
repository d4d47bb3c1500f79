"""docs/billing.md as a pure function: a session event and the provider's rates in, a bill out.

Decimal only, ROUND_HALF_UP to the currency's minor unit, every line of the formula. Nothing is
invented: a bill whose inputs are missing is incomplete, with the reason.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any, Literal

import msgspec

from chargehook.providers.rules import Rates
from chargehook.schemas import Session
from chargehook.sessions.order import OrderKey

# ISO 4217 currencies whose minor unit is not 2 places; every other code (and an unknown one) is 2.
MINOR_UNITS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3, "CLF": 4, "UYW": 4,
}  # fmt: skip
# A provider's own figure further than this from ours marks the bill a mismatch.
MISMATCH_TOLERANCE = Decimal("0.01")
ENERGY_STEP = Decimal("0.001")  # per started Wh
ZERO_STATUSES = frozenset(
    {"ORDER_INIT_AND_WAITING", "NOT_PLUGGED", "INTERNAL_ERROR", "PROVIDER_ERROR"}
)
ERROR_STATUSES = frozenset({"INTERNAL_ERROR", "PROVIDER_ERROR"})

Kind = Literal["final", "estimate", "credit", "zero", "incomplete"]


@dataclass(frozen=True)
class Lines:
    """The money lines of a bill; `amount` is their sum, never rounded again."""

    quantity: Decimal
    base: Decimal
    access_fee: Decimal
    subtotal: Decimal
    commission: Decimal
    tax: Decimal
    amount: Decimal

    @property
    def money(self) -> tuple[Decimal, ...]:
        return (self.base, self.access_fee, self.subtotal, self.commission, self.tax, self.amount)


@dataclass(frozen=True)
class Bill:
    kind: Kind
    currency: str
    rates: Rates
    lines: Lines | None  # None when incomplete
    reason: str | None = None  # why incomplete, or why flagged for review


def minor_unit(currency: str | None) -> Decimal:
    places = MINOR_UNITS.get((currency or "").upper(), 2)
    return Decimal(1).scaleb(-places)


def q(amount: Decimal, unit: Decimal) -> Decimal:
    return amount.quantize(unit, rounding=ROUND_HALF_UP)


def ceil_to(amount: Decimal, step: Decimal) -> Decimal:
    return (amount / step).to_integral_value(rounding=ROUND_CEILING) * step


def started_minutes(start: datetime, end: datetime) -> Decimal:
    """Whole seconds between start and end (floored), then per started minute."""
    elapsed = end - start
    seconds = elapsed.days * 86_400 + elapsed.seconds  # integers: no float on the way
    return Decimal(-(-seconds // 60))


def access_price(session: Session) -> Decimal:
    """accessPrice of the details holding the session's physical plug; the only one's; else 0."""
    details = (session.charger.chargerDetails if session.charger else None) or []
    plug = session.physicalPlugs.id_ if session.physicalPlugs else None
    for entry in details:
        plugs = [p for logic in entry.plugs or [] for p in logic.physicalPlugs or []]
        if plug is not None and any(p.id_ == plug for p in plugs):
            return entry.accessPrice or Decimal(0)
    if len(details) == 1:
        return details[0].accessPrice or Decimal(0)
    return Decimal(0)


def quantity_and_base(session: Session, unit: Decimal) -> tuple[Decimal, Decimal] | str:
    """(quantity, B) by price_unit, or the reason it cannot be computed."""
    price_unit, price = session.price_unit, session.plug_price
    if price_unit is None:
        return "price_unit missing"
    if price_unit == "free":
        return Decimal(0), q(Decimal(0), unit)
    if price is None:
        return "plug_price missing"
    if price_unit == "session":
        return Decimal(1), q(price, unit)
    if price_unit == "kwh":
        if session.charged_kwh is None:
            return "charged_kwh missing for a kwh price"
        energy = ceil_to(session.charged_kwh, ENERGY_STEP)
        return energy, q(price * energy, unit)
    minutes = _minutes(session)
    if isinstance(minutes, str):
        return minutes
    return minutes, q(price * minutes if price_unit == "minute" else price * minutes / 60, unit)


def _minutes(session: Session) -> Decimal | str:
    end = session.updatedAt if session.status == "IN_PROGRESS" else session.finished
    if session.started is None:
        return "started missing for a time price"
    if end is None:
        return (
            "updatedAt missing for a running estimate"
            if session.status == "IN_PROGRESS"
            else "finished missing for a time price"
        )
    if end < session.started:
        return "the end of the charge is before its start"
    return started_minutes(session.started, end)


def lines_for(session: Session, rates: Rates, unit: Decimal) -> Lines | str:
    priced = quantity_and_base(session, unit)
    if isinstance(priced, str):
        return priced
    quantity, base = priced
    return with_fees(quantity, base, q(access_price(session), unit), rates, unit)


def with_fees(
    quantity: Decimal, base: Decimal, access_fee: Decimal, rates: Rates, unit: Decimal
) -> Lines:
    """Steps 3 to 6 of the formula: the subtotal, the commission, the tax and the amount."""
    subtotal = base + access_fee
    commission = q(subtotal * rates.commission, unit)
    tax = q((subtotal + commission) * rates.tax, unit)
    return Lines(quantity, base, access_fee, subtotal, commission, tax, subtotal + commission + tax)


def cdr_lines(excl_vat: Decimal, currency: str, rates: Rates) -> Lines:
    """A CDR's final (docs/billing.md#ocpi-sessions-and-cdrs): B = q(total_cost.excl_vat),
    A = 0 (the CPO's total holds its fees), then the formula."""
    unit = minor_unit(currency)
    return with_fees(Decimal(1), q(excl_vat, unit), q(Decimal(0), unit), rates, unit)


def credit_of(final: Lines) -> Lines:
    """The exact negation of a final, line by line (a zero stays 0.00): a correction credits
    the old final and makes a new one."""
    return Lines(*(_negated(line) for line in astuple(final)))


def _negated(line: Decimal) -> Decimal:
    return -line if line else abs(line)  # never -0.00


def inputs_of(session: Session) -> str:
    """What a page-shaped final is computed from, as one text: P, u, E, D, A0 and the currency
    (docs/billing.md#corrections). Numbers are normalised, so 0.45 and 0.450 are the same."""
    end = session.updatedAt if session.status == "IN_PROGRESS" else session.finished
    seconds = None
    if session.started is not None and end is not None:
        elapsed = end - session.started
        seconds = elapsed.days * 86_400 + elapsed.seconds
    values = (
        _number(session.plug_price), session.price_unit, _number(session.charged_kwh),
        seconds, _number(access_price(session)), (session.currency or "").upper(),
    )  # fmt: skip
    return msgspec.json.encode(values).decode()


def _number(value: Decimal | None) -> str | None:
    return None if value is None else str(value.normalize())


def zero_lines(unit: Decimal) -> Lines:
    zero = q(Decimal(0), unit)
    return Lines(Decimal(0), zero, zero, zero, zero, zero, zero)


def has_energy(session: Session) -> bool:
    return session.charged_kwh is not None and session.charged_kwh > 0


def bill(session: Session, rates: Rates) -> Bill:
    """The bill of one event, by docs/billing.md's 'Which events are billed'."""
    unit = minor_unit(session.currency)
    currency = (session.currency or "").upper()
    billable = session.status in ("FINISHED", "IN_PROGRESS") or (
        session.status == "PAYMENT_ERROR" and has_energy(session)
    )
    if not billable:
        review = (
            "error with energy delivered"
            if session.status in ERROR_STATUSES and has_energy(session)
            else None
        )
        return Bill("zero", currency, rates, zero_lines(unit), review)
    computed = lines_for(session, rates, unit)
    if isinstance(computed, str):
        return Bill("incomplete", currency, rates, None, computed)
    return Bill(
        "estimate" if session.status == "IN_PROGRESS" else "final", currency, rates, computed
    )


def differing_figures(session: Session, lines: Lines) -> dict[str, tuple[Decimal, Decimal]]:
    """The page's money fields where the provider sent a non-zero figure that differs from ours
    by more than MISMATCH_TOLERANCE: name -> (theirs, ours)."""
    pairs = {
        "amount": (session.amount, lines.amount),
        "commision_price": (session.commision_price, lines.commission),
        "tax_price": (session.tax_price, lines.tax),
    }
    return {
        name: (theirs, ours)
        for name, (theirs, ours) in pairs.items()
        if theirs and abs(theirs - ours) > MISMATCH_TOLERANCE
    }


def bill_to_show(
    bills: Sequence[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], OrderKey]
) -> Mapping[str, Any] | None:
    """A session's bill as the admin API shows it: its head (the uncredited final, else the
    latest credit); before it has one, the bill of its latest event by the session order."""
    credited = {b["refers_to"] for b in bills if b["kind"] == "credit"}
    finals = [b for b in bills if b["kind"] == "final" and b["id"] not in credited]
    credits = [b for b in bills if b["kind"] == "credit"]
    if finals or credits:
        return max(finals or credits, key=lambda b: int(b["id"]))
    return max(bills, key=key, default=None)
