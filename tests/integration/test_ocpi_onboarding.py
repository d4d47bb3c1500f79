"""Onboarding an OCPI CPO on a running ingest, the real PostgreSQL and broker, with a simulated
CPO on loopback (tests/ocpi_cpo.py): token A from the admin API, our versions, registering
with token B (its API read back with it), token C, re-registering, unregistering, and every
refusal the spec asks for. The CPO's token B is never shown."""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp.test_utils import TestClient

from chargehook.ingest.app import create_app
from chargehook.ingest.context import INGEST
from chargehook.metrics_catalog import every_metric
from chargehook.ocpi import cpo_client, cpos, registering
from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.database import Pool
from chargehook.schemas.ocpi_transport import credentials_decoder
from chargehook.workers import ALL_QUEUES
from lab.services import free_port
from tests.ocpi_cpo import (
    SimulatedCpo,
    new_name,
    new_party,
    raw_token_header,
    simulated_cpo,
    token_header,
)
from tests.support import ADMIN_TOKEN, IngestServer, Provider, eventually

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]
PUBLIC = "https://chargehook.example"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CREDENTIALS = "/ocpi/2.2.1/credentials"
OURS = {
    "role": "EMSP",
    "party_id": "CHG",
    "country_code": "ES",
    "business_details": {"name": "chargehook"},
}


async def ingest_app(broker: AmqpBroker, pool: Pool, allow_private: bool) -> Client:
    app = create_app(
        broker, pool, every_metric(), ADMIN_TOKEN, allow_private_urls=allow_private,
        queues=ALL_QUEUES, public_url=PUBLIC + "/",
    )  # fmt: skip
    return TestClient(IngestServer(app))


@pytest.fixture
async def ocpi(broker: AmqpBroker, pool: Pool) -> AsyncIterator[Client]:
    """Ingest with private URLs allowed: the simulated CPO lives on loopback."""
    async with await ingest_app(broker, pool, allow_private=True) as client:
        yield client


@pytest.fixture
async def cpo() -> AsyncIterator[SimulatedCpo]:
    async with simulated_cpo() as cpo:
        yield cpo


async def add_cpo(client: Client, *parties: str) -> tuple[str, str]:
    """A CPO of the test's own, added on the admin API: its name and token A."""
    name = new_name()
    added = await client.post("/v1/ocpi/cpos", json={"name": name, "parties": list(parties)},
                              headers=ADMIN)  # fmt: skip
    body = await added.json()
    assert added.status == 201, body
    assert body["versions_url"] == f"{PUBLIC}/ocpi/versions" and body["name"] == name
    return name, body["token_a"]


async def call(
    client: Client, method: str, path: str, token: str, body: object = None
) -> tuple[int, dict[str, Any]]:
    """An OCPI call with `Authorization: Token <Base64>`: the HTTP status and the envelope."""
    answer = await client.request(method, path, headers=token_header(token), json=body)
    envelope: dict[str, Any] = await answer.json()
    assert {"status_code", "timestamp"} <= envelope.keys(), envelope
    return answer.status, envelope


async def cpo_view(client: Client, name: str) -> dict[str, Any]:
    read = await client.get(f"/v1/ocpi/cpos/{name}", headers=ADMIN)
    assert read.status == 200
    found: dict[str, Any] = await read.json()
    return found


async def refused(client: Client, path: str, token: str) -> bool:
    return (await call(client, "GET", path, token))[0] == 401


