"""The billed event's wire format (chargehook.schemas.billed): what billing writes, the notify
fan-out reads back as written."""

from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest

from chargehook.plumbing.errors import RejectMessage
from chargehook.schemas import Billing, Envelope
from chargehook.schemas.billed import decode_billed, encode_billed
from chargehook.webhooks.payload import item_payload, read_billed

ITEM = (
    b'{"id":"s-1","status":"FINISHED","amount":  99.9,"tax_price":null,'
    b'"updatedAt":"2026-03-01T11:20:00+01:00","note":"kept \\u00e9"}'
)
ACCEPTED = Envelope(
    event_id="evt_1",
    provider="acme",
    received_at=datetime(2026, 3, 1, 12, tzinfo=UTC),
    session=msgspec.Raw(ITEM),
)


def bill(amount: Decimal | None, commission: Decimal | None, tax: Decimal | None) -> Billing:
    return Billing(
        kind="final" if amount is not None else "incomplete", event_id="evt_1",
        currency="EUR", price_unit="kwh", quantity=None, base=None, access_fee=None,
        subtotal=None, commission=commission, tax=tax, amount=amount,
        commission_rate=Decimal("0.10"), tax_rate=Decimal("0.21"),
    )  # fmt: skip


@pytest.mark.parametrize(
    "billing",
    [bill(Decimal("14.25"), Decimal("1.07"), Decimal("2.47")), bill(None, None, None)],
    ids=["final", "incomplete"],
)
def test_a_billed_event_reads_back_with_our_figures_in_its_item(billing: Billing) -> None:
    envelope, session = decode_billed(encode_billed(ACCEPTED, billing))
    assert envelope.billing == billing
    assert (envelope.event_id, envelope.provider) == (ACCEPTED.event_id, ACCEPTED.provider)
    assert envelope.received_at == ACCEPTED.received_at
    figures = (session.amount, session.commision_price, session.tax_price)
    assert figures == (billing.amount, billing.commission, billing.tax)
    assert msgspec.json.decode(envelope.session)["note"] == "kept é"


def test_the_fan_out_delivers_the_item_as_billing_wrote_it_with_its_position() -> None:
    billed = read_billed(encode_billed(ACCEPTED, bill(Decimal("14.25"), None, None)))
    assert billed.position == "1|2026-03-01T10:20:00.000000Z|2|evt_1"
    delivered = msgspec.json.decode(item_payload(billed))
    assert delivered["amount"] == 14.25
    assert delivered["registered_provider"] == "acme"


def test_what_is_not_a_billed_event_is_rejected() -> None:
    with pytest.raises(RejectMessage):
        read_billed(msgspec.json.encode(ACCEPTED))  # an event not billed yet
