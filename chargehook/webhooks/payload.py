"""What a subscriber receives: the page's shape, a JSON array of session objects with billing
filled in, each session's `position` and the `registered_provider` that sent it added
(docs/delivery.md#the-request)."""

from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from chargehook.plumbing.errors import RejectMessage
from chargehook.schemas import BilledEnvelope, Session
from chargehook.schemas.billed import decode_billed
from chargehook.sessions.order import order_key, position

# Top-level fields as raw JSON text: two are added, every other field copied as it came.
item_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
encoder = msgspec.json.Encoder(decimal_format="number")


@dataclass(frozen=True)
class BilledEvent:
    """A billed event as the fan-out holds it, with its session's position."""

    envelope: BilledEnvelope
    session: Session
    position: str


def read_billed(body: bytes) -> BilledEvent:
    """Decode a message of `chargehook.billed`; RejectMessage if it can never be processed."""
    try:
        envelope, session = decode_billed(body)
    except msgspec.MsgspecError as exc:
        raise RejectMessage(f"not a valid billed event: {exc}") from None
    key = order_key(session.status, session.updatedAt, envelope.received_at, envelope.event_id)
    return BilledEvent(envelope, session, position(key))


REGISTERED_PROVIDER = "registered_provider"


def item_payload(billed: BilledEvent) -> bytes:
    """One session object of a request: the billed item with its position and the name of the
    provider whose token posted it, which the item's own free `provider` field is not."""
    item = item_decoder.decode(billed.envelope.session)
    item["position"] = msgspec.Raw(encoder.encode(billed.position))
    item[REGISTERED_PROVIDER] = msgspec.Raw(encoder.encode(billed.envelope.provider))
    return encoder.encode(item)


def request_body(items: Sequence[bytes]) -> bytes:
    """The request's body: its session objects, oldest position first, as one JSON array."""
    return b"[" + b",".join(items) + b"]"
