"""Billing through the whole pipeline: posted to ingest, billed once, read back, published."""

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aio_pika
import msgspec
import pytest
from aiohttp.test_utils import TestClient

from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.broker import EVENTS_EXCHANGE, OutboundMessage
from chargehook.plumbing.database import Pool
from chargehook.providers.store import add_provider, set_rates
from chargehook.sessions.events import routing_key
from chargehook.workers.billing import QUEUE
from tests import processes
from tests.billing_examples import EXAMPLE_IDS, WORKED_EXAMPLES, Example, number
from tests.support import Provider, eventually, publish_many, purge, queue_depth

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]
exact = msgspec.json.Decoder(float_hook=Decimal)
KWH = WORKED_EXAMPLES[0]  # 14.06 in all


class Downstream:
    """A service's own queue bound to chargehook.billed, as the AsyncAPI document invites."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self.queue = queue

    async def next(self) -> tuple[dict[str, Any], aio_pika.abc.AbstractIncomingMessage]:
        async def one() -> aio_pika.abc.AbstractIncomingMessage | None:
            return await self.queue.get(fail=False)

        message = await eventually(one)
        assert message is not None
        await message.ack()
        return exact.decode(message.body), message


@pytest.fixture
async def downstream(amqp_url: str, provider: Provider) -> AsyncIterator[Downstream]:
    connection = await aio_pika.connect(amqp_url)
    async with connection, connection.channel() as channel:
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind("chargehook.billed", f"session.*.{provider.name}")
        yield Downstream(queue)


async def post(client: Client, provider: Provider, body: bytes) -> str:
    headers = {**provider.auth, "Content-Type": "application/json"}
    response = await client.post("/v1/sessions", data=body, headers=headers)
    assert response.status == 200, await response.text()
    event_id: str = (await response.json())["event_ids"][0]
    return event_id


async def read_bill(
    client: Client, admin: dict[str, str], provider: str, session_id: str, kind: str
) -> Any:
    async def billed() -> Any:
        response = await client.get(f"/v1/sessions/{provider}/{session_id}", headers=admin)
        if response.status != 200:
            return None
        text = await response.read()
        state = exact.decode(text)
        return (state, text) if state["billing"] and state["billing"]["kind"] == kind else None

    return await eventually(billed)


@pytest.mark.parametrize("example", WORKED_EXAMPLES, ids=EXAMPLE_IDS)
async def test_the_worked_examples_through_the_pipeline(
    client: Client,
    provider: Provider,
    admin: dict[str, str],
    downstream: Downstream,
    persist_worker: Any,
    billing_worker: Any,
    example: Example,
) -> None:
    event_id = await post(client, provider, example.body("s-example"))
    state, text = await read_bill(client, admin, provider.name, "s-example", "final")
    billing = state["billing"]
    figures = tuple(billing[k] for k in ("base", "access_fee", "commission", "tax", "amount"))
    assert figures == tuple(Decimal(v) for v in example.expected)
    assert f'"amount":{example.expected[4]},'.encode() in text  # a JSON number, currency digits

    published, message = await downstream.next()
    assert message.message_id == event_id and published["event_id"] == event_id
    session = published["session"]
    assert (session["amount"], session["commision_price"], session["tax_price"]) == (
        Decimal(example.expected[4]),
        Decimal(example.expected[2]),
        Decimal(example.expected[3]),
    )


async def test_a_finished_callback_twice_and_a_late_in_progress_make_one_final_bill(
    client: Client,
    provider: Provider,
    pool: Pool,
    downstream: Downstream,
    persist_worker: Any,
    billing_worker: Any,
) -> None:
    finished = KWH.body("s-once")
    await post(client, provider, finished)
    await post(client, provider, finished)
    late = KWH.item("s-once", "IN_PROGRESS", updatedAt="2026-03-01T13:00:00+00:00")
    late["charged_kwh"] = number("30.5")
    await post(client, provider, msgspec.json.encode(late))

    amounts = [(await downstream.next())[0]["session"]["amount"] for _ in range(3)]
    assert amounts == [Decimal("14.06")] * 3  # the late estimate carries the final figures
    rows = await pool.fetch(
        "SELECT kind FROM bills WHERE provider = $1 AND session_id = 's-once'", provider.name
    )
    assert [row["kind"] for row in rows] == ["final"]


async def test_a_later_finished_with_corrected_energy_credits_the_final_and_bills_again(
    client: Client,
    provider: Provider,
    pool: Pool,
    downstream: Downstream,
    persist_worker: Any,
    billing_worker: Any,
) -> None:
    """docs/billing.md#corrections: example 1 corrected to E = 25.000 at the same rates."""
    await post(client, provider, KWH.body("s-fix"))
    assert (await downstream.next())[0]["session"]["amount"] == Decimal("14.06")
    corrected = KWH.item("s-fix", updatedAt="2026-03-01T14:00:00+00:00")
    corrected["charged_kwh"] = number("25.000")
    await post(client, provider, msgspec.json.encode(corrected))
    billed, _ = await downstream.next()
    # a repeat of the correction and the original again change nothing
    await post(client, provider, msgspec.json.encode(corrected))
    await post(client, provider, KWH.body("s-fix"))
    again = [(await downstream.next())[0]["session"]["amount"] for _ in range(2)]

    rows = await pool.fetch(
        "SELECT id, kind, refers_to, base, commission, tax, amount FROM bills"
        " WHERE provider = $1 AND session_id = 's-fix' ORDER BY id",
        provider.name,
    )
    first, credit, final = rows
    assert [r["kind"] for r in rows] == ["final", "credit", "final"]
    assert [str(credit[k]) for k in ("base", "commission", "tax", "amount")] == [
        "-10.56", "-1.06", "-2.44", "-14.06",
    ]  # fmt: skip
    assert [str(final[k]) for k in ("base", "commission", "tax", "amount")] == [
        "11.25", "1.13", "2.60", "14.98",
    ]  # fmt: skip
    assert credit["refers_to"] == final["refers_to"] == first["id"]
    assert sum(r["amount"] for r in rows) == Decimal("14.98")
    session = billed["session"]
    assert (session["amount"], session["commision_price"], session["tax_price"]) == (
        Decimal("14.98"), Decimal("1.13"), Decimal("2.60"),
    )  # fmt: skip
    assert session["correction"] == {"bill_id": final["id"], "replaces": first["id"]}
    assert billed["billing"]["refers_to"] == first["id"]
    assert again == [Decimal("14.98"), Decimal("14.98")]


