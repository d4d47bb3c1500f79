"""The ocpi worker's use case on the real PostgreSQL and RabbitMQ: pushes stored once, each
Session the merge of its pushes whatever their arrival order, published page-shaped."""

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aio_pika
import msgspec
import pytest

from chargehook.ocpi import registering
from chargehook.ocpi.mapping import EXTENSION
from chargehook.ocpi.merging import store_and_merge, take_in
from chargehook.ocpi.pushing import new_push
from chargehook.ocpi.store import stored_cdr, stored_session
from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.broker import EVENTS_EXCHANGE
from chargehook.plumbing.database import Pool
from chargehook.schemas import Envelope, OcpiPush, PushKind
from chargehook.sessions.events import read_event

pytestmark = pytest.mark.services
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ocpi"
START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
envelope_decoder = msgspec.json.Decoder(Envelope)


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = msgspec.json.decode((FIXTURES / f"{name}.json").read_bytes())
    return loaded


def stamp(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Cpo:
    """A CPO of the test's own, with a party and session ids no other test uses."""

    def __init__(self) -> None:
        self.name = f"cpo{uuid.uuid4().hex[:8]}"
        self.party = uuid.uuid4().hex[:3].upper()

    def push(self, kind: PushKind, body: dict[str, Any], object_id: str) -> OcpiPush:
        if "last_updated" in body:
            last_updated = datetime.fromisoformat(body["last_updated"])
        else:
            last_updated = START
        raw = msgspec.json.encode(body)
        return new_push(self.name, kind, "ES", self.party, object_id, last_updated, raw, START)

    def session(self, session_id: str, minutes: int, **fields: Any) -> dict[str, Any]:
        body = fixture("session_pending")
        body.update(party_id=self.party, id=session_id, last_updated=stamp(minutes), **fields)
        return body

    def put(self, session_id: str, minutes: int, **fields: Any) -> OcpiPush:
        return self.push("session_put", self.session(session_id, minutes, **fields), session_id)

    def patch(self, session_id: str, minutes: int, **fields: Any) -> OcpiPush:
        return self.push("session_patch", {"last_updated": stamp(minutes), **fields}, session_id)


@pytest.fixture
def cpo() -> Cpo:
    return Cpo()


@pytest.fixture
async def published(broker: AmqpBroker, amqp_url: str) -> AsyncIterator[list[Envelope]]:
    """Every page-shaped event published on chargehook.events while the test runs."""
    seen: list[Envelope] = []
    connection = await aio_pika.connect_robust(amqp_url)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(EVENTS_EXCHANGE, "session.#")

        async def take(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            seen.append(envelope_decoder.decode(message.body))
            await message.ack()

        await queue.consume(take)
        yield seen


async def merged(pool: Pool, cpo: Cpo, session_id: str) -> dict[str, Any] | None:
    stored = await stored_session(pool, "ES", cpo.party, session_id)
    return None if stored is None else msgspec.json.decode(stored)


async def in_one_transaction(pool: Pool, batch: list[OcpiPush]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store_and_merge(conn, batch)


async def test_a_session_is_the_merge_of_its_pushes_whatever_their_arrival_order(
    pool: Pool, cpo: Cpo
) -> None:
    pushes = [
        cpo.put("s1", 0, status="ACTIVE", kwh=1.0),
        cpo.patch("s1", 10, kwh=4.0, charging_periods=[period(0)]),
        cpo.patch("s1", 20, charging_periods=[period(10)], total_cost={"excl_vat": 2.5}),
        cpo.patch("s1", 30, status="COMPLETED", end_date_time=stamp(30), kwh=7.25),
    ]
    finals = set()
    orders = list(itertools.permutations(pushes))
    for attempt, order in enumerate(orders[:: len(orders) // 6]):
        session_id = f"s1-{attempt}"
        for push in order:  # one at a time: a PATCH may come before its PUT
            await in_one_transaction(pool, [renamed(push, session_id)])
        session = await merged(pool, cpo, session_id)
        assert session is not None
        assert session["status"] == "COMPLETED" and session["kwh"] == 7.25
        assert [p["start_date_time"] for p in session["charging_periods"]] == [stamp(0), stamp(10)]
        assert session["total_cost"] == {"excl_vat": 2.5}
        assert session["last_updated"] == stamp(30)
        finals.add(
            msgspec.json.encode({k: v for k, v in session.items() if k != "id"}, order="sorted")
        )
    assert len(finals) == 1


async def test_a_patch_before_its_put_is_kept_and_merged_when_the_put_comes(
    pool: Pool, cpo: Cpo
) -> None:
    await in_one_transaction(pool, [cpo.patch("s2", 10, kwh=3.5)])
    assert await merged(pool, cpo, "s2") is None  # no PUT yet: nothing to show
    await in_one_transaction(pool, [cpo.put("s2", 5, status="ACTIVE")])
    session = await merged(pool, cpo, "s2")
    assert session is not None and session["kwh"] == 3.5 and session["status"] == "ACTIVE"
    # an older PATCH never overwrites what a newer push set
    await in_one_transaction(pool, [cpo.patch("s2", 7, kwh=1.0)])
    session = await merged(pool, cpo, "s2")
    assert session is not None and session["kwh"] == 3.5


async def test_merges_side_by_side_lose_no_push(pool: Pool, cpo: Cpo) -> None:
    """Each worker merges under the Session's lock, so the last merge has every push."""
    patches = [cpo.patch("s3", minute, kwh=minute) for minute in range(1, 21)]
    await in_one_transaction(pool, [cpo.put("s3", 0, status="ACTIVE")])
    await asyncio.gather(*(in_one_transaction(pool, [patch]) for patch in patches))
    session = await merged(pool, cpo, "s3")
    assert session is not None and session["kwh"] == 20
    count = await pool.fetchval(
        "SELECT pushes FROM ocpi_sessions WHERE party_id = $1 AND session_id = 's3'", cpo.party
    )
    assert count == 21


async def test_each_merge_is_published_page_shaped_and_a_redelivery_publishes_the_same(
    pool: Pool, broker: AmqpBroker, cpo: Cpo, published: list[Envelope]
) -> None:
    first = [cpo.put("s4", 0, status="ACTIVE", kwh=2.0)]
    second = [cpo.patch("s4", 10, status="COMPLETED", kwh=5.5, end_date_time=stamp(10))]
    await take_in(pool, broker, first)
    await take_in(pool, broker, second)
    await take_in(pool, broker, second)  # redelivered
    mine = await events_of(published, cpo, 3)
    events = [read_event(msgspec.json.encode(e)) for e in mine]
    assert [e.session.status for e in events] == ["IN_PROGRESS", "FINISHED", "FINISHED"]
    assert events[1].event_id == events[2].event_id  # the same merge, the same event
    assert events[1].key > events[0].key  # the later merge orders later
    assert events[1].session.id == f"ES-{cpo.party}-s4"
    assert str(events[1].session.charged_kwh) == "5.5"
    assert {e.provider for e in events} == {cpo.name}


async def test_a_cdr_is_stored_once_and_its_session_lists_it(
    pool: Pool, broker: AmqpBroker, cpo: Cpo, published: list[Envelope]
) -> None:
    await take_in(pool, broker, [cpo.put("s5", 0, status="COMPLETED")])
    cdr = fixture("cdr_time_tariff")
    cdr.update(party_id=cpo.party, id="cdr-5", session_id="s5")
    changed = dict(cdr, remark="another body under the same id")
    await take_in(pool, broker, [cpo.push("cdr", cdr, "cdr-5")])
    await take_in(pool, broker, [cpo.push("cdr", changed, "cdr-5")])
    stored = await stored_cdr(pool, "ES", cpo.party, "cdr-5")
    assert stored is not None and msgspec.json.decode(stored) == cdr  # the first body is the CDR
    mine = await events_of(published, cpo, 3)
    extension = msgspec.json.decode(mine[-1].session)[EXTENSION]
    assert extension["cdr_ids"] == ["cdr-5"]


def period(minutes: int) -> dict[str, Any]:
    return {"start_date_time": stamp(minutes), "dimensions": [{"type": "TIME", "volume": 0.1}]}


def renamed(push: OcpiPush, session_id: str) -> OcpiPush:
    body = msgspec.json.decode(push.body)
    if "id" in body:
        body["id"] = session_id
    raw = msgspec.Raw(msgspec.json.encode(body))
    return msgspec.structs.replace(
        push, object_id=session_id, body=raw, push_id=push.push_id + session_id
    )


async def events_of(published: list[Envelope], cpo: Cpo, count: int) -> list[Envelope]:
    for _ in range(100):
        mine = [e for e in published if e.provider == cpo.name]
        if len(mine) >= count:
            return mine
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} events of {cpo.name} expected, got {len(mine)}")


async def last_error(pool: Pool, cpo: Cpo) -> str | None:
    error: str | None = await pool.fetchval(
        "SELECT last_error FROM ocpi_cpos WHERE name = $1", cpo.name
    )
    return error


async def registered(pool: Pool, cpo: Cpo) -> Cpo:
    await registering.add_cpo(pool, cpo.name, {("ES", cpo.party)})
    return cpo


async def test_a_merge_that_is_no_page_session_is_stored_and_noted_never_published(
    pool: Pool, broker: AmqpBroker, cpo: Cpo, published: list[Envelope]
) -> None:
    """Each push alone was fine; merged, the Session ends before it starts."""
    await registered(pool, cpo)
    await take_in(pool, broker, [cpo.put("s6", 0, status="ACTIVE")])  # starts 09:00
    await take_in(pool, broker, [cpo.patch("s6", 5, end_date_time="2026-03-01T08:00:00Z")])
    session = await merged(pool, cpo, "s6")
    assert session is not None and session["end_date_time"] == "2026-03-01T08:00:00Z"
    error = await last_error(pool, cpo)
    assert error is not None and "is no page session" in error and "end_date_time" in error
    await take_in(pool, broker, [cpo.put("s6-marker", 0)])
    mine = await events_of(published, cpo, 2)  # the first merge and the marker's, not the bad
    assert [e.session for e in mine if b"s6-marker" not in bytes(e.session)] == [mine[0].session]
    assert len(mine) == 2


async def test_another_cdr_body_under_a_stored_id_is_dropped_and_noted(
    pool: Pool, broker: AmqpBroker, cpo: Cpo
) -> None:
    await registered(pool, cpo)
    cdr = fixture("cdr_time_tariff")
    cdr.update(party_id=cpo.party, id="cdr-7", session_id=None)
    await take_in(pool, broker, [cpo.push("cdr", cdr, "cdr-7")])
    await take_in(pool, broker, [cpo.push("cdr", cdr, "cdr-7")])  # the same again: nothing
    assert await last_error(pool, cpo) is None
    await take_in(pool, broker, [cpo.push("cdr", dict(cdr, remark="changed"), "cdr-7")])
    error = await last_error(pool, cpo)
    assert error is not None and "cdr-7" in error and "dropped" in error
    stored = await stored_cdr(pool, "ES", cpo.party, "cdr-7")
    assert stored is not None and "remark" not in msgspec.json.decode(stored)


def cdr_of(cpo: Cpo, cdr_id: str, excl: float, minutes: int, **fields: Any) -> OcpiPush:
    cdr = fixture("cdr_time_tariff")
    cdr.update(party_id=cpo.party, id=cdr_id, last_updated=stamp(minutes), **fields)
    cdr["total_cost"] = {"excl_vat": excl, "incl_vat": round(excl * 1.1, 2)}
    return cpo.push("cdr", cdr, cdr_id)


async def ledger(pool: Pool, cpo: Cpo) -> list[str]:
    rows = await pool.fetch(
        "SELECT id, session_id, cdr_id, kind, amount, refers_to, cpo_excl_vat FROM bills"
        " WHERE provider = $1 ORDER BY id",
        cpo.name,
    )
    first = rows[0]["id"] if rows else 0
    return [
        f"{r['kind']} {r['amount']} of {r['cdr_id']} for {r['session_id']}"
        f" (cpo {r['cpo_excl_vat']})"
        + ("" if r["refers_to"] is None else f" refers {r['refers_to'] - first}")
        for r in rows
    ]


async def test_a_cdr_its_credit_and_a_new_cdr_make_a_final_its_credit_and_a_new_final(
    pool: Pool, broker: AmqpBroker, cpo: Cpo
) -> None:
    """docs/billing.md#ocpi-sessions-and-cdrs, in the ocpi worker's transaction."""
    await registered(pool, cpo)
    p = f"ES-{cpo.party}"
    await take_in(pool, broker, [cpo.put("s9", 0, status="COMPLETED")])
    await take_in(pool, broker, [cdr_of(cpo, "cdr-9", 4.00, 41, session_id="s9")])
    credit = cdr_of(cpo, "cdr-9-c", -4.00, 42, session_id="s9", credit=True,
                    credit_reference_id="cdr-9")  # fmt: skip
    await take_in(pool, broker, [credit])
    await take_in(pool, broker, [credit])  # a redelivery bills nothing and refuses nothing
    await take_in(pool, broker, [cdr_of(cpo, "cdr-9b", 4.50, 43, session_id="s9")])
    assert await last_error(pool, cpo) is None
    assert await ledger(pool, cpo) == [
        f"final 5.32 of {p}-cdr-9 for {p}-s9 (cpo 4.0)",
        f"credit -5.32 of {p}-cdr-9-c for {p}-s9 (cpo -4.0) refers 0",
        f"final 5.99 of {p}-cdr-9b for {p}-s9 (cpo 4.5) refers 0",
    ]


async def test_a_cdr_of_no_known_session_is_billed_on_its_own(
    pool: Pool, broker: AmqpBroker, cpo: Cpo
) -> None:
    await registered(pool, cpo)
    p = f"ES-{cpo.party}"
    await take_in(pool, broker, [cdr_of(cpo, "cdr-n", 4.00, 41, session_id="never-pushed")])
    await take_in(pool, broker, [cdr_of(cpo, "cdr-o", 1.25, 41, session_id=None)])
    assert await ledger(pool, cpo) == [
        f"final 5.32 of {p}-cdr-n for {p}-never-pushed (cpo 4.0)",
        f"final 1.67 of {p}-cdr-o for {p}-cdr-o (cpo 1.25)",
    ]


async def test_a_cdr_that_cannot_be_billed_is_stored_nowhere_and_noted(
    pool: Pool, broker: AmqpBroker, cpo: Cpo
) -> None:
    """What ingest refuses when it can tell; the worker checks again as it bills."""
    await registered(pool, cpo)
    unknown = cdr_of(cpo, "cdr-u-c", -4.00, 42, credit=True, credit_reference_id="cdr-u")
    await take_in(pool, broker, [unknown])
    assert await stored_cdr(pool, "ES", cpo.party, "cdr-u-c") is None
    error = await last_error(pool, cpo)
    assert error is not None and "cdr-u-c not billed" in error and "no CDR" in error
    await take_in(pool, broker, [cdr_of(cpo, "cdr-a", 4.00, 41, session_id="s10")])
    await take_in(pool, broker, [cdr_of(cpo, "cdr-b", 4.50, 42, session_id="s10")])
    assert await stored_cdr(pool, "ES", cpo.party, "cdr-b") is None
    error = await last_error(pool, cpo)
    assert error is not None and "cdr-b not billed" in error and "not credited" in error
    assert [line.split(" of ")[0] for line in await ledger(pool, cpo)] == ["final 5.32"]
