"""The OCPI face's CDRs receiver over HTTP, on the real broker and a throwaway database: a new
CDR is published and answered 201 with its Location, the same CDR again gets the same Location,
a changed one under a stored id is refused with 409 and publishes nothing, and GET answers the
stored CDR verbatim."""

from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient

from chargehook.plumbing.database import Pool
from tests.ocpi_support import (
    CDRS,
    PUBLIC_URL,
    Cpo,
    Pushes,
    document,
    encode,
    enveloped,
    headers,
    of,
)

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]
CDR = document("cdr_time_tariff")


def location(cpo: Cpo, cdr_id: str) -> str:
    return f"{PUBLIC_URL}{CDRS}/{cpo.country_code}/{cpo.party_id}/{cdr_id}"


async def store_cdr(pool: Pool, cpo: Cpo, cdr_id: str, body: str) -> None:
    """A CDR as the ocpi worker stores it."""
    await pool.execute(
        "INSERT INTO ocpi_cdrs (country_code, party_id, cdr_id, cpo, push_id, last_updated,"
        " received_at, body) VALUES ($1, $2, $3, $4, 'ocpi_test', now(), now(), $5::json)",
        cpo.country_code, cpo.party_id, cdr_id, cpo.name, body,
    )  # fmt: skip


async def test_a_new_cdr_is_published_and_answered_201_with_its_location(
    face: Client, cpo: Cpo, pushes: Pushes
) -> None:
    body = encode(of(cpo, CDR, id="cdr/1 ?#"))  # any printable ASCII
    response = await face.post(CDRS, data=body, headers=headers(cpo.token))
    assert (await enveloped(response, 201, 1000))["data"] is None
    assert response.headers["Location"] == location(cpo, "cdr%2F1%20%3F%23")
    message, push = await pushes.next()
    assert message.routing_key == f"ocpi.cdr.{cpo.name}" and message.message_id == push.push_id
    assert (push.kind, push.object_id, push.cpo) == ("cdr", "cdr/1 ?#", cpo.name)
    assert (push.country_code, push.party_id) == (cpo.country_code, cpo.party_id)
    assert bytes(push.body) == body
    again = await face.post(CDRS, data=body, headers=headers(cpo.token))
    await enveloped(again, 201, 1000)  # not stored yet: published again, with the same id
    assert again.headers["Location"] == response.headers["Location"]
    assert (await pushes.next())[1].push_id == push.push_id


async def test_a_stored_cdr_again_is_200_with_the_same_location_and_publishes_nothing(
    face: Client, cpo: Cpo, pool: Pool, pushes: Pushes
) -> None:
    doc = of(cpo, CDR, id="cdr-stored")
    await store_cdr(pool, cpo, "cdr-stored", encode(doc).decode())
    reordered = dict(reversed(list(doc.items())))  # the same CDR, once canonical
    response = await face.post(CDRS, data=encode(reordered), headers=headers(cpo.token))
    await enveloped(response, 200, 1000)
    assert response.headers["Location"] == location(cpo, "cdr-stored")
    assert await pushes.none()


async def test_a_changed_cdr_under_a_stored_id_is_a_409_and_publishes_nothing(
    face: Client, cpo: Cpo, pool: Pool, pushes: Pushes
) -> None:
    await store_cdr(pool, cpo, "cdr-fixed", encode(of(cpo, CDR, id="cdr-fixed")).decode())
    changed = encode(of(cpo, CDR, id="cdr-fixed", remark="corrected"))
    response = await face.post(CDRS, data=changed, headers=headers(cpo.token))
    answer = await enveloped(response, 409, 2000)
    assert answer["status_message"].startswith("CDRs are immutable"), answer
    assert "Location" not in response.headers
    assert await pushes.none()


async def test_a_cdr_of_another_cpos_party_is_a_403_and_publishes_nothing(
    face: Client, cpo: Cpo, other_cpo: Cpo, pushes: Pushes
) -> None:
    response = await face.post(CDRS, data=encode(of(other_cpo, CDR)), headers=headers(cpo.token))
    answer = await enveloped(response, 403, 2000)
    assert answer["status_message"].startswith(
        f"Party {other_cpo.country_code}/{other_cpo.party_id}"
    )
    token_a = await face.post(CDRS, data=encode(of(cpo, CDR)), headers=headers(cpo.token_a))
    await enveloped(token_a, 401, 2000)
    assert await pushes.none()


