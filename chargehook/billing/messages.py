"""The billed event on `chargehook.billed`: the provider's item with our figures filled in."""

import msgspec

from chargehook.plumbing.broker import OutboundMessage
from chargehook.schemas import BilledEnvelope, Billing
from chargehook.sessions.events import SessionEvent, event_headers

# Top-level fields as raw JSON text: three are replaced, every other one is copied as it came.
item_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
encoder = msgspec.json.Encoder(decimal_format="number")


def billed_message(event: SessionEvent, billing: Billing) -> OutboundMessage:
    """The page's money fields carry our figures; null when the bill is incomplete."""
    e = event.envelope
    item = item_decoder.decode(e.session)
    for name, value in (
        ("amount", billing.amount),
        ("commision_price", billing.commission),
        ("tax_price", billing.tax),
    ):
        item[name] = msgspec.Raw(encoder.encode(value))
    billed = BilledEnvelope(
        event_id=e.event_id,
        provider=e.provider,
        received_at=e.received_at,
        session=msgspec.Raw(encoder.encode(item)),
        billing=billing,
    )
    headers = event_headers(event.session.status, e.provider)
    return OutboundMessage(encoder.encode(billed), e.event_id, headers)
