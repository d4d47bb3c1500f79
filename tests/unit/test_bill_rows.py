"""A stored bill read back (billing.store.billing_from_row): money keeps the stored digits."""

from decimal import Decimal
from typing import Any

import msgspec

from chargehook.billing.store import billing_from_row


def row(**money: Decimal | None) -> dict[str, Any]:
    zero = Decimal("0")
    return {
        "id": 1, "kind": "final", "event_id": "e1", "currency": "JPY", "price_unit": "session",
        "quantity": Decimal("1"), "base": zero, "access_fee": zero, "subtotal": zero,
        "commission": zero, "tax": zero, "amount": zero, "commission_rate": Decimal("0.1"),
        "tax_rate": Decimal("0.21"), "reason": None, "provider_amount": None,
        "provider_commission": None, "provider_tax": None, "mismatch": False,
        "refers_to": None, "cdr_id": None, **money,
    }  # fmt: skip


def test_a_round_amount_read_as_an_exponent_is_written_with_its_digits() -> None:
    """asyncpg reads numeric 10000 as Decimal('1E+4'); the wire wants 10000."""
    billing = billing_from_row(row(amount=Decimal("1E+4"), provider_amount=Decimal("2E+3")))
    encoded = msgspec.json.Encoder(decimal_format="number").encode(billing)
    assert b'"amount":10000' in encoded and b'"amount":2000' in encoded
    assert billing.amount == Decimal(10000) and str(billing.amount) == "10000"
