"""Ten thousand generated requests against the app in process, on the real broker and database:
bodies near and beyond every rule, broken JSON, odd headers, odd paths. None is answered 5xx,
every answer has the page's error shape or is a 2xx, and nothing is published for a 4xx. The
OCPI routes of the route table get the same treatment, every answer in the OCPI envelope."""

import base64
from collections.abc import AsyncIterator
from typing import Any, Literal
from urllib.parse import quote

import msgspec
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chargehook.ingest.app import create_app
from chargehook.ingest.route_table import ROUTES
from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.broker import OutboundMessage
from chargehook.plumbing.database import Pool
from tests.corpus import good
from tests.ocpi_support import ENVELOPE, Cpo, document, make_cpo, ocpi_pushes, of
from tests.support import ADMIN_TOKEN, IngestServer, Provider

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]
REQUESTS = 10_000


class CountingBroker:
    """The real broker, counting what is published through it."""

    def __init__(self, broker: AmqpBroker) -> None:
        self.broker, self.published = broker, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.broker, name)

    async def publish(
        self, exchange: str, routing_key: str, message: OutboundMessage, mandatory: bool = True
    ) -> None:
        self.published += 1
        await self.broker.publish(exchange, routing_key, message, mandatory)


@pytest.fixture
async def hostile(
    broker: AmqpBroker, pool: Pool, flood: None
) -> AsyncIterator[tuple[Client, CountingBroker]]:
    counting = CountingBroker(broker)
    app = create_app(counting, pool, every_metric(), ADMIN_TOKEN)
    async with TestClient(IngestServer(app)) as client:
        yield client, counting


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FIELDS = ["id", "status", "amount", "charged_kwh", "plug_price", "updatedAt", "started",
          "finished", "currency", "price_unit", "charger", "battery_level"]  # fmt: skip
edited = st.builds(
    lambda changes, drop: {k: v for k, v in {**good(), **changes}.items() if k not in drop},
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=3),
    st.sets(st.sampled_from(FIELDS), max_size=2),
)
bodies = st.one_of(
    edited.map(msgspec.json.encode),
    st.lists(edited, min_size=1, max_size=3).map(msgspec.json.encode),
    json_values.map(msgspec.json.encode),
    st.binary(max_size=200),
    st.sampled_from([b"", b"[", b"{}", b"[]", b"null", b'{"id":"x"', b"[" * 3000]),
    st.sampled_from([b"[" * 1000 + b"]" * 1000, b"9" * 5000]).map(
        lambda deep: b'{"id": "s", "status": "FINISHED", "extra": ' + deep + b"}"
    ),
)
CONTROL: list[Literal["Cc"]] = ["Cc"]  # a header with one is refused by the HTTP client itself
header_values = st.text(st.characters(codec="latin-1", exclude_categories=CONTROL), max_size=300)
requests = st.fixed_dictionaries(
    {
        "body": bodies,
        "auth": st.sampled_from(["provider", "admin", "none", "garbage"]),
        "content_type": st.sampled_from(
            ["application/json", "application/json; charset=utf-8", "text/plain", ""]
        ),
    },
    optional={
        "Idempotency-Key": header_values,
        # (not br: without Brotli installed, aiohttp's HTTP parser answers 400 before the app)
        "Content-Encoding": st.sampled_from(["gzip", "deflate", "identity", "x"]),
    },
)


@settings(
    max_examples=REQUESTS,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=requests)
async def test_no_generated_request_is_a_5xx_and_no_4xx_publishes(
    hostile: tuple[Client, CountingBroker], provider: Provider, request: dict[str, Any]
) -> None:
    client, counting = hostile
    tokens = {"provider": provider.token, "admin": ADMIN_TOKEN, "garbage": "chp_\xe9\xff"}
    headers = {k: v for k, v in request.items() if k[0].isupper()}
    if request["content_type"]:
        headers["Content-Type"] = request["content_type"]
    if request["auth"] in tokens:
        headers["Authorization"] = f"Bearer {tokens[request['auth']]}"
    before = counting.published
    response = await client.post("/v1/sessions", data=request["body"], headers=headers)
    answer = msgspec.json.decode(await response.read())
    assert response.status < 500, answer
    if response.status >= 400:
        assert answer.keys() == {"statusCode", "message", "error"}, answer
        assert answer["statusCode"] == response.status
        assert counting.published == before, "a refused request published"
    else:
        assert counting.published - before == answer["accepted"]


segments = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)


