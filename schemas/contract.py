"""The machine-readable contract, generated from the Structs: JSON Schema, OpenAPI, AsyncAPI."""

from typing import Any

import msgspec

from chargehook.schemas.messages import (
    SCHEMA_VERSION,
    Accepted,
    BilledEnvelope,
    Envelope,
    ErrorBody,
    SessionState,
    StoredEvent,
)
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
    Delivery,
    Recover,
    Replayed,
    DeliveryTask,
)


def components(ref_template: str) -> Document:
    _, found = msgspec.json.schema_components(TYPES, ref_template=ref_template)
    for name in CARRIES_SESSION:
        found[name]["properties"]["session"] = {"$ref": ref_template.format(name="Session")}
    return {name: _decimals_as_numbers(schema) for name, schema in found.items()}


def _decimals_as_numbers(schema: Any) -> Any:
    """msgspec documents Decimal as a string; chargehook reads and writes JSON numbers."""
    if isinstance(schema, list):
        return [_decimals_as_numbers(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    if schema.get("format") == "decimal":
        return {**schema, "type": ["number", "string"], "minimum": 0}
    return {key: _decimals_as_numbers(value) for key, value in schema.items()}


def event_json_schema() -> Document:
    """JSON Schema 2020-12 of one session event, as providers post it."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/$defs/Session",
        "$defs": components("#/$defs/{name}"),
    }


def _ref(name: str) -> Document:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Document, description: str) -> Document:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": "Bad input: the message names each bad field by its path",
    "401": "Missing or unknown token",
    "403": "A token of the wrong kind for this route",
    "404": "No such session or subscription",
    "413": "Body over 1 MiB",
    "415": "Body is not application/json",
    "500": "A fault on our side",
    "503": "Broker or database unavailable; retry after `Retry-After` seconds",
}


def _operation(summary: str, ok: Document, errors: tuple[str, ...], **extra: Any) -> Document:
    responses = {"200": ok} | {code: _json(_ref("ErrorBody"), ERRORS[code]) for code in errors}
    return {"summary": summary, "responses": responses, **extra}


SESSION_PARAMETERS = [
    {"name": "provider", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
]
ADMIN: list[Document] = [{"bearer": []}]


def _body(name: str) -> Document:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


SUBSCRIPTION_ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
ADMIN_ERRORS = ("401", "403", "404", "500")


def _admin(summary: str, status: str, answer: Document, **extra: Any) -> Document:
    operation = _operation(summary, answer, ADMIN_ERRORS, security=ADMIN, **extra)
    if status != "200":
        operation["responses"][status] = operation["responses"].pop("200")
    return operation


def subscription_paths() -> Document:
    one, listed = _ref("Subscription"), {"type": "array", "items": _ref("Subscription")}
    replayed = _json(_ref("Replayed"), "Deliveries queued again")
    no_content = {"description": "Deleted"}
    log_filters = [
        {
            "name": "status",
            "in": "query",
            "schema": {"enum": ["pending", "succeeded", "failed", "superseded"]},
        },
        {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": 500},
        },
    ]
    delivery = [
        *SUBSCRIPTION_ID,
        {"name": "delivery", "in": "path", "required": True, "schema": {"type": "string"}},
    ]
    return {
        "/v1/subscriptions": {
            "post": _admin(
                "Subscribe a URL; the signing secret is shown once",
                "201",
                _json(_ref("SubscriptionCreated"), "Created"),
                requestBody=_body("NewSubscription"),
            ),
            "get": _admin("Every subscription", "200", _json(listed, "Subscriptions")),
        },
        "/v1/subscriptions/{id}": {
            "get": _admin(
                "One subscription",
                "200",
                _json(one, "The subscription"),
                parameters=SUBSCRIPTION_ID,
            ),
            "patch": _admin(
                "Change url, filters, description or enabled",
                "200",
                _json(one, "Changed"),
                parameters=SUBSCRIPTION_ID,
                requestBody=_body("SubscriptionChange"),
            ),
            "delete": _admin("Unsubscribe", "204", no_content, parameters=SUBSCRIPTION_ID),
        },
        "/v1/subscriptions/{id}/secret/rotate": {
            "post": _admin(
                "A new secret; the old one signs for 24 h more",
                "200",
                _json(_ref("RotatedSecret"), "The new secret, shown once"),
                parameters=SUBSCRIPTION_ID,
            ),
        },
        "/v1/subscriptions/{id}/deliveries": {
            "get": _admin(
                "The delivery log with every attempt, newest first",
                "200",
                _json({"type": "array", "items": _ref("Delivery")}, "Deliveries"),
                parameters=SUBSCRIPTION_ID + log_filters,
            ),
        },
        "/v1/subscriptions/{id}/deliveries/{delivery}/replay": {
            "post": _admin("Send one delivery again", "202", replayed, parameters=delivery),
        },
        "/v1/subscriptions/{id}/recover": {
            "post": _admin(
                "Send every failed delivery since a time again",
                "202",
                replayed,
                parameters=SUBSCRIPTION_ID,
                requestBody=_body("Recover"),
            ),
        },
    }


def openapi() -> Document:
    """OpenAPI 3.1 for the HTTP API of SPEC §2."""
    batch = {
        "oneOf": [
            _ref("Session"),
            {"type": "array", "items": _ref("Session"), "minItems": 1, "maxItems": 500},
        ]
    }
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": 255},
    }
    paths = {
        "/v1/sessions": {
            "post": _operation(
                "Accept session events; answered once the broker confirmed every one",
                _json(_ref("Accepted"), "Every event confirmed by the broker"),
                ("400", "401", "403", "413", "415", "500", "503"),
                requestBody={"required": True, "content": {"application/json": {"schema": batch}}},
                parameters=[idempotency],
                security=[{"bearer": []}],
            )
        },
        "/v1/sessions/{provider}/{id}": {
            "get": _operation(
                "A session's current state",
                _json(_ref("SessionState"), "The greatest event by the persist order"),
                ("401", "403", "404", "500"),
                parameters=SESSION_PARAMETERS,
                security=ADMIN,
            )
        },
        "/v1/sessions/{provider}/{id}/events": {
            "get": _operation(
                "A session's history, oldest first",
                _json({"type": "array", "items": _ref("StoredEvent")}, "Every stored event"),
                ("401", "403", "404", "500"),
                parameters=SESSION_PARAMETERS,
                security=ADMIN,
            )
        },
        "/healthz": {"get": _operation("Liveness", _json({"type": "object"}, "Alive"), ())},
        "/readyz": {"get": _operation("Readiness", _json({"type": "object"}, "Ready"), ("503",))},
        "/metrics": {
            "get": _operation(
                "Prometheus metrics",
                {
                    "description": "Text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                (),
            )
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "chargehook", "version": SCHEMA_VERSION},
        "paths": paths | subscription_paths(),
        "components": {
            "schemas": components("#/components/schemas/{name}"),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


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
        "payload": _ref(payload),
        "headers": headers,
        "correlationId": {"location": "$message.payload#/event_id"},
    }


def asyncapi() -> Document:
    """AsyncAPI 3 for the exchanges downstream services bind to (SPEC §3)."""
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
