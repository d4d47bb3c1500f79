"""The OCPI face's Sessions receiver over HTTP, on the real broker and a throwaway database:
pushes accepted are published as OcpiPush messages on `chargehook.events`, refused ones are
answered in the envelope with the right OCPI status and publish nothing, and GET answers the
stored merge verbatim. The CDRs receiver is in test_ocpi_face_cdrs.py."""

import base64
import io
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient

from chargehook.ingest.app import create_app
from chargehook.ingest.context import INGEST
from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.database import Pool
from chargehook.plumbing.errors import BrokerUnavailable
from chargehook.providers.store import add_provider
from chargehook.schemas import SCHEMA_VERSION
from chargehook.sessions.intake import MAX_BODY_BYTES
from chargehook.workers.ocpi import QUEUE as OCPI_QUEUE
from chargehook.workers.ocpi import OcpiWorker
from tests.integration.test_hostile_suite import CountingBroker
from tests.ocpi_support import (
    PUBLIC_URL,
    Cpo,
    Pushes,
    document,
    encode,
    enveloped,
    headers,
    of,
)
from tests.support import ADMIN_TOKEN, IngestServer, consuming, eventually, purge
from tests.unit.test_ocpi_schemas import BAD, COMPLETED, PATCH_COST, P, S, edited

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]
PENDING = document("session_pending")
PATCH_PERIOD = document("patch_charging_period")


async def test_a_put_is_published_as_an_ocpi_push_and_answered_200_with_data_null(
    face: Client, cpo: Cpo, pushes: Pushes
) -> None:
    body = encode(of(cpo, COMPLETED))
    url = cpo.url("s-0002", cpo.country_code.lower(), cpo.party_id.lower())
    response = await face.put(url, data=body, headers=headers(cpo.token))
    answer = await enveloped(response, 200, 1000)
    assert answer["data"] is None
    message, push = await pushes.next()
    assert message.routing_key == f"ocpi.session_put.{cpo.name}"
    assert message.message_id == push.push_id and push.push_id.startswith("ocpi_")
    assert message.headers == {
        "kind": "session_put",
        "provider": cpo.name,
        "schema_version": SCHEMA_VERSION,
    }
    assert (push.cpo, push.kind, push.object_id) == (cpo.name, "session_put", "s-0002")
    assert (push.country_code, push.party_id) == (cpo.country_code, cpo.party_id)  # upper case
    assert push.last_updated == datetime(2026, 3, 1, 11, 5, 31, tzinfo=UTC)
    assert bytes(push.body) == body  # verbatim
    assert await pushes.none()


async def test_a_patch_is_published_and_the_same_push_again_has_the_same_id(
    face: Client, cpo: Cpo, pushes: Pushes
) -> None:
    pushed = [
        await face.patch(cpo.url("s-0002"), data=encode(body), headers=headers(cpo.token))
        for body in (PATCH_PERIOD, PATCH_PERIOD)
    ]
    for response in pushed:
        await enveloped(response, 200, 1000)
    (first, push), (_, again) = await pushes.next(), await pushes.next()
    assert first.routing_key == f"ocpi.session_patch.{cpo.name}"
    assert push.kind == "session_patch" and bytes(push.body) == encode(PATCH_PERIOD)
    assert again.push_id == push.push_id


async def test_a_patch_without_last_updated_is_a_2001_naming_it(
    face: Client, cpo: Cpo, pushes: Pushes
) -> None:
    body = {key: value for key, value in PATCH_COST.items() if key != "last_updated"}
    response = await face.patch(cpo.url("s-1"), data=encode(body), headers=headers(cpo.token))
    answer = await enveloped(response, 400, 2001)
    assert "`last_updated`" in answer["status_message"], answer
    assert await pushes.none()


@pytest.mark.parametrize("encoding", ["raw", "base64", "base64 of the token and a newline"])
async def test_token_c_raw_or_base64_is_accepted(
    face: Client, cpo: Cpo, pushes: Pushes, encoding: str
) -> None:
    sent = {"Content-Type": "application/json"}
    if encoding == "raw":
        sent["Authorization"] = f"Token {cpo.token}"
    elif encoding == "base64":
        sent = headers(cpo.token)
    else:  # `echo token | base64`, as the spec's own example
        sent["Authorization"] = "Token " + base64.b64encode(f"{cpo.token}\n".encode()).decode()
    response = await face.put(cpo.url("s-0001"), data=encode(of(cpo, PENDING)), headers=sent)
    await enveloped(response, 200, 1000)
    assert (await pushes.next())[1].cpo == cpo.name


