"""The route table: every HTTP route of every face with its OpenAPI operation, in one entry.

`create_app` serves exactly `ROUTES` and `openapi()` documents exactly `ROUTES`, so a route
cannot be served undocumented nor documented unserved. Path parameters come from the `{name}`
placeholders of the path. The routes are grouped by face: the providers' callbacks, the public
probes, the operators' API (the operators' portal is static files, served beside them).
"""

from chargehook.ingest import probes
from chargehook.ingest.ocpi import credentials, versions
from chargehook.ingest.operators import dead_letters, sessions, subscriptions
from chargehook.ingest.operators import ocpi as cpos
from chargehook.ingest.providers import sessions as callbacks
from chargehook.ingest.route import UNPARSABLE, Answer, Route, array
from chargehook.schemas import DELIVERY_STATUSES
from chargehook.schemas.contract import ref

__all__ = ["ROUTES"]

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

CPOS = "/v1/ocpi/cpos"
CREDENTIALS = "/ocpi/2.2.1/credentials"
# Until the route table documents the OCPI envelope and the Token scheme: plain routes.
OCPI_ENVELOPE = {"type": "object"}
OCPI_ERRORS = (401, 500, 503)
DEAD = "/v1/dead-letters/{queue}"
DEAD_PICK = ref("DeadLetterPick")
ROUTES = (
    Route(
        "POST",
        "/v1/sessions",
        "postSessions",
        callbacks.post_sessions,
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
        sessions.get_session,
        "A session's current state",
        Answer("The greatest event by the persist order", ref("SessionState")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        "/v1/sessions/{provider}/{id}/events",
        "listSessionEvents",
        sessions.get_session_events,
        "A session's history, oldest first",
        Answer("Every stored event", array("StoredEvent")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        "/healthz",
        "getLiveness",
        probes.healthz,
        "Liveness",
        Answer("Alive", {"type": "object"}),
        plain_errors=(UNPARSABLE,),
    ),
    Route(
        "GET",
        "/readyz",
        "getReadiness",
        probes.readyz,
        "Readiness",
        Answer("Ready", {"type": "object"}),
        (503,),
        plain_errors=(UNPARSABLE,),
    ),
    Route(
        "GET",
        "/metrics",
        "getMetrics",
        probes.metrics,
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
    Route(
        "POST",
        CPOS,
        "createOcpiCpo",
        cpos.create,
        "Add an OCPI CPO with the parties it may push for (or parties to one not registered); "
        "its token A is shown once",
        Answer("Added: give the CPO token_a and versions_url", ref("CpoCreated"), 201),
        (*ADMIN_ERRORS, 409),
        body=ref("NewCpo"),
        bearer=True,
    ),
    Route(
        "GET",
        CPOS,
        "listOcpiCpos",
        cpos.list_all,
        "Every OCPI CPO: parties, registration state, endpoints, last push and last error",
        Answer("CPOs by name", array("Cpo")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        CPOS + "/{name}",
        "getOcpiCpo",
        cpos.read,
        "One OCPI CPO",
        Answer("The CPO", ref("Cpo")),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        "/ocpi/versions",
        "getOcpiVersions",
        versions.get_versions,
        "OCPI: the versions chargehook speaks (2.2.1), with token A or token C",
        Answer("The OCPI envelope, data a list of Version", OCPI_ENVELOPE),
        OCPI_ERRORS,
    ),
    Route(
        "GET",
        "/ocpi/2.2.1",
        "getOcpiVersionDetails",
        versions.get_version_details,
        "OCPI: our 2.2.1 endpoints (credentials, sessions and cdrs), with token A or token C",
        Answer("The OCPI envelope, data VersionDetails", OCPI_ENVELOPE),
        OCPI_ERRORS,
    ),
    Route(
        "GET",
        CREDENTIALS,
        "getOcpiCredentials",
        credentials.get_credentials,
        "OCPI: our credentials, with the caller's token C",
        Answer("The OCPI envelope, data Credentials", OCPI_ENVELOPE),
        OCPI_ERRORS,
    ),
    Route(
        "POST",
        CREDENTIALS,
        "registerOcpiCredentials",
        credentials.post_credentials,
        "OCPI: register with token A and the CPO's credentials (token B); answered with token C",
        Answer("The OCPI envelope, data Credentials (token C)", OCPI_ENVELOPE),
        (*OCPI_ERRORS, 405),
        body=OCPI_ENVELOPE,
    ),
    Route(
        "PUT",
        CREDENTIALS,
        "updateOcpiCredentials",
        credentials.put_credentials,
        "OCPI: re-register with token C and new credentials; answered with a new token C",
        Answer("The OCPI envelope, data Credentials (the new token C)", OCPI_ENVELOPE),
        (*OCPI_ERRORS, 405),
        body=OCPI_ENVELOPE,
    ),
    Route(
        "DELETE",
        CREDENTIALS,
        "deleteOcpiCredentials",
        credentials.delete_credentials,
        "OCPI: unregister, with token C",
        Answer("The OCPI envelope, data null", OCPI_ENVELOPE),
        (*OCPI_ERRORS, 405),
    ),
)
