"""The exported contract matches the running code: routes, answers and broker messages."""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import jsonschema
import msgspec
import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate as validate_openapi

from chargehook.ingest.context import INGEST
from chargehook.ingest.openapi import openapi
from chargehook.ingest.operators.portal import PREFIX as PORTAL
from chargehook.ingest.route import Route, paths
from chargehook.ingest.route_table import ROUTES
from chargehook.ocpi import registering
from chargehook.ocpi.parties import PartyTable, parse_party
from chargehook.plumbing.database import Pool
from chargehook.schemas.contract import asyncapi, event_json_schema
from chargehook.webhooks import deliveries
from chargehook.webhooks.deliveries import NewDelivery
from tests import processes
from tests.bill_support import add_bill
from tests.bill_support import correct as correct_bill
from tests.books_support import correct, credit_of, insert, lines, page_bill
from tests.ocpi_cpo import new_name, new_party, simulated_cpo
from tests.ocpi_support import document, encode, headers, make_cpo, ocpi_pushes, of
from tests.support import Provider, event, eventually

NOW = datetime.now(UTC)

EXAMPLE = Path(__file__).parents[2] / "examples" / "page-example.json"
Client = TestClient[Any, Any]


def conforms(document: dict[str, Any], schema: dict[str, Any], value: Any) -> None:
    """Validate `value` against `schema`, resolving refs inside `document`."""
    jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(
        value
    )


def test_the_page_example_validates_against_the_exported_json_schema() -> None:
    schema = event_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    [example] = msgspec.json.decode(EXAMPLE.read_bytes())
    jsonschema.Draft202012Validator(schema).validate(example)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({**example, "status": "DONE"})


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    validate_openapi(openapi())


def is_json_schema(document: dict[str, Any]) -> bool:
    return (
        document.get("$schema") == "https://json-schema.org/draft/2020-12/schema"
        and document.get("$ref") == "#/$defs/Session"
        and "Session" in document.get("$defs", {})
    )


def is_openapi(document: dict[str, Any]) -> bool:
    return document.get("openapi") == "3.1.0" and "/v1/sessions" in document.get("paths", {})


def is_asyncapi(document: dict[str, Any]) -> bool:
    channels = set(document.get("channels", {}))
    return document.get("asyncapi") == "3.0.0" and channels >= {"events", "billed"}


@pytest.mark.parametrize(
    ("name", "exported", "is_that_document"),
    [
        ("json-schema", event_json_schema, is_json_schema),
        ("openapi", openapi, is_openapi),
        ("asyncapi", asyncapi, is_asyncapi),
    ],
    ids=["json-schema", "openapi", "asyncapi"],
)
async def test_the_contract_command_prints_each_document(
    name: str,
    exported: Callable[[], dict[str, Any]],
    is_that_document: Callable[[dict[str, Any]], bool],
) -> None:
    result = await processes.run(["contract", name], processes.chargehook_env())
    assert result.returncode == 0, result.stderr
    printed = msgspec.json.decode(result.stdout)
    assert is_that_document(printed), f"`chargehook contract {name}` printed another document"
    assert printed == exported()


def test_a_route_twice_in_the_table_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        paths([*ROUTES, ROUTES[0]])


@pytest.mark.services
async def test_the_running_app_serves_the_route_table_which_the_document_describes(
    client: Client,
) -> None:
    served = {
        (route.method, route.resource.canonical, route.handler)
        for route in client.app.router.routes()
        if route.method != "HEAD"
        and route.resource is not None
        and not route.resource.canonical.startswith(PORTAL)  # the page, not the API
    }
    assert served == {(route.method, route.path, route.handler) for route in ROUTES}
    assert len(served) == len(ROUTES)
    documented = {
        (method.upper(), path) for path, item in openapi()["paths"].items() for method in item
    }
    assert documented == {(method, path) for method, path, _ in served}


class Documented:
    """Calls the app; checks each answer's status, media type and body against the document."""

    def __init__(self, client: Client) -> None:
        self.client, self.doc = client, openapi()
        self.answered: set[tuple[str, str, int]] = set()

    async def __call__(
        self, method: str, path: str, status: int, ids: dict[str, str] | None = None, **kw: Any
    ) -> Any:
        response = await self.client.request(method, path.format(**(ids or {})), **kw)
        assert response.status == status, await response.text()
        responses = self.doc["paths"][path][method.lower()]["responses"]
        assert str(status) in responses, f"{method} {path} answered {status}, undocumented"
        self.answered.add((method, path, status))
        if "content" not in responses[str(status)]:
            assert await response.read() == b""
            return None
        [(media_type, content)] = responses[str(status)]["content"].items()
        assert response.content_type == media_type
        json = media_type == "application/json"
        value = await response.json() if json else await response.text()
        conforms(self.doc, content["schema"], value)
        return value