@pytest.mark.parametrize(
    ("who", "message"),
    [
        ("nobody", "Missing credentials token"),
        ("unknown", "Unknown credentials token"),
        ("bearer", "Missing credentials token"),
        ("token A", "A registration token (token A)"),
        ("callbacks", "A provider's callback token cannot call OCPI routes"),
    ],
)
async def test_a_push_without_token_c_is_a_401_and_publishes_nothing(
    face: Client, cpo: Cpo, pool: Pool, pushes: Pushes, who: str, message: str
) -> None:
    sent = {"Content-Type": "application/json"}
    if who == "unknown":
        sent = headers("not-a-token-anyone-issued")
    elif who == "bearer":
        sent["Authorization"] = f"Bearer {cpo.token}"
    elif who == "token A":
        sent = headers(cpo.token_a)
    elif who == "callbacks":
        sent = headers(await add_provider(pool, f"{cpo.name}-callbacks"))
    body = encode(of(cpo, PENDING))
    answer = await enveloped(await face.put(cpo.url("s-0001"), data=body, headers=sent), 401, 2000)
    assert answer["status_message"].startswith(message), answer
    assert await pushes.none()


async def test_a_push_for_another_cpos_party_is_a_403_and_publishes_nothing(
    face: Client, cpo: Cpo, other_cpo: Cpo, pushes: Pushes
) -> None:
    theirs = encode(of(other_cpo, PENDING))
    response = await face.put(other_cpo.url("s-0001"), data=theirs, headers=headers(cpo.token))
    answer = await enveloped(response, 403, 2000)
    party = f"{other_cpo.country_code}/{other_cpo.party_id}"
    assert answer["status_message"] == f"Party {party} is not one of {cpo.name}'s parties"
    patch = await face.patch(
        other_cpo.url("s-0001"), data=encode(PATCH_COST), headers=headers(cpo.token)
    )
    await enveloped(patch, 403, 2000)
    assert await pushes.none()


@pytest.mark.parametrize(
    ("field", "url_part"),
    [("country_code", "country_code"), ("party_id", "party_id"), ("id", "session_id")],
)
async def test_a_body_that_disagrees_with_the_url_is_a_2001_naming_the_field(
    face: Client, cpo: Cpo, other_cpo: Cpo, pushes: Pushes, field: str, url_part: str
) -> None:
    """The URL is the caller's party and the body, otherwise good, names another."""
    elsewhere = {
        "country_code": other_cpo.country_code,
        "party_id": other_cpo.party_id,
        "id": "s-9",
    }
    body = encode(of(cpo, PENDING, **{field: elsewhere[field]}))
    url = cpo.url("s-0001")
    for method in ("PUT", "PATCH"):
        patch = of(cpo, PATCH_COST, **{field: elsewhere[field]})
        sent = body if method == "PUT" else encode(patch)
        response = await face.request(method, url, data=sent, headers=headers(cpo.token))
        answer = await enveloped(response, 400, 2001)
        assert answer["status_message"].startswith(f"$.{field}: Expected "), answer
    assert await pushes.none()


async def test_the_body_and_the_url_codes_are_compared_case_insensitively_the_id_exactly(
    face: Client, cpo: Cpo, pushes: Pushes
) -> None:
    body = encode(of(cpo, PENDING, country_code=cpo.country_code.lower(), id="s-0001"))
    response = await face.put(cpo.url("s-0001"), data=body, headers=headers(cpo.token))
    await enveloped(response, 200, 1000)
    pushed = (await pushes.next())[1]
    assert (pushed.object_id, pushed.country_code) == ("s-0001", cpo.country_code.upper())
    # ids are kept as sent: another case is another Session, so the body must say the URL's
    other_case = encode(of(cpo, PENDING, id="S-0001"))
    response = await face.put(cpo.url("s-0001"), data=other_case, headers=headers(cpo.token))
    answer = await enveloped(response, 400, 2001)
    assert "$.id" in answer["status_message"]


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/ESP/{party}/s-1", "URL country_code"),
        ("/{country}/CH/s-1", "URL party_id"),
        ("/{country}/{party}/" + "s" * 37, "URL session_id"),
        ("/{country}/{party}/s%C3%A9", "URL session_id"),  # not ASCII
    ],
)
async def test_a_url_that_breaks_the_types_is_a_2001_naming_the_part(
    face: Client, cpo: Cpo, pushes: Pushes, path: str, named: str
) -> None:
    url = "/ocpi/2.2.1/sessions" + path.format(country=cpo.country_code, party=cpo.party_id)
    for method, body in (("PUT", of(cpo, PENDING)), ("PATCH", PATCH_COST), ("GET", None)):
        data = None if body is None else encode(body)
        response = await face.request(method, url, data=data, headers=headers(cpo.token))
        answer = await enveloped(response, 400, 2001)
        assert answer["status_message"].startswith(named), answer
    assert await pushes.none()