async def test_a_session_missing_what_its_unit_needs_is_incomplete_and_the_worker_goes_on(
    client: Client,
    provider: Provider,
    admin: dict[str, str],
    persist_worker: Any,
    billing_worker: Any,
) -> None:
    missing = KWH.item("s-missing")
    del missing["charged_kwh"]
    await post(client, provider, msgspec.json.encode(missing))
    await post(client, provider, KWH.body("s-after-missing"))

    state, _ = await read_bill(client, admin, provider.name, "s-missing", "incomplete")
    billing = state["billing"]
    assert billing["reason"] == "charged_kwh missing for a kwh price"
    assert billing["amount"] is None and billing["base"] is None
    after, _ = await read_bill(client, admin, provider.name, "s-after-missing", "final")
    assert after["billing"]["amount"] == Decimal("14.06")


async def test_a_running_estimate_before_the_final(
    client: Client,
    provider: Provider,
    admin: dict[str, str],
    persist_worker: Any,
    billing_worker: Any,
) -> None:
    running = KWH.item("s-running", "IN_PROGRESS", updatedAt="2026-03-01T10:30:00+00:00")
    running["charged_kwh"] = number("10")
    await post(client, provider, msgspec.json.encode(running))
    estimate, _ = await read_bill(client, admin, provider.name, "s-running", "estimate")
    assert estimate["billing"]["amount"] == Decimal("5.99")  # 4.50 + 0.45 + 1.04
    await post(client, provider, KWH.body("s-running"))
    final, _ = await read_bill(client, admin, provider.name, "s-running", "final")
    assert final["billing"]["amount"] == Decimal("14.06")


