"""The billed event on `chargehook.billed` as billing publishes it; its wire format is
chargehook.schemas.billed."""

from chargehook.plumbing.broker import OutboundMessage
from chargehook.schemas import Billing
from chargehook.schemas.billed import encode_billed
from chargehook.sessions.events import SessionEvent, event_headers


def billed_message(event: SessionEvent, billing: Billing) -> OutboundMessage:
    """The event billed, with the same message id and headers as the event it bills."""
    e = event.envelope
    headers = event_headers(event.session.status, e.provider)
    return OutboundMessage(encode_billed(e, billing), e.event_id, headers)