async def test_a_cpo_registers_reregisters_and_unregisters(
    ocpi: Client, cpo: SimulatedCpo, pool: Pool
) -> None:
    party = new_party()
    name, token_a = await add_cpo(ocpi, party)
    assert (await cpo_view(ocpi, name))["parties"] == [party.upper()]

    # token A reads our versions, sent Base64-encoded or raw
    for header in (token_header(token_a), raw_token_header(token_a)):
        versions = await ocpi.get("/ocpi/versions", headers=header)
        assert versions.status == 200
        assert (await versions.json())["data"] == [
            {"version": "2.2.1", "url": f"{PUBLIC}/ocpi/2.2.1"}
        ]
    status, details = await call(ocpi, "GET", "/ocpi/2.2.1", token_a)
    assert status == 200 and details["status_code"] == 1000
    assert details["data"] == {
        "version": "2.2.1",
        "endpoints": [
            {"identifier": "credentials", "role": "SENDER", "url": f"{PUBLIC}{CREDENTIALS}"},
            {"identifier": "sessions", "role": "RECEIVER", "url": f"{PUBLIC}/ocpi/2.2.1/sessions"},
            {"identifier": "cdrs", "role": "RECEIVER", "url": f"{PUBLIC}/ocpi/2.2.1/cdrs"},
        ],
    }
    assert (await call(ocpi, "GET", CREDENTIALS, token_a))[0] == 401  # token C's call

    # POST with token A: we read the CPO's API with its token B and answer with token C
    status, registered = await call(ocpi, "POST", CREDENTIALS, token_a, cpo.credentials(party))
    assert (status, registered["status_code"]) == (200, 1000), registered
    token_c = registered["data"]["token"]
    assert token_c.startswith("chp_") and token_c != token_a
    assert registered["data"] == {"token": token_c, "url": f"{PUBLIC}/ocpi/versions",
                                  "roles": [OURS]}  # fmt: skip
    b = token_header(cpo.token_b)["Authorization"]
    assert cpo.calls == [("/ocpi/cpo/versions", b), ("/ocpi/cpo/2.2.1", b)]
    view = await cpo_view(ocpi, name)
    assert view["state"] == "registered" and view["registered_at"] is not None
    assert view["endpoints"] == cpo.endpoints and view["versions_url"] == cpo.versions_url
    assert view["version"] == "2.2.1"
    stored = await pool.fetchval("SELECT token_b FROM ocpi_cpos WHERE name = $1", name)
    assert stored == cpo.token_b  # kept to call the CPO

    await eventually(lambda: refused(ocpi, "/ocpi/versions", token_a), within=5)
    status, ours = await call(ocpi, "GET", CREDENTIALS, token_c)
    assert status == 200 and ours["data"]["token"] == token_c and ours["data"]["roles"] == [OURS]
    status, again = await call(ocpi, "POST", CREDENTIALS, token_c, cpo.credentials(party))
    assert (status, again["status_code"]) == (405, 2000), again

    # PUT with token C: a new token B read back, a new token C, the old one ends at once
    cpo.token_b, cpo.calls = "cpo-b-renewed", []
    status, renewed = await call(ocpi, "PUT", CREDENTIALS, token_c, cpo.credentials(party))
    assert (status, renewed["status_code"]) == (200, 1000), renewed
    token_c2 = renewed["data"]["token"]
    assert token_c2 not in (token_a, token_c) and len(cpo.calls) == 2
    await eventually(lambda: refused(ocpi, CREDENTIALS, token_c), within=5)
    assert (await call(ocpi, "GET", CREDENTIALS, token_c2))[0] == 200

    # DELETE with token C: unregistered, every token C and token B gone
    status, gone = await call(ocpi, "DELETE", CREDENTIALS, token_c2)
    assert (status, gone["status_code"], gone["data"]) == (200, 1000, None)
    assert (await cpo_view(ocpi, name))["state"] == "unregistered"
    assert await pool.fetchval("SELECT token_b FROM ocpi_cpos WHERE name = $1", name) is None
    await eventually(lambda: refused(ocpi, CREDENTIALS, token_c2), within=5)

    # a fresh token A registers it again
    token_a2 = await registering.issue_token_a(pool, name)
    status, back = await call(ocpi, "POST", CREDENTIALS, token_a2, cpo.credentials(party))
    assert (status, back["status_code"]) == (200, 1000), back
    assert (await cpo_view(ocpi, name))["state"] == "registered"


async def test_put_and_delete_before_registering_are_405(ocpi: Client, cpo: SimulatedCpo) -> None:
    party = new_party()
    _, token_a = await add_cpo(ocpi, party)
    status, put = await call(ocpi, "PUT", CREDENTIALS, token_a, cpo.credentials(party))
    assert (status, put["status_code"]) == (405, 2000)
    status, deleted = await call(ocpi, "DELETE", CREDENTIALS, token_a)
    assert (status, deleted["status_code"]) == (405, 2000)
    assert cpo.calls == []


async def test_roles_must_name_a_registered_party_as_cpo(ocpi: Client, cpo: SimulatedCpo) -> None:
    party, other = new_party(), new_party()
    name, token_a = await add_cpo(ocpi, party)
    for offered in (cpo.credentials(other), cpo.credentials(party, role="EMSP")):
        status, answer = await call(ocpi, "POST", CREDENTIALS, token_a, offered)
        assert (status, answer["status_code"]) == (400, 2001), answer
        assert answer["status_message"].startswith("$.roles:")
        assert party.upper() in answer["status_message"]
    assert cpo.calls == [] and (await cpo_view(ocpi, name))["state"] == "token_a_issued"

    # an offered party the operator did not register is ignored, not added
    status, answer = await call(ocpi, "POST", CREDENTIALS, token_a, cpo.credentials(party, other))
    assert (status, answer["status_code"]) == (200, 1000), answer
    assert (await cpo_view(ocpi, name))["parties"] == [party.upper()]


