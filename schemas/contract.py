"""The machine-readable contract, generated from the Structs: JSON Schema, AsyncAPI, and the
components OpenAPI shares (its paths come from the route table in `chargehook.ingest.openapi`),
the OCPI 2.2.1 objects among them, each named `Ocpi<name>`."""

from typing import Any

import msgspec

from chargehook.schemas import ocpi, ocpi_transport
from chargehook.schemas.billed import BilledEnvelope
from chargehook.schemas.bills import BillsPage
from chargehook.schemas.messages import (
    SCHEMA_VERSION,
    Accepted,
    DeadLetter,
    DeadLetterPick,
    DeadLetterQueue,
    Envelope,
    ErrorBody,
    SessionState,
    Settled,
    StoredEvent,
)
from chargehook.schemas.ocpi_cpos import Cpo, CpoCreated, CpoEndpoint, NewCpo
from chargehook.schemas.session import STATUSES, Session
from chargehook.schemas.subscriptions import (
    Delivery,
    DeliveryTask,
    NewSubscription,
    Recover,
    Replayed,
    RotatedSecret,
    Subscription,
    SubscriptionChange,
    SubscriptionCreated,
    SubscriptionHealth,
    TestSent,
)

Document = dict[str, Any]
# Structs whose `session` is the provider's item verbatim (msgspec.Raw): documented as a Session.
CARRIES_SESSION = ("Envelope", "BilledEnvelope", "SessionState", "StoredEvent")
TYPES = (
    Session,
    Envelope,
    BilledEnvelope,
    ErrorBody,
    Accepted,
    SessionState,
    StoredEvent,
    NewSubscription,
    SubscriptionChange,
    Subscription,
    SubscriptionCreated,
    RotatedSecret,
    SubscriptionHealth,
    Delivery,
    Recover,
    Replayed,
    TestSent,
    DeliveryTask,
    DeadLetter,
    DeadLetterPick,
    DeadLetterQueue,
    Settled,
    NewCpo,
    CpoCreated,
    CpoEndpoint,
    Cpo,
    BillsPage,
)
# The ledger's bills, whose money a credit makes negative (its provider's figures too); every
# other amount is from 0 up.
SIGNED = ("StoredBill", "Billing", "ProviderFigures")

# OCPI's objects as a receiver takes them and the envelope of its answers (`Response` is
# documented as `OcpiResponse`); prefixed, since the page has a Session of its own.
OCPI_TYPES = (
    ocpi.Session,
    ocpi.SessionPatch,
    ocpi.Cdr,
    ocpi_transport.Credentials,
    ocpi_transport.VersionDetails,
    ocpi_transport.Version,
    ocpi_transport.Response,
)
OCPI_PREFIX = "Ocpi"


def components(ref_template: str) -> Document:
    _, found = msgspec.json.schema_components(TYPES, ref_template=ref_template)
    for name in CARRIES_SESSION:
        found[name]["properties"]["session"] = {"$ref": ref_template.format(name="Session")}
    return {
        name: _decimals_as_numbers(schema, {} if name in SIGNED else {"minimum": 0})
        for name, schema in found.items()
    }


def ocpi_components(ref_template: str) -> Document:
    """OCPI_TYPES and what they refer to, each named (and titled) `Ocpi<name>`. OCPI numbers
    may be negative (a credit CDR's total_cost); the Structs' own checks bound the rest."""
    prefixed = ref_template.replace("{name}", OCPI_PREFIX + "{name}")
    _, found = msgspec.json.schema_components(OCPI_TYPES, ref_template=prefixed)
    return {
        OCPI_PREFIX + name: _decimals_as_numbers({**schema, "title": OCPI_PREFIX + name}, {})
        for name, schema in found.items()
    }


def _decimals_as_numbers(schema: Any, bounds: Document) -> Any:
    """msgspec documents Decimal as a string; chargehook reads and writes JSON numbers."""
    if isinstance(schema, list):
        return [_decimals_as_numbers(item, bounds) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("format") == "decimal":
        return {**schema, "type": ["number", "string"], **bounds}
    return {key: _decimals_as_numbers(value, bounds) for key, value in schema.items()}


def event_json_schema() -> Document:
    """JSON Schema 2020-12 of one session event, as providers post it."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/$defs/Session",
        "$defs": components("#/$defs/{name}"),
    }


def ref(name: str) -> Document:
    """A reference to one of `components()` in an OpenAPI or AsyncAPI document."""
    return {"$ref": f"#/components/schemas/{name}"}


def _channel(exchange: str, message: str, description: str) -> Document:
    return {
        "address": "session.{status}.{provider}",
        "description": f"{description}, on the topic exchange {exchange}",
        "parameters": {
            "status": {"description": "the session status in lower case"},
            "provider": {"description": "the provider's registered name"},
        },
        "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        "bindings": {
            "amqp": {
                "is": "routingKey",
                "exchange": {
                    "name": exchange,
                    "type": "topic",
                    "durable": True,
                    "autoDelete": False,
                },
            }
        },
    }


def _message(name: str, payload: str) -> Document:
    headers = {
        "type": "object",
        "properties": {
            "status": {"type": "string", "enum": list(STATUSES)},
            "provider": {"type": "string"},
            "schema_version": {"const": SCHEMA_VERSION},
        },
        "required": ["status", "provider", "schema_version"],
    }
    return {
        "name": name,
        "contentType": "application/json",
        "payload": ref(payload),
        "headers": headers,
        "correlationId": {"location": "$message.payload#/event_id"},
    }


def asyncapi() -> Document:
    """AsyncAPI 3 for the exchanges downstream services bind to
    (docs/broker.md#the-asyncapi-document)."""
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "chargehook events", "version": SCHEMA_VERSION},
        "defaultContentType": "application/json",
        "channels": {
            "events": _channel("chargehook.events", "SessionEvent", "Every accepted event"),
            "billed": _channel(
                "chargehook.billed", "BilledSessionEvent", "Every event with its bill filled in"
            ),
        },
        "operations": {
            "receiveEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/events"},
                "summary": "Bind a queue of your own to chargehook.events",
            },
            "receiveBilled": {
                "action": "receive",
                "channel": {"$ref": "#/channels/billed"},
                "summary": "Bind a queue of your own to chargehook.billed",
            },
        },
        "components": {
            "messages": {
                "SessionEvent": _message("SessionEvent", "Envelope"),
                "BilledSessionEvent": _message("BilledSessionEvent", "BilledEnvelope"),
            },
            "schemas": components("#/components/schemas/{name}"),
        },
    }
