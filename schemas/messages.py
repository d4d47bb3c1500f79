"""What chargehook itself puts on the wire: broker envelopes and HTTP answers."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

import msgspec

from chargehook.schemas.session import Status

SCHEMA_VERSION = "1"


class Envelope(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One accepted event on `chargehook.events`; `session` is the provider's item verbatim.

    `origin` is "ocpi" for a Session merged by the ocpi worker, which billing prices by OCPI's
    rules (docs/billing.md#ocpi-sessions-and-cdrs); a provider's callback cannot set it.
    """

    event_id: str
    provider: str
    received_at: datetime
    session: msgspec.Raw
    origin: Literal["callback", "ocpi"] = "callback"


PushKind = Literal["session_put", "session_patch", "cdr"]


class OcpiPush(msgspec.Struct, kw_only=True):
    """One accepted OCPI push on `chargehook.events`, routing key `ocpi.<kind>.<cpo>`
    (docs/broker.md): a Session PUT or PATCH, or a CDR; `body` is the CPO's object verbatim."""

    push_id: str  # the same push from the same CPO always gets the same id
    cpo: str  # the registered provider whose token C pushed it
    kind: PushKind
    country_code: str  # upper case, from the URL, equal to the body's where the body has one
    party_id: str
    object_id: str  # the Session's id, or the CDR's
    last_updated: datetime
    received_at: datetime
    body: msgspec.Raw


class ProviderFigures(msgspec.Struct, kw_only=True):
    """What the provider itself sent, kept beside chargehook's bill."""

    amount: Decimal | None = None
    commision_price: Decimal | None = None
    tax_price: Decimal | None = None


BillKind = Literal["final", "estimate", "credit", "zero", "incomplete"]


class Billing(msgspec.Struct, kw_only=True):
    """A bill of the ledger (docs/billing.md#the-ledger): a final, the credit of one, a running
    estimate, zero, or incomplete with the reason.

    Money has exactly the currency's minor-unit digits; the lines add up to `amount`. A credit
    and a final that replaces another name the final they credit or replace in `refers_to`.
    """

    kind: BillKind
    event_id: str | None  # None for a bill made from an OCPI CDR, named by `cdr_id`
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
    reason: str | None = None
    provider_figures: ProviderFigures | None = None
    mismatch: bool = False
    bill_id: int | None = None
    refers_to: int | None = None
    cdr_id: str | None = None


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
    billing: Billing | None


class DeadLetter(msgspec.Struct, kw_only=True):
    """A message in a dead-letter queue, as `chargehook dead list` and the admin API show it."""

    queue: str  # the work queue it came from, where a replay puts it back
    message_id: str | None
    reason: str
    dead_at: str | None  # ISO 8601 UTC; None for one RabbitMQ itself dead-lettered
    headers: dict[str, str]
    body: str  # as text, for an operator to read


class DeadLetterQueue(msgspec.Struct, kw_only=True):
    """A work queue and the queue its dead letters wait in."""

    queue: str
    dead_letter_queue: str


class DeadLetterPick(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Which dead letters to replay or drop: these message ids, or all of them."""

    ids: list[str] | None = None
    all: bool = False


class Settled(msgspec.Struct, kw_only=True):
    count: int
