"""The HTTP contract of docs/api.md against the real broker and database."""

import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CONTENT_TYPE_LATEST

from chargehook.ingest.app import create_app
from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.amqp import amqp_broker
from chargehook.plumbing.database import open_pool
from chargehook.workers.persist import QUEUE
from tests.corpus import BAD_INPUT, BAD_INPUT_IDS, Bad, encoded, good, names_field
from tests.support import ADMIN_TOKEN, IngestServer, Provider, eventually, queue_depth

pytestmark = pytest.mark.services
EXAMPLE = Path(__file__).parents[2] / "examples" / "page-example.json"
exact = msgspec.json.Decoder(float_hook=Decimal)
Client = TestClient[Any, Any]


async def depth(amqp_url: str) -> int:
    return await queue_depth(amqp_url, QUEUE.name)


async def test_the_page_example_as_it_stands_is_accepted_and_read_back_intact(
    client: Client, provider: Provider, admin: dict[str, str], persist_worker: Any
) -> None:
    body = EXAMPLE.read_bytes()
    response = await client.post("/v1/sessions", data=body, headers=_json(provider))
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["accepted"] == 1 and answer["event_ids"][0].startswith("evt_")

    state = await _read_state(client, provider.name, "string", admin)
    assert exact.decode(msgspec.json.encode(state["session"])) == exact.decode(body)[0]


async def test_unknown_fields_are_kept_verbatim(
    client: Client, provider: Provider, admin: dict[str, str], persist_worker: Any
) -> None:
    item = good(id="s-unknown", vendor_note="kept", charger={"lat": 1.5, "brand_new": [1, 2]})
    raw = msgspec.json.encode(item)
    response = await client.post("/v1/sessions", data=raw, headers=_json(provider))
    assert response.status == 200
    state = await _read_state(client, provider.name, "s-unknown", admin)
    assert state["session"] == item
    events = await (
        await client.get(f"/v1/sessions/{provider.name}/s-unknown/events", headers=admin)
    ).json()
    assert [e["session"] for e in events] == [item]


@pytest.mark.parametrize("case", BAD_INPUT, ids=BAD_INPUT_IDS)
async def test_bad_input_is_a_400_naming_the_field_and_nothing_is_published(
    client: Client, provider: Provider, amqp_url: str, case: Bad
) -> None:
    """The corpus the unit tests run on the intake functions, here through the HTTP edge: the
    same message, as a 400 in the page's error shape, and nothing reaches the broker."""
    before = await depth(amqp_url)
    response = await client.post("/v1/sessions", data=encoded(case.body), headers=_json(provider))
    answer = await response.json()
    assert response.status == 400
    assert answer.keys() == {"statusCode", "message", "error"}
    assert answer["statusCode"] == 400 and answer["error"] == "Bad Request"
    assert answer["message"].startswith(case.message), answer["message"]
    assert names_field(answer["message"], case.field), answer["message"]
    assert await depth(amqp_url) == before


@pytest.mark.parametrize(
    ("headers", "data", "status", "message"),
    [
        ({}, b"{}", 401, "Missing bearer token"),
        ({"Authorization": "Bearer nope"}, b"{}", 401, "Unknown token"),
        ({"Authorization": "Basic abc"}, b"{}", 401, "Missing bearer token"),
        ("admin", b"{}", 403, "The admin token cannot post sessions"),
        ("provider-text", b"{}", 415, "Expected Content-Type application/json"),
        ("provider", b"{not json", 400, "Body is not valid JSON"),
        ("provider", b"", 400, "Body is not valid JSON"),
        ("provider", b"[" + b" " * (1 << 20) + b"]", 413, "Request body exceeds 1048576 bytes"),
    ],
    ids=[
        "no token",
        "wrong token",
        "not bearer",
        "admin posts",
        "not json type",
        "malformed",
        "empty",
        "too large",
    ],
)
async def test_refused_requests_answer_in_the_page_shape_and_publish_nothing(
    client: Client,
    provider: Provider,
    admin: dict[str, str],
    amqp_url: str,
    headers: Any,
    data: bytes,
    status: int,
    message: str,
) -> None:
    named = {
        "admin": {**admin, "Content-Type": "application/json"},
        "provider": _json(provider),
        "provider-text": {**provider.auth, "Content-Type": "text/plain"},
    }
    chosen: dict[str, str] = (
        named[headers]
        if isinstance(headers, str)
        else {**headers, "Content-Type": "application/json"}
    )
    before = await depth(amqp_url)
    response = await client.post("/v1/sessions", data=io.BytesIO(data), headers=chosen)
    answer = await response.json()
    assert response.status == status
    assert answer["statusCode"] == status and answer["message"].startswith(message), answer
    assert await depth(amqp_url) == before