async def test_ten_thousand_charging_periods_under_1_mib_are_accepted_and_over_it_a_413(
    face: Client, cpo: Cpo, pushes: Pushes
) -> None:
    period = {"start_date_time": "2026-03-01T10:00:00Z",
              "dimensions": [{"type": "ENERGY", "volume": 1}]}  # fmt: skip
    body = encode(of(cpo, PENDING, charging_periods=[period] * 10_000))
    assert len(body) < MAX_BODY_BYTES
    response = await face.put(cpo.url("s-0001"), data=io.BytesIO(body), headers=headers(cpo.token))
    await enveloped(response, 200, 1000)
    assert bytes((await pushes.next())[1].body) == body
    named = {**period, "tariff_id": "T-1234567890"}
    over = encode(of(cpo, PENDING, charging_periods=[named] * 10_000))
    assert len(over) > MAX_BODY_BYTES
    response = await face.put(cpo.url("s-0001"), data=io.BytesIO(over), headers=headers(cpo.token))
    await enveloped(response, 413, 2001)
    assert await pushes.none()


async def test_timestamps_without_a_zone_are_utc(face: Client, cpo: Cpo, pushes: Pushes) -> None:
    body = encode(of(cpo, PENDING, last_updated="2026-03-01T09:00:00",
                     start_date_time="2026-03-01T09:00:00.5"))  # fmt: skip
    response = await face.put(cpo.url("s-0001"), data=body, headers=headers(cpo.token))
    await enveloped(response, 200, 1000)
    push = (await pushes.next())[1]
    assert push.last_updated == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    assert bytes(push.body) == body  # the sender's text, as sent


@pytest.mark.parametrize("outcome", ["accepted", "refused", "unauthorized", "no route"])
async def test_the_request_and_correlation_ids_are_echoed(
    face: Client, cpo: Cpo, pushes: Pushes, outcome: str
) -> None:
    ids = {"X-Request-ID": f"req-{outcome}", "X-Correlation-ID": f"corr-{outcome}"}
    token = "nope" if outcome == "unauthorized" else cpo.token
    body = encode(of(cpo, PENDING, kwh=-1 if outcome == "refused" else 0))
    url = cpo.url("s-0001") + ("/extra" if outcome == "no route" else "")
    response = await face.put(url, data=body, headers=headers(token, **ids))
    status = {"accepted": (200, 1000), "refused": (400, 2001), "unauthorized": (401, 2000),
              "no route": (404, 2000)}[outcome]  # fmt: skip
    await enveloped(response, *status)
    assert {name: response.headers[name] for name in ids} == ids


async def test_over_its_rate_a_cpo_is_told_when_to_come_back(
    face: Client, cpo: Cpo, pushes: Pushes
) -> None:
    limits = face.app[INGEST].accepting.limits
    limits.rate = 0.001  # one push per 1000 s, once the bucket is empty
    limits.take(cpo.name, int(limits.capacity), time.monotonic())
    response = await face.put(
        cpo.url("s-0001"), data=encode(of(cpo, PENDING)), headers=headers(cpo.token)
    )
    await enveloped(response, 429, 2000)
    assert int(response.headers["Retry-After"]) >= 1
    assert await pushes.none()


class FailingBroker(CountingBroker):
    async def publish(self, *args: Any, **kwargs: Any) -> None:
        raise BrokerUnavailable("the broker is away")


async def test_a_push_the_broker_does_not_confirm_is_a_503_to_retry(
    broker: AmqpBroker, pool: Pool, cpo: Cpo
) -> None:
    app = create_app(FailingBroker(broker), pool, every_metric(), ADMIN_TOKEN)
    async with TestClient(IngestServer(app)) as client:
        body = encode(of(cpo, PENDING))
        response = await client.put(cpo.url("s-0001"), data=body, headers=headers(cpo.token))
        answer = await enveloped(response, 503, 3000)
    assert response.headers["Retry-After"] == "5" and "retry" in answer["status_message"]


async def store_session(pool: Pool, cpo: Cpo, session_id: str, session: str | None) -> None:
    await pool.execute(
        "INSERT INTO ocpi_sessions (country_code, party_id, session_id, cpo, pushes,"
        " last_updated, session) VALUES ($1, $2, $3, $4, 1, now(), $5::json)",
        cpo.country_code, cpo.party_id, session_id, cpo.name, session,
    )  # fmt: skip


