"""A session event on the broker: its routing key and headers, and how workers read it back.

Ingest publishes every accepted event this way on `chargehook.events`; billing republishes it,
billed, on `chargehook.billed` with the same key and headers (docs/broker.md).
"""

from dataclasses import dataclass
from datetime import datetime

import msgspec

from chargehook.plumbing.errors import RejectMessage
from chargehook.schemas import SCHEMA_VERSION, Envelope, Session
from chargehook.sessions.order import OrderKey, order_key

envelope_decoder = msgspec.json.Decoder(Envelope)
session_decoder = msgspec.json.Decoder(Session)


def routing_key(status: str, provider: str) -> str:
    return f"session.{status.lower()}.{provider.lower()}"


def event_headers(status: str, provider: str) -> dict[str, str]:
    return {"status": status, "provider": provider, "schema_version": SCHEMA_VERSION}


@dataclass(frozen=True)
class SessionEvent:
    """One accepted event as a worker holds it: the envelope, the item decoded, its order key."""

    envelope: Envelope
    session: Session
    key: OrderKey

    @property
    def provider(self) -> str:
        return self.envelope.provider

    @property
    def event_id(self) -> str:
        return self.envelope.event_id

    @property
    def received_at(self) -> datetime:
        return self.envelope.received_at

    @property
    def body(self) -> str:
        """The provider's item verbatim, as JSON text."""
        return bytes(self.envelope.session).decode()

    @property
    def log_context(self) -> dict[str, str]:
        return {"provider": self.provider, "session_id": self.session.id, "event_id": self.event_id}


def read_event(body: bytes) -> SessionEvent:
    """Decode a message of `chargehook.events`; RejectMessage if it can never be processed."""
    try:
        envelope = envelope_decoder.decode(body)
        session = session_decoder.decode(envelope.session)
    except msgspec.MsgspecError as exc:
        raise RejectMessage(f"not a valid session event: {exc}") from None
    key = order_key(session.status, session.updatedAt, envelope.received_at, envelope.event_id)
    return SessionEvent(envelope, session, key)
