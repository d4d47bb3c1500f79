"""The wire contract: msgspec types for everything chargehook receives and sends."""

from schemas.messages import (
    SCHEMA_VERSION,
    Accepted,
    BilledEnvelope,
    Billing,
    Envelope,
    ErrorBody,
    ProviderFigures,
    SessionState,
    StoredEvent,
)
from schemas.session import (
    STATUSES,
    Charger,
    ChargerDetails,
    InvalidField,
    LogicPlug,
    PhysicalPlug,
    PriceUnit,
    Session,
    Status,
)

__all__ = [
    "SCHEMA_VERSION",
    "STATUSES",
    "Accepted",
    "BilledEnvelope",
    "Billing",
    "Charger",
    "ChargerDetails",
    "Envelope",
    "ErrorBody",
    "InvalidField",
    "LogicPlug",
    "PhysicalPlug",
    "PriceUnit",
    "ProviderFigures",
    "Session",
    "SessionState",
    "Status",
    "StoredEvent",
]
