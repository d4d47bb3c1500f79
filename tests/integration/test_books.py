"""The books on a real PostgreSQL, each test on a database of its own: a day's reconciliation
(GET /v1/reconciliation) and a session's bill chain (GET /v1/sessions/{provider}/{id}/bills),
digit for digit, over the day of tests/books_support.py."""

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from chargehook.billing.reconciling import reconcile
from chargehook.ingest.app import create_app
from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.memory_broker import MemoryBroker
from chargehook.providers.store import add_provider
from tests.books_support import DAY, Books, a_day_of_bills, exact, fresh_books
from tests.support import ADMIN_TOKEN, IngestServer

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def books() -> AsyncIterator[Books]:
    async with fresh_books() as found:
        await a_day_of_bills(found)
        yield found


@pytest.fixture
async def api(books: Books) -> AsyncIterator[Client]:
    """The admin API on the test's own database; the books need no broker."""
    app = create_app(MemoryBroker(), books.pool, every_metric(), ADMIN_TOKEN)
    async with TestClient(IngestServer(app)) as client:
        yield client


async def got(api: Client, path: str, status: int = 200, **params: str) -> Any:
    answer = await api.get(path, params=params, headers=ADMIN)
    body = await answer.read()
    assert answer.status == status, body
    assert answer.content_type == "application/json"
    return exact.decode(body)


def sums(amount: str, commission: str, tax: str) -> dict[str, str]:
    return {"amount": amount, "commission": commission, "tax": tax}


def figure(name: str, bills: int, theirs: str, ours: str, difference: str) -> dict[str, Any]:
    return {"figure": name, "bills": bills, "theirs": theirs, "ours": ours,
            "difference": difference}  # fmt: skip


def acme_cpo(ids: dict[str, int]) -> dict[str, Any]:
    """A CDR final, its credit CDR and a new final; another CDR final, credited by a credit
    CDR 0.10 short of it: what is billed is the new final, 5.99."""
    return {
        "provider": "acme-cpo",
        "finals": 3,
        "credits": 2,
        "currencies": [{
            "currency": "EUR", "finals": 3, "credits": 2,
            "finals_sum": sums("14.11", "1.06", "2.45"),
            "credits_sum": sums("-8.12", "-0.61", "-1.41"),
            "net": sums("5.99", "0.45", "1.04"),
            "provider_figures": [figure("total_cost.excl_vat", 5, "4.60", "4.50", "0.10")],
        }],
        "mismatches": [{
            "bill_id": ids["cdr credit off"], "session_id": "ES-ABC-s2", "kind": "credit",
            "currency": "EUR", "figure": "total_cost.excl_vat", "theirs": "-2.00",
            "ours": "-2.10", "difference": "0.10",
        }],
    }  # fmt: skip


EMT = {
    "provider": "emt",
    "finals": 1,
    "credits": 0,
    "currencies": [{
        "currency": "JPY", "finals": 1, "credits": 0,
        # JPY has no minor unit: whole numbers
        "finals_sum": {"amount": 1664, "commission": 125, "tax": 289},
        "credits_sum": {"amount": 0, "commission": 0, "tax": 0},
        "net": {"amount": 1664, "commission": 125, "tax": 289},
        "provider_figures": [{"figure": "amount", "bills": 1, "theirs": 1664, "ours": 1664,
                              "difference": 0}],
    }],
    "mismatches": [],
}  # fmt: skip


def repsol(ids: dict[str, int]) -> dict[str, Any]:
    """A final, then its credit and a new final; one sent an amount 0.03 off (listed) and a tax
    0.01 off (not); one sent the page's 0 placeholders (not compared)."""
    return {
        "provider": "repsol",
        "finals": 4,
        "credits": 1,
        "currencies": [{
            "currency": "EUR", "finals": 4, "credits": 1,
            "finals_sum": sums("33.37", "2.52", "5.79"),
            "credits_sum": sums("-14.06", "-1.06", "-2.44"),
            "net": sums("19.31", "1.46", "3.35"),
            "provider_figures": [
                figure("amount", 4, "16.68", "16.65", "0.03"),
                figure("commision_price", 4, "1.26", "1.26", "0.00"),
                figure("tax_price", 4, "2.90", "2.89", "0.01"),
            ],
        }],
        "mismatches": [{
            "bill_id": ids["off"], "session_id": "s-off", "kind": "final", "currency": "EUR",
            "figure": "amount", "theirs": "1.70", "ours": "1.67", "difference": "0.03",
        }],
    }  # fmt: skip