async def test_get_answers_the_stored_cdr_verbatim_or_404(
    face: Client, cpo: Cpo, other_cpo: Cpo, pool: Pool
) -> None:
    text = '{"id": "cdr 7/8",   "total_cost": {"excl_vat": 2.50}, "b": 1, "a": 2}'
    await store_cdr(pool, cpo, "cdr 7/8", text)
    await store_cdr(pool, other_cpo, "theirs", '{"id": "theirs"}')
    url = location(cpo, "cdr%207%2F8").removeprefix(PUBLIC_URL)  # as the Location says
    response = await face.get(url, headers=headers(cpo.token))
    await enveloped(response, 200, 1000)
    raw = msgspec.json.decode(await response.read(), type=dict[str, msgspec.Raw])
    assert bytes(raw["data"]) == text.encode()
    theirs = location(other_cpo, "theirs").removeprefix(PUBLIC_URL)
    for url in (location(cpo, "never").removeprefix(PUBLIC_URL), theirs):
        answer = await enveloped(await face.get(url, headers=headers(cpo.token)), 404, 2000)
        assert answer["status_message"].startswith("No CDR "), answer
    too_long = await face.get(f"{CDRS}/{cpo.country_code}/{cpo.party_id}/{'c' * 40}",
                              headers=headers(cpo.token))  # fmt: skip
    assert (await enveloped(too_long, 400, 2001))["status_message"].startswith("URL cdr_id")


async def bill_a_cdr(pool: Pool, cpo: Cpo, cdr_id: str, *, credited: bool) -> None:
    """The final of a CDR as the ocpi worker makes it, and its credit if `credited`."""
    address = f"{cpo.country_code}-{cpo.party_id}-"
    insert = (
        "INSERT INTO bills (id, provider, session_id, cdr_id, status, kind, refers_to, currency,"
        " amount, commission_rate, tax_rate, updated_at, received_at)"
        " VALUES ($1, $2, $3, $4, 'FINISHED', $5, $6, 'EUR', $7, 0.10, 0.21, now(), now())"
    )
    final_id = await pool.fetchval("SELECT nextval('bills_id_seq')")
    async with pool.acquire() as conn, conn.transaction():
        args = (cpo.name, address + "s1", address + cdr_id)
        await conn.execute(insert, final_id, *args, "final", None, 5)
        if credited:
            credit = (cpo.name, address + "s1", address + cdr_id + "-c")
            await conn.execute(insert, final_id + 1_000_000, *credit, "credit", final_id, -5)


@pytest.mark.parametrize(
    ("billed", "reason"),
    [
        (None, "no CDR of this CPO is billed under it"),
        ("credited", "is credited already"),
    ],
    ids=["of-an-unknown-cdr", "of-a-credited-cdr"],
)
async def test_a_credit_cdr_that_cannot_credit_is_refused_and_stored_nowhere(
    face: Client, cpo: Cpo, pool: Pool, pushes: Pushes, billed: str | None, reason: str
) -> None:
    if billed is not None:
        await bill_a_cdr(pool, cpo, "cdr-x", credited=True)
    credit = of(cpo, CDR, id="cdr-x-c2", credit=True, credit_reference_id="cdr-x")
    credit["total_cost"] = {"excl_vat": -4.00, "incl_vat": -4.40}
    response = await face.post(CDRS, data=encode(credit), headers=headers(cpo.token))
    answer = await enveloped(response, 400, 2001)
    assert reason in answer["status_message"], answer
    assert "Location" not in response.headers
    assert await pushes.none()
    stored = await pool.fetchval("SELECT count(*) FROM ocpi_cdrs WHERE cpo = $1", cpo.name)
    assert stored == 0


async def test_a_second_cdr_of_a_session_billed_by_an_uncredited_cdr_is_refused(
    face: Client, cpo: Cpo, pool: Pool, pushes: Pushes
) -> None:
    await bill_a_cdr(pool, cpo, "cdr-y", credited=False)
    second = of(cpo, CDR, id="cdr-y2", session_id="s1")
    response = await face.post(CDRS, data=encode(second), headers=headers(cpo.token))
    answer = await enveloped(response, 400, 2001)
    assert "a correction is a credit CDR first" in answer["status_message"], answer
    assert await pushes.none()
