"""From a merged OCPI Session to the page-shaped session event the pipeline takes (docs/ocpi.md).

The page's fields get what OCPI has for them; the rest of the Session, and the ids of its CDRs,
travel verbatim under the one extension field `ocpi`, which the page Session skips on decoding.
The price is the CPO's: `price_unit` "session" with `plug_price` the Session's
`total_cost.excl_vat`, so billing adds the commission and tax on top of it as
docs/billing.md#ocpi-sessions-and-cdrs says; without `total_cost` there is no price, and the bill is
incomplete with the reason (an absent total_cost is not free). The CPO's own total stays in
the extension, not in the page's `amount`: chargehook's bill fills that.
"""

import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec

from chargehook.schemas.ocpi import Price, session_decoder

PAGE_STATUS: dict[str, str] = {
    "PENDING": "ORDER_INIT_AND_WAITING",
    "RESERVATION": "ORDER_INIT_AND_WAITING",
    "ACTIVE": "IN_PROGRESS",
    "COMPLETED": "FINISHED",
    "INVALID": "PROVIDER_ERROR",
}
EXTENSION = "ocpi"  # the one extension field carrying the OCPI-only data
EXTENSION_FIELDS = (
    "country_code", "party_id", "session_id", "status", "cdr_token", "auth_method",
    "authorization_reference", "location_id", "evse_uid", "connector_id", "meter_id", "kwh",
    "currency", "total_cost", "charging_periods", "last_updated",
)  # fmt: skip
SOURCE = {"session_id": "id"}  # the other extension fields are the Session's of the same name
MAX_PUSHES = 999_999  # what derived_event_id's six digits hold

fields_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
encoder = msgspec.json.Encoder(decimal_format="number")


def page_session_id(country_code: str, party_id: str, session_id: str) -> str:
    """Unambiguous because country_code is exactly 2 characters and party_id exactly 3."""
    if len(country_code) != 2 or len(party_id) != 3:
        raise ValueError(f"Expected a 2 and a 3 character code, got {country_code!r}, {party_id!r}")
    return f"{country_code}-{party_id}-{session_id}"


def ocpi_address(page_id: str) -> tuple[str, str, str] | None:
    """The (country_code, party_id, id) a page session id was made from; None for a page id
    that is not one of page_session_id's."""
    country_code, party_id, session_id = page_id[:2], page_id[3:6], page_id[7:]
    if page_id[2:3] != "-" or page_id[6:7] != "-" or not session_id:
        return None
    return country_code, party_id, session_id


def page_session(merged: bytes, cdr_ids: Sequence[str]) -> bytes:
    """The page Session's JSON; msgspec.DecodeError where `merged` is no OCPI Session."""
    session = session_decoder.decode(merged)  # typed: UTC datetimes, exact Decimals
    page: dict[str, Any] = {
        # upper case, as the Session is stored: CiString codes are case-insensitive
        "id": page_session_id(session.country_code.upper(), session.party_id.upper(), session.id),
        "status": PAGE_STATUS[session.status],
        **price(session.total_cost),
        "plug_id": session.connector_id,
        "started": session.start_date_time,
        "finished": session.end_date_time,
        "currency": session.currency,
        "charged_kwh": session.kwh,
        "external_id": session.authorization_reference,
        "createdAt": session.start_date_time,
        "updatedAt": session.last_updated,
        EXTENSION: extension(fields_decoder.decode(merged), cdr_ids),
    }
    present = {key: value for key, value in page.items() if value is not None}
    return msgspec.json.format(encoder.encode(present), indent=-1)


def price(cost: Price | None) -> dict[str, object]:
    """The CPO's price of the whole Session so far, net of VAT, or no price at all."""
    if cost is None:
        return {"price_unit": "session"}
    return {"price_unit": "session", "plug_price": cost.excl_vat}


def extension(fields: dict[str, msgspec.Raw], cdr_ids: Sequence[str]) -> dict[str, Any]:
    named = {key: SOURCE.get(key, key) for key in EXTENSION_FIELDS}
    held = {key: fields[name] for key, name in named.items() if name in fields}
    return {**held, "cdr_ids": sorted(cdr_ids)}


def derived_event_id(pushes: int, page: bytes) -> str:
    """The event id of the page made from the merge of `pushes` pushes."""
    # The order key breaks a tie of terminal, updatedAt and lifecycle rank by event_id as text.
    # The count comes first, zero-padded, so that text order is the count's order: at the same
    # updatedAt the merge of more pushes (it has seen more of the Session) orders later. The
    # digest names the content, so the same merge always gets the same id: a redelivery is the
    # same event, not a new one.
    if not 0 < pushes <= MAX_PUSHES:
        raise ValueError(f"Expected 1 to {MAX_PUSHES} pushes, got {pushes}")
    return f"ocpi_{pushes:06d}_{hashlib.sha256(page).hexdigest()[:32]}"