async def test_a_day_is_reconciled_per_provider_digit_for_digit(books: Books, api: Client) -> None:
    report = await got(api, "/v1/reconciliation", day="2026-03-01")
    assert report == {
        "day": "2026-03-01",
        "provider": None,
        "providers": [acme_cpo(books.ids), EMT, repsol(books.ids)],
    }


async def test_one_provider_s_day(books: Books, api: Client) -> None:
    report = await got(api, "/v1/reconciliation", day="2026-03-01", provider="repsol")
    assert report == {"day": "2026-03-01", "provider": "repsol", "providers": [repsol(books.ids)]}
    nobody = await got(api, "/v1/reconciliation", day="2026-03-01", provider="no-such-one")
    assert nobody == {"day": "2026-03-01", "provider": "no-such-one", "providers": []}


async def test_the_day_is_the_utc_day_of_billed_at(books: Books, api: Client) -> None:
    """A microsecond before the day and the day after's first are in those days, not this."""
    before = await got(api, "/v1/reconciliation", day="2026-02-28")
    after = await got(api, "/v1/reconciliation", day="2026-03-02")
    for report, name in ((before, "before"), (after, "after")):
        [provider] = report["providers"]
        assert (provider["provider"], provider["finals"], provider["credits"]) == ("repsol", 1, 0)
        assert [m["bill_id"] for m in provider["mismatches"]] == [books.ids[name]]
    assert (await got(api, "/v1/reconciliation", day="2026-03-03"))["providers"] == []


async def test_the_use_case_answers_as_the_api(books: Books) -> None:
    report = await reconcile(books.pool, DAY, "acme-cpo")
    [acme] = report.providers
    [eur] = acme.currencies
    assert (str(eur.net.amount), str(eur.credits_sum.tax)) == ("5.99", "-1.41")
    assert [(m.bill_id, m.kind, m.figure) for m in acme.mismatches] == [
        (books.ids["cdr credit off"], "credit", "total_cost.excl_vat")
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "day: Expected a date as YYYY-MM-DD (the UTC day of billed_at)"),
        ({"day": ""}, "day: Expected a date as YYYY-MM-DD (the UTC day of billed_at)"),
        ({"day": "2026-02-30"}, "day: Expected a date as YYYY-MM-DD, got '2026-02-30'"),
        ({"day": "yesterday"}, "day: Expected a date as YYYY-MM-DD, got 'yesterday'"),
        (
            {"day": "2026-03-01", "provider": "Repsol"},
            "provider: Expected a provider name (a-z, 0-9, '-', '_'), got 'Repsol'",
        ),
        (
            {"day": "2026-03-01", "provider": "repsol\x00"},
            "provider: Expected a provider name (a-z, 0-9, '-', '_'), got 'repsol\\x00'",
        ),
    ],
    ids=["missing", "empty", "no such date", "not a date", "not a name", "a NUL"],
)
async def test_a_bad_day_or_provider_is_a_400_naming_it(
    api: Client, params: dict[str, str], message: str
) -> None:
    refused = await got(api, "/v1/reconciliation", 400, **params)
    assert refused == {"statusCode": 400, "message": message, "error": "Bad Request"}


async def test_the_books_need_the_admin_token(books: Books, api: Client) -> None:
    token = await add_provider(books.pool, "repsol")
    for path in ("/v1/reconciliation?day=2026-03-01", "/v1/sessions/repsol/s-page/bills"):
        assert (await api.get(path)).status == 401
        refused = await api.get(path, headers={"Authorization": f"Bearer {token}"})
        assert refused.status == 403


def bill(ids: dict[str, int], name: str, **fields: Any) -> dict[str, Any]:
    return {"id": ids[name], **fields}