def main_answers(routes: Iterable[Route]) -> set[tuple[str, str, int]]:
    """Each route's own success, which a test of the contract must have seen answered."""
    return {(route.method, route.path, route.answer.status) for route in routes}


SESSION = "/v1/sessions/{provider}/{id}"
TEXT = {"Content-Type": "text/plain"}
SUBSCRIPTION = "/v1/subscriptions/{id}"


@pytest.mark.services
async def test_every_route_answers_as_documented(
    api: Client, provider: Provider, admin: dict[str, str], persist_worker: Any, pool: Pool
) -> None:
    call = Documented(api)
    posting = {**provider.auth, "Content-Type": "application/json"}
    await call("POST", "/v1/sessions", 200, data=EXAMPLE.read_bytes(), headers=posting)
    await call("POST", "/v1/sessions", 400, data=b"[]", headers=posting)
    await call("POST", "/v1/sessions", 401, data=b"[]")
    await call("POST", "/v1/sessions", 403, data=b"[]", headers=admin)
    await call("POST", "/v1/sessions", 415, data=b"[]", headers=provider.auth)
    session = {"provider": provider.name, "id": "string"}

    async def stored() -> bool:
        return (await api.get(SESSION.format(**session), headers=admin)).status == 200

    await eventually(stored)
    await call("GET", SESSION, 200, session, headers=admin)
    await call("GET", SESSION + "/events", 200, session, headers=admin)
    await call("GET", SESSION, 404, {**session, "id": "nothing"}, headers=admin)
    await call("GET", SESSION, 403, session, headers=provider.auth)
    assert await call("GET", SESSION + "/cdrs", 200, session, headers=admin) == []
    await books_answer_as_documented(call, pool, provider, admin)
    new_cpo: dict[str, Any] = {"name": new_name(), "parties": [new_party()]}
    added = await call("POST", "/v1/ocpi/cpos", 201, json=new_cpo, headers=admin)
    assert added["token_a"].startswith("chp_")
    await call("POST", "/v1/ocpi/cpos", 400, json={"name": "x"}, headers=admin)
    await call("GET", "/v1/ocpi/cpos", 200, headers=admin)
    await call("GET", "/v1/ocpi/cpos/{name}", 200, {"name": new_cpo["name"]}, headers=admin)
    await call("GET", "/v1/ocpi/cpos/{name}", 404, {"name": "nothing"}, headers=admin)
    for probe in ("/healthz", "/readyz", "/metrics"):
        await call("GET", probe, 200)
        await call("GET", probe, 400, headers={"X-Over-The-Limit": "a" * 8191})  # aiohttp's own

    new = {"url": "http://127.0.0.1:9/hook", "providers": [provider.name]}
    created = await call("POST", "/v1/subscriptions", 201, json=new, headers=admin)
    await call("GET", "/v1/subscriptions", 401)
    await call("GET", "/v1/subscriptions", 200, headers=admin)
    sub = {"id": created["id"]}
    await call("GET", SUBSCRIPTION, 200, sub, headers=admin)
    await call("PATCH", SUBSCRIPTION, 200, sub, json={"description": "contract"}, headers=admin)
    await call("POST", SUBSCRIPTION + "/secret/rotate", 200, sub, headers=admin)
    healths = await call("GET", "/v1/subscription-health", 200, headers=admin)
    assert [h["enabled"] for h in healths if h["id"] == sub["id"]] == [True]
    tested = await call("POST", SUBSCRIPTION + "/test", 200, sub, headers=admin)
    assert tested["succeeded"] is False and tested["error_kind"] == "connect"  # nobody on :9
    made = NewDelivery(sub["id"], provider.name, "string", "e-contract", "0", b"{}", NOW)
    async with pool.acquire() as conn:
        (delivery,) = await deliveries.create(conn, [made])
    await deliveries.set_status(pool, [delivery], "failed", "contract test")
    log = "/v1/subscriptions/{id}/deliveries"
    query = {"status": "failed", "limit": "10"}
    assert await call("GET", log, 200, sub, params=query, headers=admin) != []
    since = {"since": "2020-01-01T00:00:00Z"}
    await call("POST", SUBSCRIPTION + "/recover", 202, sub, json=since, headers=admin)
    replay = SUBSCRIPTION + "/deliveries/{delivery}/replay"
    await call("POST", replay, 202, {**sub, "delivery": delivery}, headers=admin)
    await call("POST", replay, 404, {**sub, "delivery": "nothing"}, headers=admin)
    dead, none = {"queue": "persist"}, {"ids": ["no-such-message"]}
    queues = await call("GET", "/v1/dead-letters", 200, headers=admin)
    assert {"queue": "chargehook.persist", "dead_letter_queue": "chargehook.persist.dead"} in queues
    await call("GET", "/v1/dead-letters/{queue}", 200, dead, headers=admin)
    await call("POST", "/v1/dead-letters/{queue}/replay", 200, dead, json=none, headers=admin)
    await call("POST", "/v1/dead-letters/{queue}/drop", 200, dead, json=none, headers=admin)
    await call("GET", "/v1/dead-letters/{queue}", 404, {"queue": "nothing"}, headers=admin)
    final = await add_bill(pool, 0, provider=provider.name)
    await correct_bill(pool, final, 1, provider=provider.name)  # a credit: money below 0
    ours = {"provider": provider.name, "limit": "2"}
    ledger = await call("GET", "/v1/bills", 200, params=ours, headers=admin)
    assert [bill["kind"] for bill in ledger["bills"]] == ["final", "credit"] and ledger["next"]
    await call("GET", "/v1/bills", 400, params={"kind": "refund"}, headers=admin)
    await call("DELETE", SUBSCRIPTION, 204, sub, headers=admin)
    await call("GET", SUBSCRIPTION, 404, sub, headers=admin)

    page_routes = [route for route in ROUTES if not route.ocpi]
    assert {
        (route.method, route.path, route.answer.status) for route in page_routes
    } <= call.answered


