"""The bills ledger as it is read out (docs/billing.md#export): one bill, a line of the export
and an item of `GET /v1/bills`, and a page of them."""

from datetime import datetime
from decimal import Decimal
from typing import get_args

import msgspec

from chargehook.schemas.messages import BillKind

BILL_KINDS: tuple[BillKind, ...] = get_args(BillKind)


class StoredBill(msgspec.Struct):
    """One row of `bills`, every column but `inputs`, in the export's column order.

    Money keeps the digits stored; a credit's lines are negative. A bill made from an OCPI CDR
    has no `event_id` and names its `cdr_id`. Positional, so a row builds it in column order.
    """

    id: int
    provider: str
    session_id: str
    event_id: str | None
    cdr_id: str | None
    status: str
    kind: BillKind
    refers_to: int | None  # a credit: the final it credits; a final: the final it replaces
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
    provider_amount: Decimal | None  # a page-shaped provider's own figures
    provider_commission: Decimal | None
    provider_tax: Decimal | None
    cpo_excl_vat: Decimal | None  # an OCPI CPO's own total_cost
    cpo_incl_vat: Decimal | None
    mismatch: bool
    updated_at: datetime
    received_at: datetime
    billed_at: datetime


class BillsPage(msgspec.Struct, kw_only=True):
    """GET /v1/bills: bills by (billed_at, id), and the `after` of the next page."""

    bills: list[StoredBill]
    next: str | None  # null on the last page
