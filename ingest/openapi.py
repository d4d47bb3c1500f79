"""The route table: every HTTP route with its OpenAPI operation, in one entry.

`create_app` serves exactly `ROUTES` and `openapi()` documents exactly `ROUTES`, so a route
cannot be served undocumented nor documented unserved. Path parameters come from the `{name}`
placeholders of the path; the schemas are those of the Structs' `components()` the paths use.
"""

from chargehook.ingest import dead_letters, routes, subscriptions
from chargehook.ingest.routing import BEARER, UNPARSABLE, Answer, Route, array, paths, referenced
from chargehook.plumbing.settings import Settings
from chargehook.schemas import DELIVERY_STATUSES, SCHEMA_VERSION
from chargehook.schemas.contract import Document, components, ref

__all__ = ["ROUTES", "openapi"]


def openapi() -> Document:
    """OpenAPI 3.1 for the HTTP API of docs/api.md, generated from the route table."""
    documented = paths(ROUTES)
    schemas = components("#/components/schemas/{name}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "chargehook",
            "version": SCHEMA_VERSION,
            "description": DESCRIPTION,
            "license": {"name": "Apache License 2.0", "identifier": "Apache-2.0"},
        },
        "servers": [default_server()],
        "security": [{"bearer": []}],  # most calls need a token; every operation says its own
        "paths": documented,
        "components": {
            "schemas": referenced(schemas, documented),
            "securitySchemes": {"bearer": BEARER},
        },
    }


def default_server() -> Document:
    """Where `chargehook run` and `chargehook ingest` listen unless told otherwise."""
    settings = Settings()
    return {
        "url": f"http://{settings.http_host}:{settings.http_port}",
        "description": "chargehook run's and chargehook ingest's default "
        "(CHARGEHOOK_HTTP_HOST, CHARGEHOOK_HTTP_PORT)",
    }


DESCRIPTION = (
    "Providers post EV-charging session events to POST /v1/sessions with their own token; "
    "operators read sessions back and manage webhook subscriptions and dead letters with the "
    "admin token. The probes /healthz, /readyz and /metrics need no token. Every error the app "
    "answers has the ErrorBody shape; a request aiohttp cannot parse is refused before the app, "
    "in plain text. Each operation's operationId is fixed: it does not change when a path "
    "does. docs/api.md gives the rules behind every answer."
)
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

DEAD = "/v1/dead-letters/{queue}"
DEAD_PICK = ref("DeadLetterPick")
ROUTES = (
    Route(
        "POST",
        "/v1/sessions",
        "postSessions",
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
        "getSession",
        routes.get_session,
        "A session's current state",
        Answer("The greatest event by the persist order", ref("SessionState")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        "/v1/sessions/{provider}/{id}/events",
        "listSessionEvents",
        routes.get_session_events,
        "A session's history, oldest first",
        Answer("Every stored event", array("StoredEvent")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        "/healthz",
        "getLiveness",
        routes.healthz,
        "Liveness",
        Answer("Alive", {"type": "object"}),
        plain_errors=(UNPARSABLE,),
    ),
    Route(
        "GET",
        "/readyz",
        "getReadiness",
        routes.readyz,
        "Readiness",
        Answer("Ready", {"type": "object"}),
        (503,),
        plain_errors=(UNPARSABLE,),
    ),
    Route(
        "GET",
        "/metrics",
        "getMetrics",
        routes.metrics,
        "Prometheus metrics",
        Answer("Text exposition format", {"type": "string"}, media_type="text/plain"),
        plain_errors=(UNPARSABLE,),
    ),
    Route(
        "POST",
        "/v1/subscriptions",
        "createSubscription",
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
        "listSubscriptions",
        subscriptions.list_all,
        "Every subscription",
        Answer("Subscriptions", array("Subscription")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        "/v1/subscription-health",
        "listSubscriptionHealth",
        subscriptions.health,
        "Every subscription's health: last success, failures in the last hour, pending, "
        "when it would be disabled",
        Answer("Health, oldest subscription first", array("SubscriptionHealth")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        SUBSCRIPTION,
        "getSubscription",
        subscriptions.read,
        "One subscription",
        Answer("The subscription", ref("Subscription")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "PATCH",
        SUBSCRIPTION,
        "updateSubscription",
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
        "deleteSubscription",
        subscriptions.delete,
        "Unsubscribe",
        Answer("Deleted", None, 204),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "POST",
        SUBSCRIPTION + "/secret/rotate",
        "rotateSubscriptionSecret",
        subscriptions.rotate_secret,
        "A new secret; the old one signs for 24 h more",
        Answer("The new secret, shown once", ref("RotatedSecret")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "POST",
        SUBSCRIPTION + "/test",
        "sendTestEvent",
        subscriptions.send_test,
        "Send a signed example event, marked as a test, and show what the receiver answered",
        Answer("The receiver's answer (2xx or not)", ref("TestSent")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        SUBSCRIPTION + "/deliveries",
        "listDeliveries",
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
        "replayDelivery",
        subscriptions.replay,
        "Send one delivery again",
        REPLAYED,
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "POST",
        SUBSCRIPTION + "/recover",
        "recoverDeliveries",
        subscriptions.recover,
        "Send every failed delivery since a time again",
        REPLAYED,
        ADMIN_ERRORS,
        body=ref("Recover"),
        bearer=True,
    ),
    Route(
        "GET",
        "/v1/dead-letters",
        "listDeadLetterQueues",
        dead_letters.list_queues,
        "The work queues, each with its dead-letter queue",
        Answer("Work queues", array("DeadLetterQueue")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        DEAD,
        "listDeadLetters",
        dead_letters.list_dead,
        "A work queue's dead letters (up to 1000), each with its reason and time; none is moved",
        Answer("Dead letters", array("DeadLetter")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "POST",
        DEAD + "/replay",
        "replayDeadLetters",
        dead_letters.replay_dead,
        "Put dead letters back on their queue, after a fix was deployed",
        Answer("How many went back", ref("Settled")),
        ADMIN_ERRORS,
        body=DEAD_PICK,
        bearer=True,
    ),
    Route(
        "POST",
        DEAD + "/drop",
        "dropDeadLetters",
        dead_letters.drop_dead,
        "Remove dead letters for good",
        Answer("How many were removed", ref("Settled")),
        ADMIN_ERRORS,
        body=DEAD_PICK,
        bearer=True,
    ),
)
