"""What the OCPI face's tests share: a CPO made straight in the test's database (provider,
ocpi_cpos and ocpi_parties rows, token C and token A), our OCPI documents moved to its party,
the `Authorization: Token` header, the envelope every answer must be, and a queue of the
test's own bound to `chargehook.events` with `ocpi.#`."""

import base64
import copy
import secrets
import string
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aio_pika
import msgspec
from aiohttp import ClientResponse

from chargehook.plumbing.broker import EVENTS_EXCHANGE
from chargehook.plumbing.database import Pool
from chargehook.providers.store import issue_token
from chargehook.schemas import OcpiPush
from lab.cpos import registered_cpo

FIXTURES = Path(__file__).parent / "fixtures" / "ocpi"
SESSIONS = "/ocpi/2.2.1/sessions"
CDRS = "/ocpi/2.2.1/cdrs"
PUBLIC_URL = "https://emsp.chargehook.test/base"
ENVELOPE = {"data", "status_code", "status_message", "timestamp"}
ECHOED = ("X-Request-ID", "X-Correlation-ID")
# documents are edited as JSON values; numbers stay Decimal so their text is kept
plain = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)
encode = msgspec.json.Encoder(decimal_format="number").encode
push_decoder = msgspec.json.Decoder(OcpiPush)
CODE_CHARACTERS = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class Cpo:
    name: str
    token: str  # token C: pushes
    token_a: str  # token A: registration only
    country_code: str
    party_id: str

    def url(self, session_id: str, country_code: str = "", party_id: str = "") -> str:
        return (
            f"{SESSIONS}/{country_code or self.country_code}/{party_id or self.party_id}/"
            f"{session_id}"
        )


async def make_cpo(pool: Pool) -> Cpo:
    """A registered CPO with one party of its own, made directly in the database."""
    name = f"cpo{uuid.uuid4().hex[:10]}"
    country_code = "".join(secrets.choice(CODE_CHARACTERS) for _ in range(2))
    party_id = "".join(secrets.choice(CODE_CHARACTERS) for _ in range(3))
    token = await registered_cpo(pool, name, country_code, party_id)
    async with pool.acquire() as conn:
        token_a = await issue_token(conn, name, "ocpi_registration")
    return Cpo(name, token, token_a, country_code, party_id)


def document(name: str) -> dict[str, Any]:
    return plain.decode((FIXTURES / f"{name}.json").read_bytes())


def of(cpo: Cpo, doc: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The document moved to the CPO's party (where it names one), with these changes."""
    moved = copy.deepcopy(doc)
    if "country_code" in moved:
        moved.update(country_code=cpo.country_code, party_id=cpo.party_id)
    moved.update(changes)
    return moved


def headers(token: str, encoding: str = "base64", **extra: str) -> dict[str, str]:
    """`Authorization: Token ...` with the token Base64-encoded (OCPI 2.2.1) or raw."""
    sent = base64.b64encode(token.encode()).decode() if encoding == "base64" else token
    return {"Authorization": f"Token {sent}", "Content-Type": "application/json", **extra}


async def enveloped(response: ClientResponse, http_status: int, status_code: int) -> Any:
    """The answer, checked to be the OCPI envelope with these statuses and ids echoed."""
    answer = msgspec.json.decode(await response.read())
    assert response.status == http_status, answer
    assert response.content_type == "application/json"
    assert answer.keys() == ENVELOPE, answer
    assert answer["status_code"] == status_code, answer
    assert isinstance(answer["status_message"], str) and answer["status_message"]
    assert datetime.fromisoformat(answer["timestamp"]).utcoffset() is not None
    assert all(response.headers.get(name) for name in ECHOED)
    return answer


class Pushes:
    """A queue of the test's own, bound to `chargehook.events` with `ocpi.#`."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self.queue = queue

    async def next(self) -> tuple[aio_pika.abc.AbstractIncomingMessage, OcpiPush]:
        message = await self.queue.get(no_ack=True, timeout=5)
        return message, push_decoder.decode(message.body)

    async def none(self) -> bool:
        """Whether nothing was published (a push is confirmed before it is answered)."""
        return await self.queue.get(no_ack=True, fail=False) is None


@asynccontextmanager
async def ocpi_pushes(amqp_url: str) -> AsyncIterator[Pushes]:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(EVENTS_EXCHANGE, "ocpi.#")
        yield Pushes(queue)