async def test_a_page_session_s_chain_is_every_bill_in_id_order(books: Books, api: Client) -> None:
    chain = await got(api, "/v1/sessions/repsol/s-page/bills")
    ids = books.ids
    shown = [
        {k: b[k] for k in ("id", "kind", "refers_to", "event_id", "cdr_id", "amount", "tax")}
        for b in chain["bills"]
    ]
    assert shown == [
        bill(ids, "estimate", kind="estimate", refers_to=None, event_id="evt-page-0",
             cdr_id=None, amount="6.59", tax="1.14"),
        bill(ids, "page final", kind="final", refers_to=None, event_id="evt-page-1",
             cdr_id=None, amount="14.06", tax="2.44"),
        bill(ids, "page credit", kind="credit", refers_to=ids["page final"],
             event_id="evt-page-2", cdr_id=None, amount="-14.06", tax="-2.44"),
        bill(ids, "page again", kind="final", refers_to=ids["page final"],
             event_id="evt-page-2", cdr_id=None, amount="14.98", tax="2.60"),
    ]  # fmt: skip
    assert chain["billed_total"] == [
        {"currency": "EUR", "amount": "14.98", "commission": "1.13", "tax": "2.60"}
    ]
    assert (chain["provider"], chain["session_id"]) == ("repsol", "s-page")
    credit = chain["bills"][2]
    assert credit == {
        "id": ids["page credit"], "kind": "credit", "refers_to": ids["page final"],
        "event_id": "evt-page-2", "cdr_id": None, "status": "FINISHED", "reason": None,
        "currency": "EUR", "price_unit": "kwh", "quantity": "23.456", "base": "-10.56",
        "access_fee": "0.00", "subtotal": "-10.56", "commission": "-1.06", "tax": "-2.44",
        "amount": "-14.06", "commission_rate": "0.10", "tax_rate": "0.21",
        "provider_amount": "-14.06", "provider_commission": "-1.06", "provider_tax": "-2.44",
        "cpo_excl_vat": None, "cpo_incl_vat": None, "mismatch": False,
        "billed_at": "2026-03-01T11:00:00Z",
    }  # fmt: skip


async def test_an_ocpi_session_s_chain_names_its_cdrs(books: Books, api: Client) -> None:
    chain = await got(api, "/v1/sessions/acme-cpo/ES-ABC-s1/bills")
    ids = books.ids
    assert [
        (b["id"], b["kind"], b["refers_to"], b["event_id"], b["cdr_id"], b["cpo_excl_vat"],
         b["cpo_incl_vat"], b["base"], b["amount"])
        for b in chain["bills"]
    ] == [
        (ids["cdr final"], "final", None, None, "ES-ABC-cdr1", "4.00", "4.84", "4.00", "5.32"),
        (ids["cdr credit"], "credit", ids["cdr final"], None, "ES-ABC-cdr2", "-4.00", "-4.84",
         "-4.00", "-5.32"),
        (ids["cdr again"], "final", ids["cdr final"], None, "ES-ABC-cdr3", "4.50", "5.45",
         "4.50", "5.99"),
    ]  # fmt: skip
    assert chain["billed_total"] == [
        {"currency": "EUR", "amount": "5.99", "commission": "0.45", "tax": "1.04"}
    ]


async def test_a_session_with_no_bill_in_the_books_has_a_chain_and_no_total(
    api: Client,
) -> None:
    chain = await got(api, "/v1/sessions/repsol/s-incomplete/bills")
    assert [(b["kind"], b["amount"], b["reason"]) for b in chain["bills"]] == [
        ("incomplete", None, "price_unit missing")
    ]
    assert chain["billed_total"] == []


async def test_a_session_without_a_bill_is_a_404_in_the_page_s_shape(api: Client) -> None:
    missing = await got(api, "/v1/sessions/repsol/s-nothing/bills", 404)
    assert missing == {
        "statusCode": 404,
        "message": "No bill of session 's-nothing' from provider 'repsol'",
        "error": "Not Found",
    }
    other = await got(api, "/v1/sessions/emt/s-page/bills", 404)  # another provider's id
    assert other["message"] == "No bill of session 's-page' from provider 'emt'"
