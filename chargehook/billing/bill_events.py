"""Billing a batch of events: a bill for every event, a final bill once per session, each event
published billed on `chargehook.billed` (docs/billing.md).

The bills commit before the billed events are published, and the caller acks after every
publish was confirmed; a redelivery finds the stored bill and publishes the same figures again.
A batch is three statements in one transaction, whatever its size: the rates, the known bills
and one insert (none when nothing is new); the known bills are read again only when another
worker billed some of the batch first.
"""

import asyncio
from collections.abc import Sequence

import structlog

from chargehook.billing.messages import billed_message
from chargehook.billing.plan import Made
from chargehook.billing.store import bill_batch
from chargehook.plumbing.broker import BILLED_EXCHANGE, Broker
from chargehook.plumbing.database import Pool
from chargehook.plumbing.metrics import Metrics
from chargehook.providers.store import rates_of
from chargehook.sessions.events import SessionEvent, routing_key

log = structlog.get_logger("chargehook.billing")


async def bill_events(
    pool: Pool, broker: Broker, metrics: Metrics, batch: Sequence[SessionEvent]
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        rates = await rates_of(conn, {event.provider for event in batch})
        billed = await bill_batch(conn, batch, rates)
    # Confirms pipelined, not one round trip each; all must be confirmed before the ack.
    await asyncio.gather(
        *(
            broker.publish(
                BILLED_EXCHANGE,
                routing_key(event.session.status, event.provider),
                billed_message(event, billing),
                mandatory=False,  # nobody bound to chargehook.billed yet is no reason to fail
            )
            for event, billing in billed.carried
        )
    )
    for new in billed.made:
        account(metrics, new)
    for clash in billed.clashing:
        log.warning("event id taken by another session; not billed", **clash.log_context)
    log.info("batch billed", events=len(batch), new_bills=len(billed.made))


def account(metrics: Metrics, made: Made) -> None:
    """One debug line per new bill; a warning and a count where a human should look."""
    bill, context = made.bill, made.event.log_context
    log.debug("billed", kind=bill.kind, reason=bill.reason, **context)
    if bill.kind == "incomplete":
        log.warning("bill incomplete", reason=bill.reason, **context)
        metrics.inc("chargehook_billing_incomplete_total", provider=made.event.provider)
    if made.differing:
        shown = {
            name: {"provider": str(theirs), "chargehook": str(ours)}
            for name, (theirs, ours) in made.differing.items()
        }
        log.warning("provider figures differ", lines=shown, **context)
        metrics.inc("chargehook_billing_mismatches_total", provider=made.event.provider)
