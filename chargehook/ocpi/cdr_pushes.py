"""Accepting a CDR: CDRs are immutable (mod_cdrs.asciidoc: they cannot be replaced, updated or
removed), so a CDR is checked against the one stored under its id before it is published
(docs/ocpi.md#cdrs).

The same CDR again is a retry: it is already stored, and nothing is published. Another body
under a stored id is refused. A CDR not stored yet is published as any push is; a change in
the moment before the ocpi worker stored the first is not seen here, and the worker keeps the
first (the table's primary key). A database that does not answer does not hold up ingest: the
check is skipped and the push published.
"""

import asyncio

import structlog

from chargehook.billing.cdr_bills import cdr_refusal
from chargehook.ocpi.cdr_charges import cdr_charge
from chargehook.ocpi.pushing import accept_push
from chargehook.ocpi.store import stored_cdr
from chargehook.plumbing.database import Pool
from chargehook.plumbing.faults import is_infrastructure
from chargehook.schemas import OcpiPush
from chargehook.sessions.accepting import KEY_CHECK_TIMEOUT, Accepting
from chargehook.sessions.intake import canonical

log = structlog.get_logger("chargehook.ingest")


class CdrChanged(Exception):
    """Another body is already stored under this CDR's id: refuse, do not retry."""


class CdrRefused(Exception):
    """The CDR cannot be billed (docs/billing.md#ocpi-sessions-and-cdrs): refuse it, store it
    nowhere."""


async def accept_cdr(accepting: Accepting, push: OcpiPush) -> bool:
    """Publish the CDR's push, confirmed (raising as `accept_push` does), unless the same CDR
    is stored already: True then, and nothing is published. CdrChanged for another body,
    CdrRefused for a CDR that cannot be billed."""
    if await refuse_a_changed_cdr(accepting.pool, push):
        return True
    await refuse_an_unbillable_cdr(accepting.pool, push)
    await accept_push(accepting, push)
    return False


async def refuse_an_unbillable_cdr(pool: Pool, push: OcpiPush) -> None:
    """CdrRefused for a credit of a CDR not billed here or credited already, or a CDR for a
    session whose CDR is not credited. The ocpi worker checks again as it bills, so a check
    skipped because the database did not answer in time refuses nothing it would take."""
    try:
        reason = await asyncio.wait_for(cdr_refusal(pool, cdr_charge(push)), KEY_CHECK_TIMEOUT)
    except Exception as exc:
        if not is_infrastructure(exc):
            raise
        log.warning("cdr billing check skipped", cpo=push.cpo, error=repr(exc))
        return
    if reason is not None:
        raise CdrRefused(reason)


async def refuse_a_changed_cdr(pool: Pool, push: OcpiPush) -> bool:
    """Whether this CDR is stored already, the same once canonical; CdrChanged when another
    body is stored under its id. False when the database does not answer in time."""
    try:
        stored = await asyncio.wait_for(
            stored_cdr(pool, push.country_code, push.party_id, push.object_id), KEY_CHECK_TIMEOUT
        )
    except Exception as exc:
        if not is_infrastructure(exc):
            raise
        log.warning("cdr check skipped", cpo=push.cpo, error=repr(exc))
        return False
    if stored is None:
        return False
    if canonical(stored) != canonical(push.body):
        raise CdrChanged(
            f"CDRs are immutable: CDR {push.country_code}/{push.party_id}/{push.object_id} is "
            "stored already with another body; a correction is a credit CDR and a new one"
        )
    return True
