"""billing: a bill for every event, a final bill once per session, the billed event published.

The bill commits before the billed event is published and the message is acked after the
publish was confirmed; a redelivery finds the stored bill and publishes the same figures again.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import msgspec
import structlog

from chargehook.billing.rules import Bill, Rates, bill
from chargehook.billing.store import COLUMNS, billing_from_row
from chargehook.plumbing.broker import (
    BILLED_EXCHANGE,
    EVENTS_EXCHANGE,
    Broker,
    Inbound,
    OutboundMessage,
    QueueSpec,
    routing_key,
)
from chargehook.plumbing.database import Connection, Pool
from chargehook.plumbing.errors import RejectMessage
from chargehook.plumbing.metrics import Metrics
from chargehook.schemas import SCHEMA_VERSION, BilledEnvelope, Billing, Envelope, Session

QUEUE = QueueSpec("chargehook.billing", EVENTS_EXCHANGE)
MISMATCH_TOLERANCE = Decimal("0.01")
log = structlog.get_logger("chargehook.billing")
envelope_decoder = msgspec.json.Decoder(Envelope)
session_decoder = msgspec.json.Decoder(Session)
item_decoder = msgspec.json.Decoder(dict[str, object], float_hook=Decimal)
encoder = msgspec.json.Encoder(decimal_format="number")

RATES = "SELECT name, commission_rate, tax_rate FROM providers WHERE name = ANY($1::text[])"
FINAL = f"SELECT {COLUMNS} FROM bills WHERE provider = $1 AND session_id = $2 AND kind = 'final'"
OWN = f"SELECT {COLUMNS} FROM bills WHERE provider = $1 AND event_id = $2"
INSERT = f"""
INSERT INTO bills (provider, session_id, event_id, status, kind, reason, currency, price_unit,
    quantity, base, access_fee, subtotal, commission, tax, amount, commission_rate, tax_rate,
    provider_amount, provider_commission, provider_tax, mismatch, updated_at, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23)
ON CONFLICT DO NOTHING
RETURNING {COLUMNS}
"""


@dataclass(frozen=True)
class Event:
    envelope: Envelope
    session: Session

    @property
    def log_context(self) -> dict[str, str]:
        e = self.envelope
        return {"provider": e.provider, "session_id": self.session.id, "event_id": e.event_id}


def read_event(body: bytes) -> Event:
    try:
        envelope = envelope_decoder.decode(body)
        return Event(envelope, session_decoder.decode(envelope.session))
    except msgspec.MsgspecError as exc:
        raise RejectMessage(f"not a valid session event: {exc}") from None


@dataclass
class BillingWorker:
    pool: Pool
    broker: Broker
    metrics: Metrics
    prefetch: int
    batch_size: int
    name: str = "billing"
    queue: QueueSpec = QUEUE

    def decode(self, message: Inbound) -> Event:
        return read_event(message.body)

    async def handle(self, batch: Sequence[Event]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            rates = await provider_rates(conn, {event.envelope.provider for event in batch})
            billed = [(event, await self.bill_once(conn, event, rates)) for event in batch]
        # Confirms pipelined, not one round trip each; all must be confirmed before the ack.
        await asyncio.gather(
            *(
                self.broker.publish(
                    BILLED_EXCHANGE,
                    routing_key(event.session.status, event.envelope.provider),
                    billed_message(event, billing),
                    mandatory=False,  # nobody bound to chargehook.billed yet is no reason to fail
                )
                for event, billing in billed
            )
        )

    async def bill_once(self, conn: Connection, event: Event, rates: dict[str, Rates]) -> Billing:
        """The figures this event carries: the session's final bill once there is one."""
        e, session = event.envelope, event.session
        final = await conn.fetchrow(FINAL, e.provider, session.id)
        if final is not None:
            return billing_from_row(final)
        own = await conn.fetchrow(OWN, e.provider, e.event_id)
        if own is not None:
            return billing_from_row(own)
        computed = bill(session, rates.get(e.provider, Rates()))
        mismatch = self.reconcile(event, computed)
        inserted = await conn.fetchrow(INSERT, *bill_row(event, computed, mismatch))
        if inserted is None:  # another worker billed this session's final or this event first
            inserted = await conn.fetchrow(FINAL, e.provider, session.id) or await conn.fetchrow(
                OWN, e.provider, e.event_id
            )
        assert inserted is not None  # a conflict means the winning row exists
        log.info("billed", kind=computed.kind, reason=computed.reason, **event.log_context)
        return billing_from_row(inserted)

    def reconcile(self, event: Event, computed: Bill) -> bool:
        """Compare the provider's own non-zero figures with ours; log and count a difference."""
        if computed.lines is None:
            return False
        session, lines = event.session, computed.lines
        pairs = {
            "amount": (session.amount, lines.amount),
            "commision_price": (session.commision_price, lines.commission),
            "tax_price": (session.tax_price, lines.tax),
        }
        differing = {
            name: {"provider": str(theirs), "chargehook": str(ours)}
            for name, (theirs, ours) in pairs.items()
            if theirs and abs(theirs - ours) > MISMATCH_TOLERANCE
        }
        if differing:
            log.warning("provider figures differ", lines=differing, **event.log_context)
            self.metrics.inc(
                "chargehook_billing_mismatches_total", provider=event.envelope.provider
            )
        return bool(differing)


async def provider_rates(conn: Connection, providers: set[str]) -> dict[str, Rates]:
    rows = await conn.fetch(RATES, sorted(providers))
    return {row["name"]: Rates(row["commission_rate"], row["tax_rate"]) for row in rows}


def bill_row(event: Event, computed: Bill, mismatch: bool) -> tuple[object, ...]:
    e, s, lines = event.envelope, event.session, computed.lines
    money = (lines.quantity, *lines.money) if lines else (None,) * 7
    return (
        e.provider, s.id, e.event_id, s.status, computed.kind, computed.reason, computed.currency,
        s.price_unit, *money, computed.rates.commission, computed.rates.tax, s.amount,
        s.commision_price, s.tax_price, mismatch, s.updatedAt or e.received_at, e.received_at,
    )  # fmt: skip


def billed_message(event: Event, billing: Billing) -> OutboundMessage:
    """The provider's item with our figures in the page's fields; null when incomplete."""
    e = event.envelope
    item = item_decoder.decode(e.session)
    item.update(amount=billing.amount, commision_price=billing.commission, tax_price=billing.tax)
    billed = BilledEnvelope(
        event_id=e.event_id,
        provider=e.provider,
        received_at=e.received_at,
        session=msgspec.Raw(encoder.encode(item)),
        billing=billing,
    )
    headers = {
        "status": event.session.status,
        "provider": e.provider,
        "schema_version": SCHEMA_VERSION,
    }
    return OutboundMessage(encoder.encode(billed), e.event_id, headers)
