"""Correctable money through the real pipeline (docs/billing.md#the-ledger): `chargehook
ingest` and every worker as processes on RabbitMQ and PostgreSQL. A page-shaped provider
corrects a session; a CPO's Session gets a CDR, a credit CDR and a new CDR. The subscriber sees
each total in order, each correction naming the bill it replaces; the books, the bill chains
and the accounting export show the chains."""

import asyncio
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec
import pytest

from tests import processes
from tests.billing_examples import WORKED_EXAMPLES, number
from tests.ocpi_cpo import simulated_cpo
from tests.ocpi_cpo import token_header as token
from tests.ocpi_pipeline import at, fixture, ocpi, onboard, pipeline, register_cpo, subscribe
from tests.receiver import Receiver, receiving
from tests.support import ADMIN_TOKEN, eventually

pytestmark = pytest.mark.services
KWH = WORKED_EXAMPLES[0]  # 14.06
exact = msgspec.json.Decoder(float_hook=Decimal)


async def add_provider(database_url: str, name: str) -> dict[str, str]:
    added = await processes.run(
        ["provider", "add", name], processes.chargehook_env(database_url=database_url)
    )
    assert added.returncode == 0, added.stderr
    return {"Authorization": f"Bearer {added.stdout.split()[-1]}"}


def totals(hook: Receiver, session_id: str) -> list[tuple[Decimal, Any]]:
    """The session's delivered totals in order of delivery, each with its correction field."""
    return [
        (item["amount"], item.get("correction")) for item in hook.items if item["id"] == session_id
    ]


async def delivered(hook: Receiver, session_id: str, amount: str) -> list[tuple[Decimal, Any]]:
    async def arrived() -> list[tuple[Decimal, Any]] | None:
        seen = totals(hook, session_id)
        return seen if seen and seen[-1][0] == Decimal(amount) else None

    seen = await eventually(arrived, within=60, interval=0.3)
    assert seen is not None
    return seen


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def books_of(http: aiohttp.ClientSession, base: str, provider: str, day: str) -> Any:
    """The day's reconciliation of `provider`: its one currency's counts and net."""
    url = f"{base}/v1/reconciliation?day={day}&provider={provider}"
    async with http.get(url, headers=ADMIN) as answered:
        assert answered.status == 200, await answered.text()
        (books,) = exact.decode(await answered.read())["providers"]
    (currency,) = books["currencies"]
    return currency["finals"], currency["credits"], currency["net"]["amount"]


async def chain_of(http: aiohttp.ClientSession, base: str, provider: str, session_id: str) -> Any:
    """The session's bill chain (each bill's kind, amount and the position of the bill it
    refers to), and the day its last bill was made."""
    url = f"{base}/v1/sessions/{provider}/{session_id}/bills"
    async with http.get(url, headers=ADMIN) as answered:
        assert answered.status == 200, await answered.text()
        bills = exact.decode(await answered.read())["bills"]
    position = {bill["id"]: n for n, bill in enumerate(bills)}
    chain = [(b["kind"], b["amount"], position.get(b["refers_to"])) for b in bills]
    return chain, bills[-1]["billed_at"][:10]


async def export_of(database_url: str, provider: str, day: str) -> list[Any]:
    """`chargehook bills export` of the provider's finals and credits of the day, as JSON
    lines: each bill's kind, amount, source and what it refers to, by position."""
    env = processes.chargehook_env(database_url=database_url)
    until = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    args = ["bills", "export", "--since", day, "--until", until, "--provider", provider]
    done = await processes.run([*args, "--format", "jsonl"], env)
    assert done.returncode == 0, done.stderr
    bills = [exact.decode(line) for line in done.stdout.splitlines()]
    ledger = [b for b in bills if b["kind"] in ("final", "credit")]
    position = {bill["id"]: n for n, bill in enumerate(ledger)}
    return [
        (b["kind"], b["amount"], b["event_id"] is not None, b["cdr_id"] is not None,
         position.get(b["refers_to"]))
        for b in ledger
    ]  # fmt: skip


async def post_cdr(http: aiohttp.ClientSession, base: str, token_c: str, cdr: Any) -> None:
    status, answered, _ = await ocpi(http, "POST", f"{base}/ocpi/2.2.1/cdrs", token(token_c), cdr)
    assert status == 201 and answered["status_code"] == 1000, answered