async def books_answer_as_documented(
    call: Documented, pool: Pool, provider: Provider, admin: dict[str, str]
) -> None:
    """The session's chain (a final, its credit and the new final) and today's books."""
    final = {**page_bill("string", "e-contract-1", NOW), **lines("1.25", "0.13", "0.29", "1.67")}
    final["provider"] = provider.name
    first = await insert(pool, final)
    again = {**final, "event_id": "e-contract-2", "refers_to": first}
    await correct(
        pool, credit_of(final, event_id="e-contract-2", refers_to=first, billed_at=NOW), again
    )
    session = {"provider": provider.name, "id": "string"}
    chain = await call("GET", SESSION + "/bills", 200, session, headers=admin)
    assert [bill["kind"] for bill in chain["bills"]] == ["final", "credit", "final"]
    await call("GET", SESSION + "/bills", 404, {**session, "id": "nothing"}, headers=admin)
    today = {"day": NOW.date().isoformat(), "provider": provider.name}
    books = await call("GET", "/v1/reconciliation", 200, params=today, headers=admin)
    assert [(p["finals"], p["credits"]) for p in books["providers"]] == [(2, 1)]
    await call("GET", "/v1/reconciliation", 400, params={"day": "soon"}, headers=admin)


OCPI_SESSION = "/ocpi/2.2.1/sessions/{country_code}/{party_id}/{session_id}"
OCPI_CDR = "/ocpi/2.2.1/cdrs/{country_code}/{party_id}/{cdr_id}"


CREDENTIALS = "/ocpi/2.2.1/credentials"


async def onboarded(call: Documented, pool: Pool) -> None:
    """A simulated CPO through every onboarding route (private URLs allowed: it is on
    loopback), each answer as documented."""
    party = new_party()
    token_a = headers(await registering.add_cpo(pool, new_name(), {parse_party(party)}))
    async with simulated_cpo() as cpo:
        await call("GET", "/ocpi/versions", 200, headers=token_a)
        await call("GET", "/ocpi/versions", 401)
        await call("GET", "/ocpi/2.2.1", 200, headers=token_a)
        offered = cpo.credentials(party)
        given = await call("POST", CREDENTIALS, 200, json=offered, headers=token_a)
        token_c = headers(given["data"]["token"])
        await call("GET", CREDENTIALS, 200, headers=token_c)
        await call("POST", CREDENTIALS, 405, json=offered, headers=token_c)
        await call("POST", CREDENTIALS, 400, json={"token": "b"}, headers=token_c)
        renewed = await call("PUT", CREDENTIALS, 200, json=offered, headers=token_c)
        token_c = headers(renewed["data"]["token"])
        await call("DELETE", CREDENTIALS, 200, headers=token_c)