async def test_admin_reads_refuse_provider_tokens_and_missing_sessions(
    client: Client, provider: Provider, admin: dict[str, str]
) -> None:
    refused = await client.get(f"/v1/sessions/{provider.name}/s-1", headers=provider.auth)
    assert refused.status == 403
    assert (await refused.json())["message"] == "A provider token cannot use the admin API"
    missing = await client.get(f"/v1/sessions/{provider.name}/nope", headers=admin)
    assert missing.status == 404 and (await missing.json())["error"] == "Not Found"
    unknown_route = await client.get("/v2/anything")
    assert (await unknown_route.json())["statusCode"] == 404


async def test_idempotency_key_names_the_event_and_is_for_single_items(
    client: Client, provider: Provider
) -> None:
    headers = {**_json(provider), "Idempotency-Key": "callback-42"}
    one = await client.post("/v1/sessions", data=msgspec.json.encode(good()), headers=headers)
    assert (await one.json())["event_ids"] == ["callback-42"]
    two = await client.post(
        "/v1/sessions", data=msgspec.json.encode([good(), good()]), headers=headers
    )
    assert two.status == 400 and "single session object" in (await two.json())["message"]


async def test_a_reused_idempotency_key_with_another_body_is_a_409(
    client: Client, provider: Provider, admin: dict[str, str], amqp_url: str, persist_worker: Any
) -> None:
    headers = {**_json(provider), "Idempotency-Key": "callback-409"}
    first = msgspec.json.encode(good(id="s-409"))
    assert (await client.post("/v1/sessions", data=first, headers=headers)).status == 200
    await _read_state(client, provider.name, "s-409", admin)  # stored: the key is taken
    before = await queue_depth(amqp_url, "chargehook.billing")  # nothing consumes it here
    other = msgspec.json.encode(good(id="s-not-409"))
    refused = await client.post("/v1/sessions", data=other, headers=headers)
    answer = await refused.json()
    assert refused.status == 409 and answer["error"] == "Conflict", answer
    assert answer["statusCode"] == 409 and "callback-409" in answer["message"]
    assert await queue_depth(amqp_url, "chargehook.billing") == before
    retried = await client.post("/v1/sessions", data=first, headers=headers)  # the same body
    assert retried.status == 200 and (await retried.json())["event_ids"] == ["callback-409"]


async def test_health_readiness_and_metrics(client: Client, provider: Provider) -> None:
    assert (await client.get("/healthz")).status == 200
    ready = await client.get("/readyz")
    assert ready.status == 200 and await ready.json() == {
        "status": "ready",
        "broker": True,
        "database": True,
    }
    await client.post("/v1/sessions", data=msgspec.json.encode(good()), headers=_json(provider))
    text = await (await client.get("/metrics")).text()
    assert f'chargehook_events_accepted_total{{provider="{provider.name}"}} 1' in text


async def test_metrics_time_requests_and_publish_confirms(
    amqp_url: str, pool: Any, provider: Provider
) -> None:
    metrics = every_metric()  # one for ingest and its broker, as the composition root wires them
    async with amqp_broker(amqp_url, "metrics test", 2, metrics) as broker:
        app = create_app(broker, pool, metrics, ADMIN_TOKEN)
        async with TestClient(IngestServer(app)) as client:
            posted = await client.post(
                "/v1/sessions", data=msgspec.json.encode(good()), headers=_json(provider)
            )
            assert posted.status == 200
            answer = await client.get("/metrics")
            text = await answer.text()
    assert answer.headers["Content-Type"] == CONTENT_TYPE_LATEST
    route = 'route="/v1/sessions",status="200"'
    assert f"chargehook_http_request_seconds_count{{{route}}} 1.0\n" in text
    assert 'chargehook_publish_confirm_seconds_count{exchange="chargehook.events"} 1.0\n' in text


def _json(provider: Provider) -> dict[str, str]:
    return {**provider.auth, "Content-Type": "application/json"}


async def _read_state(client: Client, provider: str, session_id: str, admin: dict[str, str]) -> Any:
    async def stored() -> Any:
        response = await client.get(f"/v1/sessions/{provider}/{session_id}", headers=admin)
        return await response.json() if response.status == 200 else None

    return await eventually(stored)


async def test_a_database_outage_is_a_503_not_a_500(
    broker: Any, pool: Any, database_url: str, admin: dict[str, str]
) -> None:
    """`pool` is asked for so the schema exists; the app gets a pool of its own to break."""
    async with open_pool(database_url) as own_pool:
        app = create_app(broker, own_pool, every_metric(), ADMIN_TOKEN)
        async with TestClient(IngestServer(app)) as client:
            own_pool.terminate()  # every query from now on fails as if PostgreSQL were gone
            response = await client.get("/v1/sessions/p/s", headers=admin)
            answer = await response.json()
    assert response.status == 503 and response.headers["Retry-After"] == "5"
    assert answer == {
        "statusCode": 503,
        "message": "The database is unavailable; retry shortly",
        "error": "Service Unavailable",
    }