async def test_a_bill_keeps_the_rates_it_was_made_with(
    client: Client, pool: Pool, admin: dict[str, str], persist_worker: Any, billing_worker: Any
) -> None:
    name = f"rates{uuid.uuid4().hex[:6]}"
    provider = Provider(name, await add_provider(pool, name, Decimal("0.05"), Decimal("0.10")))
    session = WORKED_EXAMPLES[4]  # a 1.25 session fee
    await post(client, provider, session.body("s-rated"))
    first, _ = await read_bill(client, admin, name, "s-rated", "final")
    assert (first["billing"]["commission_rate"], first["billing"]["amount"]) == (
        Decimal("0.05"),
        Decimal("1.44"),
    )

    assert await set_rates(pool, name, Decimal("0.20"), None)
    await post(client, provider, session.body("s-rerated"))
    second, _ = await read_bill(client, admin, name, "s-rerated", "final")
    assert (second["billing"]["commission_rate"], second["billing"]["amount"]) == (
        Decimal("0.20"),
        Decimal("1.65"),
    )
    again, _ = await read_bill(client, admin, name, "s-rated", "final")
    assert again["billing"] == first["billing"]


async def test_provider_figures_are_kept_and_a_difference_is_counted(
    client: Client,
    provider: Provider,
    admin: dict[str, str],
    persist_worker: Any,
    billing_worker: Any,
) -> None:
    await post(
        client, provider, KWH.body("s-theirs", amount=number("20.00"), tax_price=number("2.44"))
    )
    state, _ = await read_bill(client, admin, provider.name, "s-theirs", "final")
    billing = state["billing"]
    assert billing["mismatch"] is True and billing["amount"] == Decimal("14.06")
    assert billing["provider_figures"] == {
        "amount": Decimal("20.00"),
        "commision_price": None,
        "tax_price": Decimal("2.44"),
    }
    assert billing_worker.value("chargehook_billing_mismatches_total", provider=provider.name) == 1


SESSIONS = 1_500


async def test_killing_the_billing_worker_mid_stream_loses_no_bill_and_doubles_none(
    broker: AmqpBroker, pool: Pool, amqp_url: str, database_url: str, flood: None
) -> None:
    await purge(amqp_url, QUEUE.name)
    provider = f"billkill{uuid.uuid4().hex[:6]}"
    messages = []
    for number_ in range(SESSIONS):
        for status in ("FINISHED", "FINISHED"):  # every final delivered twice
            item = KWH.item(f"b{number_}", status)
            body = msgspec.json.encode(
                {
                    "event_id": f"e{number_}",
                    "provider": provider,
                    "received_at": "2026-03-01T12:00:00Z",
                    "session": item,
                }
            )
            key = routing_key("FINISHED", provider)
            messages.append((key, OutboundMessage(body, f"e{number_}")))
    await publish_many(broker, EVENTS_EXCHANGE, messages)
    env = processes.chargehook_env(
        amqp_url=amqp_url,
        database_url=database_url,
        billing_batch_size="10",
        billing_prefetch="20",
        log_level="warning",
    )

    await processes.killed_midway(
        ["worker", "billing"], env, lambda: _bills_at_least(pool, provider, 100)
    )
    assert await _bills(pool, provider) < SESSIONS, "the worker finished before it was killed"

    async with processes.started(["worker", "billing"], env) as second:
        await eventually(lambda: _bills_at_least(pool, provider, SESSIONS), within=120)
        await eventually(lambda: _drained(amqp_url), within=60)
        assert await processes.terminated(second) == 0

    rows = await pool.fetch(
        "SELECT kind, count(*) AS n FROM bills WHERE provider = $1 GROUP BY kind", provider
    )
    assert {row["kind"]: row["n"] for row in rows} == {"final": SESSIONS}
    total = await pool.fetchval("SELECT sum(amount) FROM bills WHERE provider = $1", provider)
    assert total == Decimal("14.06") * SESSIONS


async def _bills(pool: Pool, provider: str) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM bills WHERE provider = $1", provider)
    return count


async def _bills_at_least(pool: Pool, provider: str, count: int) -> bool:
    return await _bills(pool, provider) >= count


async def _drained(amqp_url: str) -> bool:
    return await queue_depth(amqp_url, QUEUE.name) == 0