@pytest.mark.services
async def test_every_ocpi_route_answers_as_documented(
    api: Client, pool: Pool, amqp_url: str
) -> None:
    cpo = await make_cpo(pool)
    parties: PartyTable = api.app[INGEST].parties

    async def loaded() -> bool:  # the party table reloads on the insert's NOTIFY
        return parties.may_push(cpo.name, cpo.country_code, cpo.party_id)

    await eventually(loaded)
    call = Documented(api)
    await onboarded(call, pool)
    token, token_a = headers(cpo.token), headers(cpo.token_a)
    party = {"country_code": cpo.country_code, "party_id": cpo.party_id}
    session = {**party, "session_id": "s-0002"}
    pushed = encode(of(cpo, document("session_completed")))
    patch = encode(document("patch_total_cost"))
    cdr_doc = of(cpo, document("cdr_time_tariff"), id="cdr-contract")
    async with ocpi_pushes(amqp_url):
        await call("PUT", OCPI_SESSION, 200, session, data=pushed, headers=token)
        await call("PUT", OCPI_SESSION, 400, session, data=b"{}", headers=token)
        await call("PUT", OCPI_SESSION, 401, session, data=pushed, headers=token_a)
        await call("PUT", OCPI_SESSION, 403, {**session, "party_id": "ZZZ"}, data=pushed,
                   headers=token)  # fmt: skip
        await call("PATCH", OCPI_SESSION, 200, session, data=patch, headers=token)
        await call("PATCH", OCPI_SESSION, 415, session, data=patch, headers=token | TEXT)
        await call("GET", OCPI_SESSION, 404, session, headers=token)
        await pool.execute(
            "INSERT INTO ocpi_sessions (country_code, party_id, session_id, cpo, pushes,"
            " last_updated, session) VALUES ($1, $2, 's-0002', $3, 1, now(), $4::json)",
            cpo.country_code, cpo.party_id, cpo.name, pushed.decode(),
        )  # fmt: skip
        await call("GET", OCPI_SESSION, 200, session, headers=token)
        await call("POST", "/ocpi/2.2.1/cdrs", 201, data=encode(cdr_doc), headers=token)
        await pool.execute(
            "INSERT INTO ocpi_cdrs (country_code, party_id, cdr_id, cpo, push_id, last_updated,"
            " received_at, body) VALUES ($1, $2, 'cdr-contract', $3, 'p', now(), now(), $4::json)",
            cpo.country_code, cpo.party_id, cpo.name, encode(cdr_doc).decode(),
        )  # fmt: skip
        await call("POST", "/ocpi/2.2.1/cdrs", 200, data=encode(cdr_doc), headers=token)
        changed = encode({**cdr_doc, "remark": "changed"})
        await call("POST", "/ocpi/2.2.1/cdrs", 409, data=changed, headers=token)
        await call("GET", OCPI_CDR, 200, {**party, "cdr_id": "cdr-contract"}, headers=token)
        await call("GET", OCPI_CDR, 404, {**party, "cdr_id": "none"}, headers=token)
        await call("GET", OCPI_CDR, 400, {**party, "cdr_id": "c" * 40}, headers=token)
    ocpi_routes = [route for route in ROUTES if route.ocpi]
    assert {
        (route.method, route.path, route.answer.status) for route in ocpi_routes
    } <= call.answered


@pytest.mark.services
async def test_a_downstream_queue_receives_events_as_the_asyncapi_document_says(
    client: Client, provider: Provider, amqp_url: str
) -> None:
    doc = asyncapi()
    message_doc = doc["components"]["messages"]["SessionEvent"]
    connection = await aio_pika.connect(amqp_url)
    async with connection, connection.channel() as channel:
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind("chargehook.events", f"session.*.{provider.name}")
        headers = {**provider.auth, "Content-Type": "application/json"}
        item = event("s-downstream", "IN_PROGRESS", 3, charged_kwh=1.25)
        await client.post("/v1/sessions", data=msgspec.json.encode(item), headers=headers)

        async def received() -> aio_pika.abc.AbstractIncomingMessage | None:
            return await queue.get(fail=False)

        message = await eventually(received)
        assert message is not None
        await message.ack()
    payload = msgspec.json.decode(message.body)
    conforms(doc, message_doc["payload"], payload)
    conforms(doc, message_doc["headers"], {k: str(v) for k, v in (message.headers or {}).items()})
    assert message.routing_key == f"session.in_progress.{provider.name}"
    assert message.message_id == payload["event_id"] and payload["session"] == item