async def test_an_unreachable_cpo_is_3001_and_nothing_is_registered(
    ocpi: Client, cpo: SimulatedCpo
) -> None:
    party = new_party()
    name, token_a = await add_cpo(ocpi, party)
    offered = {**cpo.credentials(party), "url": f"http://127.0.0.1:{free_port()}/versions"}
    status, answer = await call(ocpi, "POST", CREDENTIALS, token_a, offered)
    assert (status, answer["status_code"], answer["data"]) == (400, 3001, None), answer
    assert "could not be reached" in answer["status_message"]
    view = await cpo_view(ocpi, name)
    assert view["state"] == "token_a_issued" and view["endpoints"] == []
    assert view["versions_url"] is None and "could not be reached" in view["last_error"]
    assert (await call(ocpi, "GET", "/ocpi/versions", token_a))[0] == 200  # token A still works


async def test_a_cpo_without_2_2_1_is_3002_and_unusable_details_3003(
    ocpi: Client, cpo: SimulatedCpo
) -> None:
    party = new_party()
    name, token_a = await add_cpo(ocpi, party)
    cpo.version = "2.1.1"
    status, answer = await call(ocpi, "POST", CREDENTIALS, token_a, cpo.credentials(party))
    assert (status, answer["status_code"]) == (400, 3002), answer
    cpo.version, cpo.details_version = "2.2.1", "2.2"
    status, answer = await call(ocpi, "POST", CREDENTIALS, token_a, cpo.credentials(party))
    assert (status, answer["status_code"]) == (400, 3003), answer
    assert (await cpo_view(ocpi, name))["state"] == "token_a_issued"


async def test_a_cpo_refusing_token_b_is_3001(ocpi: Client, cpo: SimulatedCpo) -> None:
    party = new_party()
    _, token_a = await add_cpo(ocpi, party)
    offered = {**cpo.credentials(party), "token": "not-its-token-b"}
    status, answer = await call(ocpi, "POST", CREDENTIALS, token_a, offered)
    assert (status, answer["status_code"]) == (400, 3001), answer
    assert "HTTP 401" in answer["status_message"]


@pytest.mark.parametrize(
    ("behaviour", "why"),
    [
        ("slow", "did not answer within 0.5 s"),
        ("redirect", "answered HTTP 302"),  # not followed: a redirect could reach anything
        ("huge", "answered with a body over 1048576 bytes"),
    ],
)
async def test_a_slow_redirecting_or_huge_answer_is_3001(
    ocpi: Client, cpo: SimulatedCpo, monkeypatch: pytest.MonkeyPatch, behaviour: str, why: str
) -> None:
    monkeypatch.setattr(cpo_client, "TIMEOUT", aiohttp.ClientTimeout(total=0.5))
    party, cpo.behaviour = new_party(), behaviour
    name, token_a = await add_cpo(ocpi, party)
    status, answer = await call(ocpi, "POST", CREDENTIALS, token_a, cpo.credentials(party))
    assert (status, answer["status_code"]) == (400, 3001), answer
    assert answer["status_message"].endswith(f"{cpo.versions_url} {why}")
    assert len(cpo.calls) == 1  # the redirect's target was never asked
    assert (await cpo_view(ocpi, name))["state"] == "token_a_issued"


async def test_a_private_cpo_url_is_refused_unless_allowed(
    broker: AmqpBroker, pool: Pool, cpo: SimulatedCpo
) -> None:
    async with await ingest_app(broker, pool, allow_private=False) as guarded:
        party = new_party()
        _, token_a = await add_cpo(guarded, party)
        status, answer = await call(guarded, "POST", CREDENTIALS, token_a, cpo.credentials(party))
    assert (status, answer["status_code"]) == (400, 3001), answer
    assert "loopback address" in answer["status_message"]
    assert cpo.calls == []  # never called


