"""The route table: every HTTP route with its OpenAPI operation, in one entry.

`create_app` serves exactly `ROUTES` and `openapi()` documents exactly `ROUTES`, so a route
cannot be served undocumented nor documented unserved. Path parameters come from the `{name}`
placeholders of the path; the schemas are the Structs' `components()`.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from chargehook.ingest import routes, subscriptions
from chargehook.schemas import DELIVERY_STATUSES, SCHEMA_VERSION
from chargehook.schemas.contract import Document, components, ref

ERRORS = {
    400: "Bad input: the message names each bad field by its path",
    401: "Missing or unknown token",
    403: "A token of the wrong kind for this route",
    404: "No such session or subscription",
    409: "The Idempotency-Key was already used for a different session event",
    413: "Body over 1 MiB",
    415: "Body is not application/json, or is compressed (Content-Encoding)",
    429: "The provider is over its rate limit; retry after `Retry-After` seconds",
    500: "A fault on our side",
    503: "Broker or database unavailable; retry after `Retry-After` seconds",
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def content(schema: Document, media_type: str = "application/json") -> Document:
    return {media_type: {"schema": schema}}


@dataclass(frozen=True)
class Answer:
    """The success response: its description, body schema (None: no body) and status."""

    description: str
    schema: Document | None
    status: int = 200
    media_type: str = "application/json"

    def response(self) -> Document:
        if self.schema is None:
            return {"description": self.description}
        return {"description": self.description, "content": content(self.schema, self.media_type)}


@dataclass(frozen=True)
class Route:
    """One route: what aiohttp serves and what OpenAPI says of it."""

    method: str
    path: str
    handler: Handler
    summary: str
    answer: Answer
    errors: tuple[int, ...] = ()
    parameters: tuple[Document, ...] = ()  # query and header ones; path ones come from `path`
    body: Document | None = None  # the schema of a required JSON request body
    bearer: bool = False  # needs a token in `Authorization: Bearer`

    def definition(self) -> web.RouteDef:
        return web.route(self.method, self.path, self.handler)

    def path_parameters(self) -> list[Document]:
        return [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in PLACEHOLDER.findall(self.path)
        ]

    def error_codes(self) -> list[int]:
        """The route's own errors, and those any body or query brings: a body can be bad,
        too large or of another type; a query can be bad."""
        codes = set(self.errors)
        if self.body is not None:
            codes |= {400, 413, 415}
        if any(p.get("in") == "query" for p in self.parameters):
            codes.add(400)
        return sorted(codes)

    def operation(self) -> Document:
        error = ref("ErrorBody")
        responses = {str(self.answer.status): self.answer.response()} | {
            str(code): {"description": ERRORS[code], "content": content(error)}
            for code in self.error_codes()
        }
        operation: Document = {"summary": self.summary, "responses": responses}
        if parameters := [*self.path_parameters(), *self.parameters]:
            operation["parameters"] = parameters
        if self.body is not None:
            operation["requestBody"] = {"required": True, "content": content(self.body)}
        if self.bearer:
            operation["security"] = [{"bearer": []}]
        return operation


def paths(table: Iterable[Route]) -> Document:
    found: Document = {}
    for route in table:
        item = found.setdefault(route.path, {})
        method = route.method.lower()
        if method in item:
            raise ValueError(f"{route.method} {route.path} is in the route table twice")
        item[method] = route.operation()
    return found


def openapi() -> Document:
    """OpenAPI 3.1 for the HTTP API of SPEC §2, generated from the route table."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "chargehook", "version": SCHEMA_VERSION},
        "paths": paths(ROUTES),
        "components": {
            "schemas": components("#/components/schemas/{name}"),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def array(name: str, **limits: int) -> Document:
    return {"type": "array", "items": ref(name), **limits}


BATCH = {"oneOf": [ref("Session"), array("Session", minItems=1, maxItems=500)]}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 255},
}
LOG_FILTERS = (
    {"name": "status", "in": "query", "schema": {"enum": list(DELIVERY_STATUSES)}},
    {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": subscriptions.MAX_LOG},
    },
)
ADMIN_ERRORS = (401, 403, 404, 500, 503)  # 503: the database did not answer
REPLAYED = Answer("Deliveries queued again", ref("Replayed"), 202)
SUBSCRIPTION = "/v1/subscriptions/{id}"

ROUTES = (
    Route(
        "POST",
        "/v1/sessions",
        routes.post_sessions,
        "Accept session events; answered once the broker confirmed every one",
        Answer("Every event confirmed by the broker", ref("Accepted")),
        (400, 401, 403, 409, 413, 415, 429, 500, 503),
        parameters=(IDEMPOTENCY_KEY,),
        body=BATCH,
        bearer=True,
    ),
    Route(
        "GET",
        "/v1/sessions/{provider}/{id}",
        routes.get_session,
        "A session's current state",
        Answer("The greatest event by the persist order", ref("SessionState")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        "/v1/sessions/{provider}/{id}/events",
        routes.get_session_events,
        "A session's history, oldest first",
        Answer("Every stored event", array("StoredEvent")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route("GET", "/healthz", routes.healthz, "Liveness", Answer("Alive", {"type": "object"})),
    Route(
        "GET", "/readyz", routes.readyz, "Readiness", Answer("Ready", {"type": "object"}), (503,)
    ),
    Route(
        "GET",
        "/metrics",
        routes.metrics,
        "Prometheus metrics",
        Answer("Text exposition format", {"type": "string"}, media_type="text/plain"),
    ),
    Route(
        "POST",
        "/v1/subscriptions",
        subscriptions.create,
        "Subscribe a URL; the signing secret is shown once",
        Answer("Created", ref("SubscriptionCreated"), 201),
        ADMIN_ERRORS,
        body=ref("NewSubscription"),
        bearer=True,
    ),
    Route(
        "GET",
        "/v1/subscriptions",
        subscriptions.list_all,
        "Every subscription",
        Answer("Subscriptions", array("Subscription")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        SUBSCRIPTION,
        subscriptions.read,
        "One subscription",
        Answer("The subscription", ref("Subscription")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "PATCH",
        SUBSCRIPTION,
        subscriptions.update,
        "Change url, filters, description or enabled",
        Answer("Changed", ref("Subscription")),
        ADMIN_ERRORS,
        body=ref("SubscriptionChange"),
        bearer=True,
    ),
    Route(
        "DELETE",
        SUBSCRIPTION,
        subscriptions.delete,
        "Unsubscribe",
        Answer("Deleted", None, 204),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "POST",
        SUBSCRIPTION + "/secret/rotate",
        subscriptions.rotate_secret,
        "A new secret; the old one signs for 24 h more",
        Answer("The new secret, shown once", ref("RotatedSecret")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "POST",
        SUBSCRIPTION + "/test",
        subscriptions.send_test,
        "Send a signed example event, marked as a test, and show what the receiver answered",
        Answer("The receiver's answer (2xx or not)", ref("TestSent")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        SUBSCRIPTION + "/deliveries",
        subscriptions.delivery_log,
        "The delivery log with every attempt, newest first",
        Answer("Deliveries", array("Delivery")),
        ADMIN_ERRORS,
        parameters=LOG_FILTERS,
        bearer=True,
    ),
    Route(
        "POST",
        SUBSCRIPTION + "/deliveries/{delivery}/replay",
        subscriptions.replay,
        "Send one delivery again",
        REPLAYED,
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "POST",
        SUBSCRIPTION + "/recover",
        subscriptions.recover,
        "Send every failed delivery since a time again",
        REPLAYED,
        ADMIN_ERRORS,
        body=ref("Recover"),
        bearer=True,
    ),
)
