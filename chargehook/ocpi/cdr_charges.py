"""What billing needs of an OCPI CDR push (docs/billing.md#ocpi-sessions-and-cdrs): the ocpi
worker bills it with what it stores, and ingest asks first whether it could be billed."""

from decimal import Decimal

import msgspec

from chargehook.billing.cdr_bills import CdrCharge
from chargehook.ocpi.mapping import page_session_id
from chargehook.schemas import OcpiPush


class CdrCost(msgspec.Struct):
    excl_vat: Decimal
    incl_vat: Decimal | None = None


class CdrFields(msgspec.Struct):
    """The fields of a CDR its merge and its bill need (ingest checked the whole CDR)."""

    currency: str
    total_cost: CdrCost
    session_id: str | None = None
    credit: bool | None = None
    credit_reference_id: str | None = None


cdr_fields_decoder = msgspec.json.Decoder(CdrFields)


def cdr_charge(push: OcpiPush) -> CdrCharge:
    """What billing needs of a CDR push; a CDR naming no Session bills one of its own."""
    fields = cdr_fields_decoder.decode(push.body)
    named = fields.session_id or push.object_id
    country_code, party_id = push.country_code, push.party_id
    credits = fields.credit_reference_id if fields.credit else None
    return CdrCharge(
        provider=push.cpo,
        session_id=page_session_id(country_code, party_id, named),
        cdr_id=page_session_id(country_code, party_id, push.object_id),
        credits=None if credits is None else page_session_id(country_code, party_id, credits),
        currency=fields.currency,
        excl_vat=fields.total_cost.excl_vat,
        incl_vat=fields.total_cost.incl_vat,
        last_updated=push.last_updated,
        received_at=push.received_at,
    )
