"""Inputs a hostile or broken client sends, through the HTTP edge on the real broker: each one is
a clean 4xx in the page's shape (the OCPI envelope on an OCPI route), never a 500 or a 503 that
can never succeed, and nothing is published for it."""

import asyncio
import gzip
from typing import Any

import msgspec
import pytest
from aiohttp.test_utils import TestClient

from chargehook.ingest.route_table import ROUTES
from chargehook.plumbing.database import Pool
from chargehook.workers.persist import QUEUE
from tests.corpus import good
from tests.ocpi_support import ENVELOPE, document, encode, headers, make_cpo, ocpi_pushes, of
from tests.support import ADMIN_TOKEN, Provider, queue_depth

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]


async def raw_request(client: Client, head: bytes, body: bytes = b"") -> tuple[int, Any]:
    """Bytes on the socket as they are: aiohttp's client would refuse to send most of these."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    payload = rest.partition(b"\r\n\r\n")[2]
    return int(status_line.split()[1]), msgspec.json.decode(payload)


def page_shaped(answer: Any, status: int) -> bool:
    return bool(
        answer.keys() == {"statusCode", "message", "error"} and answer["statusCode"] == status
    )


@pytest.mark.parametrize(
    ("name", "header", "status"),
    [
        ("a non-UTF-8 byte in the token", b"Authorization: Bearer abc\xff\xfedef", 401),
        # (a control character in a header never reaches the app: aiohttp's parser answers 400)
        ("a non-ASCII Idempotency-Key over 255 bytes", "Idempotency-Key: " + "é" * 200, 400),
    ],
)
async def test_bad_headers_get_a_clean_answer_and_publish_nothing(
    client: Client, provider: Provider, amqp_url: str, name: str, header: Any, status: int
) -> None:
    before = await queue_depth(amqp_url, QUEUE.name)
    head = b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
    if b"Authorization" not in (header if isinstance(header, bytes) else b""):
        head += b"\r\n" + f"Authorization: Bearer {provider.token}".encode()
    head += b"\r\n" + (header if isinstance(header, bytes) else header.encode())
    code, answer = await raw_request(client, head, msgspec.json.encode(good(id=f"h-{name}")))
    assert code == status and page_shaped(answer, status), (code, answer)
    assert await queue_depth(amqp_url, QUEUE.name) == before


async def test_a_compressed_body_is_refused_before_it_is_inflated(
    client: Client, provider: Provider, amqp_url: str
) -> None:
    before = await queue_depth(amqp_url, QUEUE.name)
    bomb = gzip.compress(b" " * (50 << 20))  # 50 MiB of spaces, about 50 KB compressed
    headers = {**provider.auth, "Content-Type": "application/json", "Content-Encoding": "gzip"}
    response = await client.post("/v1/sessions", data=bomb, headers=headers)
    answer = await response.json()
    assert response.status == 415 and page_shaped(answer, 415), answer
    assert "Content-Encoding" in answer["message"]
    assert await queue_depth(amqp_url, QUEUE.name) == before


async def test_a_compressed_admin_body_is_refused_as_the_document_says(client: Client) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    body = gzip.compress(b'{"url": "https://receiver.example/hook"}')
    response = await client.post(
        "/v1/subscriptions", data=body, headers={**headers, "Content-Encoding": "gzip"}
    )
    answer = await response.json()
    assert response.status == 415 and page_shaped(answer, 415), answer


@pytest.mark.parametrize(
    "path",
    [
        "/v1/sessions/demo/a%00b",
        "/v1/sessions/de%00mo/a",
        "/v1/sessions/demo/a%00b/events",
        "/v1/subscriptions/sub%00x",
        "/v1/subscriptions/sub%00x/deliveries",
    ],
)
async def test_a_nul_in_an_admin_path_is_a_404(
    client: Client, admin: dict[str, str], path: str
) -> None:
    response = await client.get(path, headers=admin)
    answer = await response.json()
    assert response.status == 404 and page_shaped(answer, 404), answer


def ocpi_shaped(answer: Any, status_code: int) -> bool:
    return bool(answer.keys() == ENVELOPE and answer["status_code"] == status_code)


OCPI_PATHS = {
    "/ocpi/2.2.1/sessions/{country_code}/{party_id}/{session_id}": "/ocpi/2.2.1/sessions/ES/CHK/",
    "/ocpi/2.2.1/cdrs/{country_code}/{party_id}/{cdr_id}": "/ocpi/2.2.1/cdrs/ES/CHK/",
}


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if r.ocpi and "{" in r.path], ids=lambda r: f"{r.method} {r.path}"
)
async def test_a_nul_in_an_ocpi_path_is_a_404_in_the_envelope(client: Client, route: Any) -> None:
    response = await client.request(route.method, OCPI_PATHS[route.path] + "a%00b")
    answer = await response.json()
    assert response.status == 404 and ocpi_shaped(answer, 2000), answer


async def test_hostile_ocpi_pushes_get_a_clean_answer_in_the_envelope(
    client: Client, pool: Pool, amqp_url: str
) -> None:
    """A non-UTF-8 byte in the token, a compressed body (never inflated), a token header over
    the limit, JSON nested too deeply in an unknown field: each refused, nothing published."""
    cpo = await make_cpo(pool)
    session = encode(of(cpo, document("session_pending")))
    url = cpo.url("s-0001")
    async with ocpi_pushes(amqp_url) as pushes:
        head = f"PUT {url} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json".encode()
        code, answer = await raw_request(
            client, head + b"\r\nAuthorization: Token a\xff\xfeb", session
        )
        assert code == 401 and ocpi_shaped(answer, 2000), answer
        bomb = gzip.compress(b" " * (50 << 20))
        sent = headers(cpo.token, **{"Content-Encoding": "gzip"})
        response = await client.put(url, data=bomb, headers=sent)
        assert response.status == 415 and ocpi_shaped(await response.json(), 2001)
        response = await client.put(url, data=session, headers=headers("t" * 600))
        assert response.status == 401 and ocpi_shaped(await response.json(), 2000)
        deep = session[:-1] + b', "extra": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        response = await client.put(url, data=deep, headers=headers(cpo.token))
        assert response.status == 400 and ocpi_shaped(await response.json(), 2001)
        long_number = session[:-1] + b', "extra": ' + b"9" * 5000 + b"}"
        response = await client.put(url, data=long_number, headers=headers(cpo.token))
        answer = await response.json()
        assert response.status == 400 and ocpi_shaped(answer, 2001), answer
        assert "fewer digits" in answer["status_message"]
        assert await pushes.none()
