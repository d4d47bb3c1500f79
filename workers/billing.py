"""billing: a bill for every event, a final bill once per session, the billed event published.

The bill commits before the billed event is published and the message is acked after the
publish was confirmed; a redelivery finds the stored bill and publishes the same figures again.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from chargehook.billing.messages import billed_message
from chargehook.billing.rules import Lines, bill, differing_figures
from chargehook.billing.store import insert_bill, stored_bill
from chargehook.plumbing.broker import BILLED_EXCHANGE, EVENTS_EXCHANGE, Broker, Inbound, QueueSpec
from chargehook.plumbing.database import Connection, Pool
from chargehook.plumbing.metrics import Metrics
from chargehook.providers.rules import Rates
from chargehook.providers.store import rates_of
from chargehook.schemas import Billing
from chargehook.sessions.events import SessionEvent, read_event, routing_key

QUEUE = QueueSpec("chargehook.billing", EVENTS_EXCHANGE)
log = structlog.get_logger("chargehook.billing")


@dataclass
class BillingWorker:
    pool: Pool
    broker: Broker
    metrics: Metrics
    prefetch: int
    batch_size: int
    name: str = "billing"
    queue: QueueSpec = QUEUE

    def decode(self, message: Inbound) -> SessionEvent:
        return read_event(message.body)

    async def handle(self, batch: Sequence[SessionEvent]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            rates = await rates_of(conn, {event.provider for event in batch})
            billed = [(event, await self.bill_once(conn, event, rates)) for event in batch]
        # Confirms pipelined, not one round trip each; all must be confirmed before the ack.
        await asyncio.gather(
            *(
                self.broker.publish(
                    BILLED_EXCHANGE,
                    routing_key(event.session.status, event.provider),
                    billed_message(event, billing),
                    mandatory=False,  # nobody bound to chargehook.billed yet is no reason to fail
                )
                for event, billing in billed
            )
        )

    async def bill_once(
        self, conn: Connection, event: SessionEvent, rates: dict[str, Rates]
    ) -> Billing:
        """The figures this event carries: the session's final bill once there is one."""
        stored = await stored_bill(conn, event)
        if stored is not None:
            return stored
        computed = bill(event.session, rates[event.provider])
        mismatch = self.reconcile(event, computed.lines)
        log.info("billed", kind=computed.kind, reason=computed.reason, **event.log_context)
        return await insert_bill(conn, event, computed, mismatch)

    def reconcile(self, event: SessionEvent, lines: Lines | None) -> bool:
        """Log and count where the provider's own figures differ from ours."""
        if lines is None:
            return False
        differing = differing_figures(event.session, lines)
        if differing:
            shown = {
                name: {"provider": str(theirs), "chargehook": str(ours)}
                for name, (theirs, ours) in differing.items()
            }
            log.warning("provider figures differ", lines=shown, **event.log_context)
            self.metrics.inc("chargehook_billing_mismatches_total", provider=event.provider)
        return bool(differing)