async def test_a_page_correction_and_an_ocpi_cdr_credit_and_new_cdr_reach_the_subscriber(
    amqp_url: str, database_url: str
) -> None:
    provider = f"fix{uuid.uuid4().hex[:8]}"
    name, party = f"cpo-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:3].upper()
    sid = f"s-{uuid.uuid4().hex[:8]}"
    page_id, ocpi_id = f"p-{sid}", f"ES-{party}-{sid}"
    callbacks = await add_provider(database_url, provider)
    token_a = await register_cpo(database_url, name, party)
    async with (
        simulated_cpo() as cpo,
        receiving() as hook,
        pipeline(amqp_url, database_url) as base,
        aiohttp.ClientSession() as http,
    ):
        token_c = await onboard(http, base, cpo, party, token_a)
        await subscribe(http, base, hook, name)
        await subscribe(http, base, hook, provider)
        await asyncio.sleep(1)  # the workers learn of the subscriptions by a NOTIFY

        # a page-shaped provider: example 1, then corrected to 25.000 kWh
        async def post(item: dict[str, Any]) -> None:
            headers = {**callbacks, "Content-Type": "application/json"}
            body = msgspec.json.encode(item)
            async with http.post(f"{base}/v1/sessions", data=body, headers=headers) as answered:
                assert answered.status == 200, await answered.text()

        await post(KWH.item(page_id))
        await delivered(hook, page_id, "14.06")
        corrected = KWH.item(page_id, updatedAt="2026-03-01T14:00:00+00:00")
        corrected["charged_kwh"] = number("25.000")
        await post(corrected)
        page_totals = await delivered(hook, page_id, "14.98")

        # a CPO's Session: completed (an estimate), its CDR, a credit CDR and a new CDR
        put = fixture("session_pending")
        put.update(party_id=party, id=sid, status="COMPLETED", last_updated=at(40),
                   end_date_time=at(40), total_cost={"excl_vat": 3.00})  # fmt: skip
        url = f"{base}/ocpi/2.2.1/sessions/ES/{party}/{sid}"
        status, answered, _ = await ocpi(http, "PUT", url, token(token_c), put)
        assert status == 200, answered
        await delivered(hook, ocpi_id, "3.99")  # the estimate: 3.00 + 0.30 + 0.69
        cdr = fixture("cdr_time_tariff")
        cdr.update(party_id=party, id=f"cdr-{sid}", session_id=sid, last_updated=at(41),
                   total_cost={"excl_vat": 4.00, "incl_vat": 4.40})  # fmt: skip
        await post_cdr(http, base, token_c, cdr)
        await delivered(hook, ocpi_id, "5.32")
        credit = dict(cdr, id=f"cdr-{sid}-c", credit=True, credit_reference_id=f"cdr-{sid}",
                      last_updated=at(42))  # fmt: skip
        credit["total_cost"] = {"excl_vat": -4.00, "incl_vat": -4.40}
        await post_cdr(http, base, token_c, credit)
        await delivered(hook, ocpi_id, "0.00")
        again = dict(cdr, id=f"cdr-{sid}-2", last_updated=at(43),
                     total_cost={"excl_vat": 4.50, "incl_vat": 4.95})  # fmt: skip
        await post_cdr(http, base, token_c, again)
        ocpi_totals = await delivered(hook, ocpi_id, "5.99")
        chains = {
            who: await chain_of(http, base, who, sid)
            for who, sid in ((provider, page_id), (name, ocpi_id))
        }
        books = {who: await books_of(http, base, who, day) for who, (_, day) in chains.items()}
    exported = {who: await export_of(database_url, who, day) for who, (_, day) in chains.items()}

    final, replacing = page_totals[0][1], page_totals[-1][1]
    assert [amount for amount, _ in page_totals] == [Decimal("14.06"), Decimal("14.98")]
    assert final is None and replacing is not None and set(replacing) == {"bill_id", "replaces"}
    amounts = [amount for amount, _ in ocpi_totals]
    assert [a for i, a in enumerate(amounts) if i == 0 or a != amounts[i - 1]] == [
        Decimal("3.99"), Decimal("5.32"), Decimal("0.00"), Decimal("5.99"),
    ]  # fmt: skip
    corrections = [c for _, c in ocpi_totals if c is not None]
    credit_of, new_final = corrections[0], corrections[-1]
    assert set(credit_of) == {"bill_id", "credits"}
    assert new_final["replaces"] == credit_of["credits"]  # the new CDR replaces the credited

    # the books show the chain: two finals and a credit each, netting to the latest total
    assert books == {
        provider: (2, 1, Decimal("14.98")),
        name: (2, 1, Decimal("5.99")),
    }
    assert chains[provider][0] == [
        ("final", Decimal("14.06"), None),
        ("credit", Decimal("-14.06"), 0),
        ("final", Decimal("14.98"), 0),
    ]
    assert [bill for bill in chains[name][0] if bill[0] != "estimate"] == [
        ("final", Decimal("5.32"), None),
        ("credit", Decimal("-5.32"), 1),
        ("final", Decimal("5.99"), 1),
    ]
    # the accounting export has the same chains: from events, and from CDRs
    assert exported == {
        provider: [
            ("final", Decimal("14.06"), True, False, None),
            ("credit", Decimal("-14.06"), True, False, 0),
            ("final", Decimal("14.98"), True, False, 0),
        ],
        name: [
            ("final", Decimal("5.32"), False, True, None),
            ("credit", Decimal("-5.32"), False, True, 0),
            ("final", Decimal("5.99"), False, True, 0),
        ],
    }
