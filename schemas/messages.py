"""What chargehook itself puts on the wire: broker envelopes and HTTP answers."""

from datetime import datetime

import msgspec

from schemas.session import Status

SCHEMA_VERSION = "1"


class Envelope(msgspec.Struct, kw_only=True):
    """One accepted event on `chargehook.events`; `session` is the provider's item verbatim."""

    event_id: str
    provider: str
    received_at: datetime
    session: msgspec.Raw


class ErrorBody(msgspec.Struct):
    """Every 4xx/5xx answer, in the webhook page's error shape."""

    statusCode: int
    message: str
    error: str


class Accepted(msgspec.Struct):
    """The answer to `POST /v1/sessions` once the broker confirmed every message."""

    accepted: int
    event_ids: list[str]


class StoredEvent(msgspec.Struct, kw_only=True):
    """One entry of a session's history, as the admin API reads it back."""

    event_id: str
    status: Status
    received_at: datetime
    updated_at: datetime
    session: msgspec.Raw


class SessionState(msgspec.Struct, kw_only=True):
    """A session's current state: the greatest of its events by the persist order."""

    provider: str
    id: str
    status: Status
    event_id: str
    updated_at: datetime
    events: int
    session: msgspec.Raw
