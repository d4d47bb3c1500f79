"""Accepting a CPO's push (a Session PUT or PATCH, a CDR): within the CPO's rate, published on
`chargehook.events` and confirmed by the broker before the CPO is answered (docs/ocpi.md).

The push is stored and merged by the ocpi worker (`ocpi.merging`); here it is only named and
published, so a push costs no query on the way in.
"""

import hashlib
import time
from datetime import datetime

import msgspec
import structlog

from chargehook.plumbing.broker import EVENTS_EXCHANGE, OutboundMessage
from chargehook.plumbing.errors import BrokerUnavailable
from chargehook.schemas import SCHEMA_VERSION, OcpiPush, PushKind
from chargehook.sessions.accepting import Accepting, NotConfirmed, OverRate
from chargehook.sessions.intake import canonical

log = structlog.get_logger("chargehook.ingest")
push_encoder = msgspec.json.Encoder()


def push_id(cpo: str, kind: PushKind, country_code: str, party_id: str, object_id: str,
            body: bytes) -> str:  # fmt: skip
    """The same push from the same CPO always gets the same id, whatever its key order."""
    named = "\n".join((cpo, kind, country_code, party_id, object_id)).encode()
    return "ocpi_" + hashlib.sha256(named + b"\n" + canonical(body)).hexdigest()[:40]


def new_push(
    cpo: str,
    kind: PushKind,
    country_code: str,
    party_id: str,
    object_id: str,
    last_updated: datetime,
    body: bytes,
    received_at: datetime,
) -> OcpiPush:
    country_code, party_id = country_code.upper(), party_id.upper()
    return OcpiPush(
        push_id=push_id(cpo, kind, country_code, party_id, object_id, body),
        cpo=cpo,
        kind=kind,
        country_code=country_code,
        party_id=party_id,
        object_id=object_id,
        last_updated=last_updated,
        received_at=received_at,
        body=msgspec.Raw(body),
    )


def routing_key(push: OcpiPush) -> str:
    return f"ocpi.{push.kind}.{push.cpo}"


async def accept_push(accepting: Accepting, push: OcpiPush) -> None:
    """Publish the push, confirmed, or raise why not (OverRate, NotConfirmed)."""
    if wait := accepting.limits.take(push.cpo, 1, time.monotonic()):
        raise OverRate(push.cpo, accepting.limits.rate, wait)
    headers = {"kind": push.kind, "provider": push.cpo, "schema_version": SCHEMA_VERSION}
    message = OutboundMessage(push_encoder.encode(push), push.push_id, headers)
    try:
        await accepting.broker.publish(EVENTS_EXCHANGE, routing_key(push), message)
    except BrokerUnavailable as exc:
        accepting.metrics.inc("chargehook_publish_failures_total", 1)
        log.warning("publish not confirmed", cpo=push.cpo, error=str(exc))
        raise NotConfirmed(f"The push {push.push_id} was not confirmed") from None
    accepting.metrics.inc("chargehook_events_accepted_total", 1, provider=push.cpo)
    log.debug("ocpi push accepted", cpo=push.cpo, kind=push.kind, object_id=push.object_id)