@settings(
    max_examples=1_000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(provider_name=segments, session_id=segments, suffix=st.sampled_from(["", "/events"]))
async def test_no_generated_admin_path_is_a_5xx(
    hostile: tuple[Client, CountingBroker], provider_name: str, session_id: str, suffix: str
) -> None:
    client, _ = hostile
    path = f"/v1/sessions/{quote(provider_name, safe='')}/{quote(session_id, safe='')}{suffix}"
    response = await client.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert response.status < 500, (path, await response.text())
    if response.status >= 400:
        answer = msgspec.json.decode(await response.read())
        assert answer.keys() == {"statusCode", "message", "error"}, answer


# Unregistering would end the CPO's token C, and every later example with it: tested on its own
# in tests/integration/test_ocpi_onboarding.py.
OCPI_ROUTES = [r for r in ROUTES if r.ocpi and r.operation_id != "deleteOcpiCredentials"]
OCPI_DOCUMENTS = {
    "session": document("session_completed"),
    "patch": document("patch_charging_period"),
    "cdr": document("cdr_time_tariff"),
}
OCPI_FIELDS = ["country_code", "party_id", "id", "kwh", "status", "last_updated", "currency",
               "charging_periods", "total_cost", "cdr_token", "start_date_time"]  # fmt: skip


@pytest.fixture
async def ocpi_hostile(
    broker: AmqpBroker, pool: Pool, amqp_url: str, flood: None
) -> AsyncIterator[tuple[Client, CountingBroker, Cpo]]:
    """The app with a CPO of its own, and a queue bound to `ocpi.#` so that pushes route."""
    cpo = await make_cpo(pool)
    counting = CountingBroker(broker)
    app = create_app(counting, pool, every_metric(), ADMIN_TOKEN)
    async with ocpi_pushes(amqp_url), TestClient(IngestServer(app)) as client:
        yield client, counting, cpo


ocpi_requests = st.fixed_dictionaries(
    {
        "route": st.sampled_from(OCPI_ROUTES),
        "document": st.sampled_from(sorted(OCPI_DOCUMENTS)),
        "changes": st.dictionaries(st.sampled_from(OCPI_FIELDS), json_values, max_size=3),
        "drop": st.sets(st.sampled_from(OCPI_FIELDS), max_size=2),
        "raw": st.one_of(st.none(), bodies),
        "segments": st.tuples(  # the party; the id (the session document's, mostly); a part
            st.sampled_from(["own", "lower", "other"]) | segments,
            st.just("s-0002") | segments,
            segments,
        ),
        "auth": st.sampled_from(["base64", "raw", "token A", "bearer", "none", "garbage"]),
        "content_type": st.sampled_from(["application/json", "text/plain", ""]),
    },
    optional={
        "Content-Encoding": st.sampled_from(["gzip", "identity"]),
        "X-Request-ID": header_values,
    },
)


def ocpi_path(route_path: str, cpo: Cpo, chosen: tuple[str, str, str]) -> str:
    """The route's path with its parts: the CPO's own party (or another), or generated text."""
    party, session_id, other = chosen
    parts = {"country_code": party, "party_id": other, "session_id": session_id,
             "cdr_id": session_id}  # fmt: skip
    if party in ("own", "lower"):
        parts["country_code"], parts["party_id"] = cpo.country_code, cpo.party_id
        if party == "lower":
            parts = {name: value.lower() for name, value in parts.items()}
    elif party == "other":
        parts["country_code"], parts["party_id"] = "ZZ", "ZZZ"
    found = route_path
    for name, value in parts.items():
        found = found.replace("{" + name + "}", quote(value, safe=""))
    return found


@settings(
    max_examples=3_000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(request=ocpi_requests)
async def test_no_generated_ocpi_request_is_a_5xx_and_every_answer_is_the_envelope(
    ocpi_hostile: tuple[Client, CountingBroker, Cpo], request: dict[str, Any]
) -> None:
    client, counting, cpo = ocpi_hostile
    route = request["route"]
    body = request["raw"]
    if body is None:
        doc = {k: v for k, v in {**of(cpo, OCPI_DOCUMENTS[request["document"]]),
               **request["changes"]}.items() if k not in request["drop"]}  # fmt: skip
        body = msgspec.json.encode(doc)
    tokens = {"base64": base64.b64encode(cpo.token.encode()).decode(), "raw": cpo.token,
              "token A": cpo.token_a, "garbage": "chp_\xe9\xff"}  # fmt: skip
    headers = {k: v for k, v in request.items() if k[0].isupper()}
    if request["content_type"]:
        headers["Content-Type"] = request["content_type"]
    if request["auth"] in tokens:
        headers["Authorization"] = f"Token {tokens[request['auth']]}"
    elif request["auth"] == "bearer":
        headers["Authorization"] = f"Bearer {cpo.token}"
    path = ocpi_path(route.path, cpo, request["segments"])
    data = None if route.method == "GET" else body
    before = counting.published
    response = await client.request(route.method, path, data=data, headers=headers)
    answer = msgspec.json.decode(await response.read())
    event(f"{route.method} {route.path}: {response.status}")  # --hypothesis-show-statistics
    assert response.status < 500, (route.method, path, answer)
    assert answer.keys() == ENVELOPE, answer
    if response.status >= 400:
        assert answer["status_code"] in (2000, 2001), answer
        assert counting.published == before, "a refused request published"
    else:
        assert answer["status_code"] == 1000
        pushed = route.method in ("PUT", "PATCH") or response.status == 201  # not a stored CDR
        assert counting.published - before == (1 if pushed else 0)
