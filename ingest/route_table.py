"""The route table: every HTTP route of every face with its OpenAPI operation, in one entry.

`create_app` serves exactly `ROUTES` and `openapi()` documents exactly `ROUTES`, so a route
cannot be served undocumented nor documented unserved. Path parameters come from the `{name}`
placeholders of the path. The routes are grouped by face: the providers' callbacks, the public
probes, the operators' API (the operators' portal is static files, served beside them), the
OCPI face.

One job: the table, entry by entry; one tuple of every face's routes is what keeps the routes
served and the routes documented the same.
"""

from chargehook.billing.export_format import DEFAULT_LIMIT, MAX_LIMIT
from chargehook.ingest import probes
from chargehook.ingest.ocpi import cdrs as ocpi_cdrs
from chargehook.ingest.ocpi import credentials, versions
from chargehook.ingest.ocpi import sessions as ocpi_sessions
from chargehook.ingest.ocpi.pushes import path_schemas
from chargehook.ingest.operators import bills, books, dead_letters, sessions, subscriptions
from chargehook.ingest.operators import ocpi as cpos
from chargehook.ingest.providers import sessions as callbacks
from chargehook.ingest.route import UNPARSABLE, Answer, Route, array
from chargehook.schemas import DELIVERY_STATUSES, PROVIDER_NAME_PATTERN
from chargehook.schemas.bills import BILL_KINDS
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
MOMENT = "an ISO 8601 date-time with an offset (Z, +01:00; + written %2B in a URL), or a date: "
MOMENT += "its midnight UTC"
BILL_FILTERS = (
    {
        "name": "since",
        "in": "query",
        "description": "Billed at or after: " + MOMENT,
        "schema": {"type": "string"},
    },
    {
        "name": "until",
        "in": "query",
        "description": "Billed before: " + MOMENT,
        "schema": {"type": "string"},
    },
    {
        "name": "provider",
        "in": "query",
        "schema": {"type": "string", "pattern": PROVIDER_NAME_PATTERN},
    },
    {"name": "kind", "in": "query", "schema": {"enum": list(BILL_KINDS)}},
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
    {
        "name": "after",
        "in": "query",
        "description": "The `next` of the page before",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
)
BAD_BILL_QUERY = (
    "A parameter that cannot be used, named: a time that is not ISO 8601 or has no offset, "
    "`until` not after `since`, an unknown kind or parameter, one given twice, `limit` out of "
    "range, or an `after` that names no bill"
)
RECONCILE = (
    {
        "name": "day",
        "in": "query",
        "required": True,
        "description": "The UTC day of the bills' billed_at, as YYYY-MM-DD",
        "schema": {"type": "string", "format": "date"},
    },
    {
        "name": "provider",
        "in": "query",
        "required": False,
        "description": "One provider (or CPO); every provider with a final or a credit if left out",
        "schema": {"type": "string", "pattern": PROVIDER_NAME_PATTERN},
    },
)
REPLAYED = Answer("Deliveries queued again", ref("Replayed"), 202)
SUBSCRIPTION = "/v1/subscriptions/{id}"

CPOS = "/v1/ocpi/cpos"
CREDENTIALS = "/ocpi/2.2.1/credentials"
# Reading versions needs a token (A or C) and nothing else; registering adds the body's 400s
# (an invalid object, a role missing, the CPO's API unusable) and 405 for the wrong state.
OCPI_READ_ONLY_ERRORS = (401, 500, 503)
OCPI_REGISTER_ERRORS = (400, 401, 405, 500, 503)
DEAD = "/v1/dead-letters/{queue}"
DEAD_PICK = ref("DeadLetterPick")
# An OCPI push's refusals (a path that cannot be routed is a 404); a read's
OCPI_PUSH_ERRORS = (400, 401, 403, 404, 429, 500, 503)
OCPI_READ_ERRORS = (400, 401, 404, 500, 503)
SESSION_PUSHED = Answer("Confirmed by the broker (status_code 1000, data null)", None)
OCPI_SESSION = path_schemas("country_code", "party_id", "session_id")
OCPI_CDR = path_schemas("country_code", "party_id", "cdr_id")
CDR_LOCATION = (
    ("Location", "The CDR's URL: {public URL}/ocpi/2.2.1/cdrs/{country_code}/{party_id}/{id}"),
)
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
        "/v1/sessions/{provider}/{id}/cdrs",
        "listSessionCdrs",
        sessions.get_session_cdrs,
        "An OCPI Session's CDRs, as the CPO posted them",
        Answer(
            "Every CDR naming the Session, by id; none for a page-shaped session",
            {"type": "array", "items": {"type": "object"}},
        ),
        ADMIN_ERRORS,
        bearer=True,
    ),
    Route(
        "GET",
        "/v1/bills",
        "listBills",
        bills.list_bills,
        "The bills ledger by (billed_at, id), a page at a time, filtered by period, provider and "
        "kind",
        Answer("Up to `limit` bills, and the `after` of the next page", ref("BillsPage")),
        (401, 403, 500, 503),
        parameters=BILL_FILTERS,
        bearer=True,
        error_notes=((400, BAD_BILL_QUERY),),
    ),
    Route(
        "GET",
        "/v1/sessions/{provider}/{id}/bills",
        "listSessionBills",
        books.get_session_bills,
        "A session's bill chain: every bill in id order, each with what it refers to, and its "
        "billed total (its finals and credits)",
        Answer("The bill chain", ref("BillChain")),
        ADMIN_ERRORS,
        bearer=True,
        error_notes=((404, "The session has no bill"),),
    ),
    Route(
        "GET",
        "/v1/reconciliation",
        "getReconciliation",
        books.get_reconciliation,
        "A UTC day's finals and credits per provider: counts, sums, the provider's own figures "
        "beside ours, and every figure more than 0.01 from ours",
        Answer("The day's books, by provider", ref("Reconciliation")),
        (401, 403, 500, 503),
        parameters=RECONCILE,
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
        error_notes=((409, "A party is another CPO's, or the CPO is registered already"),),
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
        Answer("The versions (status_code 1000)", array("OcpiVersion")),
        OCPI_READ_ONLY_ERRORS,
        ocpi=True,
    ),
    Route(
        "GET",
        "/ocpi/2.2.1",
        "getOcpiVersionDetails",
        versions.get_version_details,
        "OCPI: our 2.2.1 endpoints (credentials, sessions and cdrs), with token A or token C",
        Answer("The version details (status_code 1000)", ref("OcpiVersionDetails")),
        OCPI_READ_ONLY_ERRORS,
        ocpi=True,
    ),
    Route(
        "GET",
        CREDENTIALS,
        "getOcpiCredentials",
        credentials.get_credentials,
        "OCPI: our credentials, carrying the caller's token C",
        Answer("Our credentials (status_code 1000)", ref("OcpiCredentials")),
        OCPI_READ_ONLY_ERRORS,
        ocpi=True,
    ),
    Route(
        "POST",
        CREDENTIALS,
        "registerOcpiCredentials",
        credentials.post_credentials,
        "OCPI: register with token A and the CPO's credentials (its token B); we read its "
        "versions with token B and answer with our credentials and its token C",
        Answer(
            "Registered: our credentials with its token C (status_code 1000)",
            ref("OcpiCredentials"),
        ),
        OCPI_REGISTER_ERRORS,
        body=ref("OcpiCredentials"),
        ocpi=True,
    ),
    Route(
        "PUT",
        CREDENTIALS,
        "updateOcpiCredentials",
        credentials.put_credentials,
        "OCPI: re-register with token C and new credentials; answered with a new token C, the "
        "old one ends at once",
        Answer(
            "Registered again: our credentials with its new token C (status_code 1000)",
            ref("OcpiCredentials"),
        ),
        OCPI_REGISTER_ERRORS,
        body=ref("OcpiCredentials"),
        ocpi=True,
    ),
    Route(
        "DELETE",
        CREDENTIALS,
        "deleteOcpiCredentials",
        credentials.delete_credentials,
        "OCPI: unregister, with token C: every token C and the CPO's token B are gone",
        Answer("Unregistered (status_code 1000, data null)", None),
        (401, 405, 500, 503),
        ocpi=True,
    ),
    Route(
        "PUT",
        ocpi_sessions.PATH,
        "putOcpiSession",
        ocpi_sessions.put_session,
        "OCPI: a new or updated Session from its CPO; answered once the broker confirmed it",
        SESSION_PUSHED,
        OCPI_PUSH_ERRORS,
        body=ref("OcpiSession"),
        ocpi=True,
        path_schemas=OCPI_SESSION,
    ),
    Route(
        "PATCH",
        ocpi_sessions.PATH,
        "patchOcpiSession",
        ocpi_sessions.patch_session,
        "OCPI: some fields of a Session, with last_updated; answered once confirmed",
        SESSION_PUSHED,
        OCPI_PUSH_ERRORS,
        body=ref("OcpiSessionPatch"),
        ocpi=True,
        path_schemas=OCPI_SESSION,
    ),
    Route(
        "GET",
        ocpi_sessions.PATH,
        "getOcpiSession",
        ocpi_sessions.get_session,
        "OCPI: a Session of the caller's parties, as merged from its pushes",
        Answer("The Session as stored (status_code 1000)", ref("OcpiSession")),
        OCPI_READ_ERRORS,
        ocpi=True,
        path_schemas=OCPI_SESSION,
    ),
    Route(
        "POST",
        ocpi_cdrs.PATH,
        "postOcpiCdr",
        ocpi_cdrs.post_cdr,
        "OCPI: a new CDR from its CPO; answered once the broker confirmed it",
        Answer("Confirmed by the broker (status_code 1000)", None, 201, headers=CDR_LOCATION),
        (*OCPI_PUSH_ERRORS, 409),
        body=ref("OcpiCdr"),
        ocpi=True,
        also=(Answer("The same CDR is stored already", None, headers=CDR_LOCATION),),
    ),
    Route(
        "GET",
        ocpi_cdrs.ONE,
        "getOcpiCdr",
        ocpi_cdrs.get_cdr,
        "OCPI: a CDR of the caller's parties, at the Location its POST was answered with",
        Answer("The CDR as stored (status_code 1000)", ref("OcpiCdr")),
        OCPI_READ_ERRORS,
        ocpi=True,
        path_schemas=OCPI_CDR,
    ),
)