async def test_get_answers_the_stored_merge_verbatim_or_404(
    face: Client, cpo: Cpo, other_cpo: Cpo, pool: Pool
) -> None:
    text = '{"id": "s-0001",  "kwh": 1.50, "z": [], "a": {"b": 1e3}}'  # its own order and text
    await store_session(pool, cpo, "s-0001", text)
    await store_session(pool, cpo, "only-patches", None)
    await store_session(pool, other_cpo, "theirs", '{"id": "theirs"}')
    url = cpo.url("s-0001", cpo.country_code.lower())
    response = await face.get(url, headers=headers(cpo.token))
    await enveloped(response, 200, 1000)
    raw = msgspec.json.decode(await response.read(), type=dict[str, msgspec.Raw])
    assert bytes(raw["data"]) == text.encode()
    for url in (cpo.url("only-patches"), cpo.url("never"), other_cpo.url("theirs")):
        answer = await enveloped(await face.get(url, headers=headers(cpo.token)), 404, 2000)
        assert answer["status_message"].startswith("No Session ")
    theirs = await face.get(other_cpo.url("theirs"), headers=headers(other_cpo.token))
    assert (await enveloped(theirs, 200, 1000))["data"] == {"id": "theirs"}


@pytest.mark.parametrize(("decoder", "doc", "path", "value", "field"), BAD)
async def test_each_bad_object_is_a_2001_naming_its_field_and_publishes_nothing(
    face: Client,
    cpo: Cpo,
    pushes: Pushes,
    decoder: Any,
    doc: dict[str, Any],
    path: tuple[str | int, ...],
    value: Any,
    field: str,
) -> None:
    """tests/unit/test_ocpi_schemas.py's table of bad objects, each over HTTP: a Session PUT,
    a PATCH or a CDR POST of the document moved to the caller's party, with one edit."""
    body = edited(of(cpo, doc), path, value)
    if decoder is S:
        sent = face.put(cpo.url(doc["id"]), data=body, headers=headers(cpo.token))
    elif decoder is P:
        sent = face.patch(cpo.url("s-0002"), data=body, headers=headers(cpo.token))
    else:
        sent = face.post("/ocpi/2.2.1/cdrs", data=body, headers=headers(cpo.token))
    answer = await enveloped(await sent, 400, 2001)
    assert field.strip("`") in answer["status_message"], answer
    assert await pushes.none()


async def test_what_is_pushed_is_read_back_once_the_ocpi_worker_stored_it(
    face: Client, cpo: Cpo, broker: AmqpBroker, pool: Pool, amqp_url: str, flood: None
) -> None:
    """The face and the ocpi worker together: a PUT and a PATCH merge into what GET answers, a
    CDR is read back at its Location, and posted again once stored it is answered 200."""
    await purge(amqp_url, OCPI_QUEUE.name)  # other tests' pushes, which nobody consumed
    cdr = encode(of(cpo, document("cdr_time_tariff"), id="cdr-round-trip"))
    worker = OcpiWorker(pool, broker, prefetch=100, batch_size=50)
    async with consuming(broker, worker, every_metric()):
        for method, body in (("PUT", of(cpo, PENDING)), ("PATCH", PATCH_COST)):
            sent = await face.request(
                method, cpo.url("s-0001"), data=encode(body), headers=headers(cpo.token)
            )
            await enveloped(sent, 200, 1000)
        posted = await face.post("/ocpi/2.2.1/cdrs", data=cdr, headers=headers(cpo.token))
        await enveloped(posted, 201, 1000)
        cdr_url = posted.headers["Location"].removeprefix(PUBLIC_URL)

        async def merged() -> Any:
            got = await face.get(cpo.url("s-0001"), headers=headers(cpo.token))
            session = (await got.json())["data"]
            patched = session and session["last_updated"] == PATCH_COST["last_updated"]
            return session if patched else None

        async def stored_cdr() -> Any:
            got = await face.get(cdr_url, headers=headers(cpo.token))
            return await enveloped(got, 200, 1000) if got.status == 200 else None

        session = await eventually(merged)
        cdr_answer = await eventually(stored_cdr)
    assert session["total_cost"] == {"excl_vat": 0.75, "incl_vat": 0.91}  # the PATCH's
    assert session["status"] == "PENDING" and session["id"] == "s-0001"  # the PUT's
    assert cdr_answer["data"]["id"] == "cdr-round-trip"
    again = await face.post("/ocpi/2.2.1/cdrs", data=cdr, headers=headers(cpo.token))
    await enveloped(again, 200, 1000)
    assert again.headers["Location"] == posted.headers["Location"]
