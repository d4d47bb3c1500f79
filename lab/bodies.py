"""What the bench sends and preloads: session items in the webhook page's shape, OCPI Sessions
as a CPO PUTs them, and broker messages built by chargehook's own functions, byte for byte what
ingest and billing publish."""

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from chargehook.billing.messages import billed_message
from chargehook.plumbing.broker import OutboundMessage
from chargehook.schemas import Billing, Session
from chargehook.sessions.events import event_headers, read_event
from chargehook.sessions.intake import Item, envelope, envelope_encoder

EXAMPLE = Path(__file__).parents[1] / "examples" / "page-example.json"
BASE_TIME = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ID_MARK = "__BENCH_SESSION_ID__"
SENT_FIELD = "bench_sent_at"  # unknown to chargehook: kept verbatim and delivered
OCPI_SESSIONS = "/ocpi/2.2.1/sessions"  # + /{country_code}/{party_id}/{session_id}

session_decoder = msgspec.json.Decoder(Session)
_page: dict[str, Any] = msgspec.json.decode(EXAMPLE.read_bytes())[0]


def item(
    session_id: str, status: str = "FINISHED", minute: int = 0, sent_at: float | None = None
) -> dict[str, Any]:
    """The page's example made billable: a kWh session in EUR, its id, status and time ours."""
    started = BASE_TIME
    updated = BASE_TIME + timedelta(minutes=30 + minute)
    body = copy.deepcopy(_page)
    body.update(
        id=session_id,
        status=status,
        amount=0,
        commision_price=0,
        tax_price=0,
        plug_price=0.45,
        price_unit="kwh",
        currency="EUR",
        charged_kwh=23.456 if status == "FINISHED" else 11.5,
        email="driver@example.com",
        user_email="driver@example.com",
        plate="1234ABC",
        started=started.isoformat(),
        finished=updated.isoformat(),
        createdAt=started.isoformat(),
        updatedAt=updated.isoformat(),
        power_kw=22,
    )
    if status != "FINISHED":
        del body["finished"]
    if sent_at is not None:
        body[SENT_FIELD] = sent_at
    return body


def encode(value: object) -> bytes:
    return msgspec.json.encode(value)


def template(status: str = "FINISHED") -> tuple[bytes, bytes]:
    """The body split around its session id, for load generators that fill the id in."""
    prefix, suffix = encode(item(ID_MARK, status)).split(ID_MARK.encode())
    return prefix, suffix


def ocpi_session(session_id: str, country_code: str, party_id: str) -> dict[str, Any]:
    """An OCPI 2.2.1 Session an hour into charging, as a CPO PUTs it at
    `OCPI_SESSIONS/{country_code}/{party_id}/{session_id}`: the URL's party and id are its own."""
    started = BASE_TIME
    return {
        "country_code": country_code,
        "party_id": party_id,
        "id": session_id,
        "start_date_time": started.isoformat(),
        "kwh": 11.5,
        "cdr_token": {
            "country_code": country_code,
            "party_id": "EMS",
            "uid": "a1b2c3d4",
            "type": "RFID",
            "contract_id": f"{country_code}-EMS-C00000001-X",
        },
        "auth_method": "WHITELIST",
        "location_id": "LOC-01",
        "evse_uid": "EVSE-7",
        "connector_id": "2",
        "currency": "EUR",
        "charging_periods": [
            {
                "start_date_time": started.isoformat(),
                "dimensions": [{"type": "ENERGY", "volume": 11.5}, {"type": "TIME", "volume": 1}],
            }
        ],
        "total_cost": {"excl_vat": 5.18, "incl_vat": 6.26},
        "status": "ACTIVE",
        "last_updated": (started + timedelta(hours=1)).isoformat(),
    }


def ocpi_template(country_code: str, party_id: str) -> tuple[bytes, bytes]:
    """The OCPI Session split around its id, for load generators that fill the id in (in the
    body and in the URL alike)."""
    prefix, suffix = encode(ocpi_session(ID_MARK, country_code, party_id)).split(ID_MARK.encode())
    return prefix, suffix


def event_message(provider: str, body: bytes) -> OutboundMessage:
    """What ingest publishes on `chargehook.events` for this item (sessions/accepting.py)."""
    raw = msgspec.Raw(body)
    session = session_decoder.decode(raw)
    env = envelope(provider, Item(raw, session), datetime.now(UTC), None)
    headers = event_headers(session.status, provider)
    return OutboundMessage(envelope_encoder.encode(env), env.event_id, headers)


def billing_for(event_id: str) -> Billing:
    """A final bill for the item above (23.456 kWh at 0.45 EUR, default rates)."""
    return Billing(
        kind="final",
        event_id=event_id,
        currency="EUR",
        price_unit="kwh",
        quantity=Decimal("23.456"),
        base=Decimal("10.56"),
        access_fee=Decimal("0.15"),
        subtotal=Decimal("10.71"),
        commission=Decimal("1.07"),
        tax=Decimal("2.47"),
        amount=Decimal("14.25"),
        commission_rate=Decimal("0.10"),
        tax_rate=Decimal("0.21"),
    )


def billed(provider: str, body: bytes) -> OutboundMessage:
    """What billing publishes on `chargehook.billed` for this item (workers/billing.py)."""
    event = read_event(event_message(provider, body).body)
    return billed_message(event, billing_for(event.event_id))