async def test_the_admin_api_adds_lists_and_reads_cpos_and_never_shows_token_b(
    ocpi: Client, cpo: SimulatedCpo, provider: Provider
) -> None:
    party, second = new_party(), new_party()
    name, token_a = await add_cpo(ocpi, party)
    await call(ocpi, "POST", CREDENTIALS, token_a, cpo.credentials(party))
    listed = await ocpi.get("/v1/ocpi/cpos", headers=ADMIN)
    text = await listed.text()
    assert listed.status == 200 and name in text
    [mine] = [found for found in await listed.json() if found["name"] == name]
    assert mine == await cpo_view(ocpi, name)
    assert mine["state"] == "registered" and mine["last_push_at"] is None
    assert cpo.token_b not in text and "token_b" not in text
    assert cpo.token_b not in await (await ocpi.get(f"/v1/ocpi/cpos/{name}", headers=ADMIN)).text()

    # a party is one CPO's; a registered CPO takes no token A
    taken = await ocpi.post("/v1/ocpi/cpos", json={"name": new_name(), "parties": [second, party]},
                            headers=ADMIN)  # fmt: skip
    assert taken.status == 409 and party.upper() in (await taken.json())["message"]
    again = await ocpi.post("/v1/ocpi/cpos", json={"name": name, "parties": [second]},
                            headers=ADMIN)  # fmt: skip
    assert again.status == 409 and "registered" in (await again.json())["message"]
    assert (await cpo_view(ocpi, name))["parties"] == [party.upper()]  # nothing added

    bad = await ocpi.post("/v1/ocpi/cpos", json={"name": new_name(), "parties": ["ESP-AB"]},
                          headers=ADMIN)  # fmt: skip
    assert bad.status == 400 and "$.parties[0]" in (await bad.json())["message"]
    assert (await ocpi.get("/v1/ocpi/cpos/no-such-cpo", headers=ADMIN)).status == 404
    for path in ("/v1/ocpi/cpos", f"/v1/ocpi/cpos/{name}"):
        assert (await ocpi.get(path)).status == 401
        assert (await ocpi.get(path, headers=provider.auth)).status == 403
        assert (await ocpi.get(path, headers=token_header(token_a))).status == 401


async def test_a_cpo_not_registered_gets_more_parties_and_a_fresh_token_a(ocpi: Client) -> None:
    party, more = new_party(), new_party()
    name, token_a = await add_cpo(ocpi, party)
    again = await ocpi.post("/v1/ocpi/cpos", json={"name": name, "parties": [more]},
                            headers=ADMIN)  # fmt: skip
    assert again.status == 201
    fresh = (await again.json())["token_a"]
    assert sorted((await cpo_view(ocpi, name))["parties"]) == sorted([party.upper(), more.upper()])
    await eventually(lambda: refused(ocpi, "/ocpi/versions", token_a), within=5)
    assert (await call(ocpi, "GET", "/ocpi/versions", fresh))[0] == 200


async def test_a_refused_push_is_the_cpos_last_error(ocpi: Client, cpo: SimulatedCpo) -> None:
    party = new_party()
    name, token_a = await add_cpo(ocpi, party)
    _, registered = await call(ocpi, "POST", CREDENTIALS, token_a, cpo.credentials(party))
    path = "/ocpi/2.2.1/sessions/ZZ/ZZZ/s-1"  # a party that is not its own
    status, refusal = await call(ocpi, "PUT", path, registered["data"]["token"], {})
    assert (status, refusal["status_code"]) == (403, 2000), refusal
    view = await cpo_view(ocpi, name)
    assert view["last_error"] == f"PUT {path}: 403 {refusal['status_message']}"
    assert view["last_error_at"] is not None


async def test_token_a_never_changes_a_registration_even_before_ingest_forgets_it(
    ocpi: Client, cpo: SimulatedCpo
) -> None:
    """An ingest that has not yet heard (by NOTIFY) that token A went still knows it: the use
    case refuses a PUT or a DELETE by token A whatever the CPO's state."""
    party = new_party()
    name, token_a = await add_cpo(ocpi, party)
    status, _ = await call(ocpi, "POST", CREDENTIALS, token_a, cpo.credentials(party))
    assert status == 200
    registry = ocpi.app[INGEST].registry
    offered = credentials_decoder.decode(msgspec.json.encode(cpo.credentials(party)))
    with pytest.raises(registering.RegistrationError) as put:
        await registering.reregister(registry, name, offered, "ocpi_registration")
    with pytest.raises(registering.RegistrationError) as deleted:
        await registering.unregister(registry, name, "ocpi_registration")
    assert (put.value.http_status, deleted.value.http_status) == (405, 405)
    assert (await cpo_view(ocpi, name))["state"] == "registered"


async def test_a_provider_of_page_shaped_callbacks_cannot_become_a_cpo(
    pool: Pool, provider: Provider
) -> None:
    with pytest.raises(cpos.CpoConflict, match="posting page-shaped callbacks"):
        await registering.add_cpo(pool, provider.name, {("ES", "CBK")})
    assert await pool.fetchval("SELECT count(*) FROM ocpi_cpos WHERE name = $1", provider.name) == 0
