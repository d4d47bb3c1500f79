"""The billed event on `chargehook.billed`: its wire type, and the one way it is written
(by billing) and read back (by the notify fan-out), so the two sides cannot drift apart."""

from datetime import datetime

import msgspec

from chargehook.schemas.messages import Billing, Envelope
from chargehook.schemas.session import Session


class BilledEnvelope(msgspec.Struct, kw_only=True):
    """One event on `chargehook.billed`: the item with `amount`, `commision_price`, `tax_price`."""

    event_id: str
    provider: str
    received_at: datetime
    session: msgspec.Raw
    billing: Billing


# Top-level fields as raw JSON text: three are replaced, every other one is copied as it came.
item_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
encoder = msgspec.json.Encoder(decimal_format="number")
billed_decoder = msgspec.json.Decoder(BilledEnvelope)
session_decoder = msgspec.json.Decoder(Session)


CORRECTION = "correction"  # the extension field of a corrected session (docs/delivery.md)


def encode_billed(accepted: Envelope, billing: Billing) -> bytes:
    """The accepted event with its bill; the item's money fields carry the session's billed
    total after that bill (a credit leaves nothing: 0), null when the bill is incomplete. A bill
    that credits or replaces a final says so in the item's `correction` field."""
    item = item_decoder.decode(accepted.session)
    for name, value in (
        ("amount", billing.amount),
        ("commision_price", billing.commission),
        ("tax_price", billing.tax),
    ):
        total = value - value if value is not None and billing.kind == "credit" else value
        item[name] = msgspec.Raw(encoder.encode(total))
    if billing.refers_to is not None:
        named = "credits" if billing.kind == "credit" else "replaces"
        correction = {"bill_id": billing.bill_id, named: billing.refers_to}
        item[CORRECTION] = msgspec.Raw(encoder.encode(correction))
    billed = BilledEnvelope(
        event_id=accepted.event_id,
        provider=accepted.provider,
        received_at=accepted.received_at,
        session=msgspec.Raw(encoder.encode(item)),
        billing=billing,
    )
    return encoder.encode(billed)


def decode_billed(body: bytes) -> tuple[BilledEnvelope, Session]:
    """A billed event and its item decoded; msgspec.MsgspecError when `body` is not one."""
    envelope = billed_decoder.decode(body)
    return envelope, session_decoder.decode(envelope.session)
