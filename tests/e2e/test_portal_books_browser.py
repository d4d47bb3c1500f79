"""The portal's books in a real Chromium against a real `chargehook run`: a session's bill chain
(its final as billed, then corrected: a credit and a new final written into the ledger as the
correcting worker will) with its billed total, and the reconciliation of a day, today's by
default, both digit for digit as the API answers them, and both fitting a phone."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from chargehook.plumbing.database import Pool, open_pool
from tests.books_support import Books, a_day_of_bills, correct, credit_of, exact
from tests.portal_support import (
    DESKTOP,
    PHONE,
    Stage,
    chromium,
    screenshots,
    sideways,
    staged,
    unlabelled_fields,
)
from tests.support import ADMIN_TOKEN, eventually

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]
SESSION = "s-chain"
# the correction: 10 kWh at 0.10 and the page example's access fee 0.15, at 0.10 and 0.21
CORRECTED = {
    "base": Decimal("1.00"),
    "access_fee": Decimal("0.15"),
    "subtotal": Decimal("1.15"),
    "commission": Decimal("0.12"),
    "tax": Decimal("0.27"),
    "amount": Decimal("1.54"),
    "quantity": Decimal("10.000"),
}
BAD = "rgb(164, 14, 38)"  # portal.css's --bad: what a credit is shown in


async def billed_then_corrected(stage: Stage, pool: Pool) -> tuple[int, int, int]:
    """The page example posted and billed by the running pipeline, then its credit and a new
    final in one transaction; the three bills' ids."""
    await stage.post(SESSION)

    async def final() -> Any:
        return await pool.fetchrow(
            "SELECT * FROM bills WHERE provider = $1 AND session_id = $2 AND kind = 'final'",
            stage.provider,
            SESSION,
        )

    first = dict(await eventually(final, within=60))
    now = datetime.now(UTC)
    replaced = {"refers_to": first["id"], "event_id": "evt-correction", "billed_at": now}
    again = {k: v for k, v in first.items() if k not in ("id", "mismatch", "updated_at")}
    again |= {**replaced, **CORRECTED, "received_at": now, "inputs": None}
    credited, replacing = await correct(pool, credit_of(first, **replaced), again)
    return first["id"], credited, replacing


async def logged_in(page: Page, stage: Stage) -> None:
    await page.goto(stage.portal)
    await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible()


async def test_an_operator_reads_a_bill_chain_and_reconciles_a_day(tmp_path: Path) -> None:
    async with staged(screenshots(tmp_path)) as stage, chromium() as browser:
        async with open_pool(stage.database_url) as pool:
            ids = await billed_then_corrected(stage, pool)
            day = await a_day_of_bills(Books(stage.database_url, pool))
        page = await (await browser.new_context(viewport=DESKTOP)).new_page()
        faults: list[str] = []
        page.on("pageerror", lambda error: faults.append(str(error)))
        page.on("console", lambda m: faults.append(m.text) if m.type == "error" else None)
        await logged_in(page, stage)
        await the_chain_shows_every_bill_and_what_it_refers_to(page, stage, ids)
        await todays_books_hold_the_correction(page, stage)
        await a_days_books_show_sums_figures_and_mismatches(page, stage, day)
        await both_fit_a_phone(page, stage)
        # no fault of the page's own; the browser logs the 400 the bad provider was answered
        assert faults == [
            "Failed to load resource: the server responded with a status of 400 (Bad Request)"
        ]


async def the_chain_shows_every_bill_and_what_it_refers_to(
    page: Page, stage: Stage, ids: tuple[int, int, int]
) -> None:
    first, credited, replacing = ids
    await page.get_by_role("link", name="Sessions").click()
    await page.get_by_label("Provider").fill(stage.provider)
    await page.get_by_label("Session id").fill(SESSION)
    await page.get_by_role("button", name="Look up").click()
    await expect(page.get_by_role("heading", name="Bill chain")).to_be_visible()
    chain = exact.decode(await stage.admin_get(f"/v1/sessions/repsol/{SESSION}/bills"))
    rows = page.get_by_role("table", name="Bills, in id order").locator("tbody tr")
    await expect(rows).to_have_count(3)
    refers = {first: "-", credited: f"credits #{first}", replacing: f"replaces #{first}"}
    for row, bill in zip(await rows.all(), chain["bills"], strict=True):
        currency = bill["currency"]
        await expect(row.locator("td").nth(0)).to_have_text(f"#{bill['id']}")
        await expect(row.locator("td").nth(1)).to_have_text(bill["kind"])
        await expect(row.locator("td").nth(2)).to_have_text(refers[bill["id"]])
        for column, line in ((5, "base"), (6, "commission"), (7, "tax"), (8, "amount")):
            await expect(row.locator("td").nth(column)).to_have_text(f"{bill[line]} {currency}")
    credit = rows.nth(1)
    assert chain["bills"][1]["amount"].startswith("-")
    await expect(credit.locator("td").nth(8).locator(".negative")).to_have_css("color", BAD)
    await expect(credit.locator(".badge.credit")).to_have_css("color", BAD)
    [total] = chain["billed_total"]
    assert total["amount"] == "1.54"  # the new final's: the first and its credit cancel out
    facts = page.locator(".facts", has_text="Billed total")
    await expect(facts).to_contain_text(f"Billed total in {total['currency']}1.54 STRING")
    await expect(facts).to_contain_text("(commission 0.12, tax 0.27)")
    await stage.shoot(page, "bill-chain")


async def todays_books_hold_the_correction(page: Page, stage: Stage) -> None:
    await page.get_by_role("link", name="Reconciliation").click()
    await expect(page.get_by_role("heading", name="Reconciliation")).to_be_visible()
    today = datetime.now(UTC).date().isoformat()
    await expect(page.get_by_label("Day (UTC)")).to_have_value(today)  # today, in UTC
    repsol = page.locator("section.panel", has=page.get_by_role("heading", name="repsol:"))
    await expect(repsol.get_by_role("heading")).to_have_text(
        "repsol: 2 finals, 1 credit, 0 mismatches"
    )
    books = exact.decode(await stage.admin_get(f"/v1/reconciliation?day={today}"))
    [currency] = books["providers"][0]["currencies"]
    net = repsol.get_by_role("row", name=re.compile("^Net"))
    await expect(net).to_contain_text(f"{currency['net']['amount']} STRING")
    assert currency["net"]["amount"] == "1.54"


async def a_days_books_show_sums_figures_and_mismatches(
    page: Page, stage: Stage, day: dict[str, int]
) -> None:
    await page.get_by_label("Day (UTC)").fill("2026-03-01")
    await page.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(r"#/reconciliation\?day=2026-03-01$"))
    headings = page.locator("section.panel h2")
    await expect(headings).to_have_text([
        "acme-cpo: 3 finals, 2 credits, 1 mismatch",
        "emt: 1 final, 0 credits, 0 mismatches",
        "repsol: 4 finals, 1 credit, 1 mismatch",
    ])  # fmt: skip
    acme = page.locator('section.panel[data-provider="acme-cpo"]')
    books = acme.get_by_role("table", name="acme-cpo's books in EUR")
    await expect(books.locator("tbody tr")).to_have_text([
        re.compile(r"^Finals\s*3\s*14.11 EUR\s*1.06 EUR\s*2.45 EUR$"),
        re.compile(r"^Credits\s*2\s*-8.12 EUR\s*-0.61 EUR\s*-1.41 EUR$"),
        re.compile(r"^Net\s*5\s*5.99 EUR\s*0.45 EUR\s*1.04 EUR$"),
    ])  # fmt: skip
    await expect(books.locator(".negative")).to_have_count(3)  # the credits' three lines
    figures = acme.get_by_role("table", name=re.compile("acme-cpo's own figures in EUR"))
    await expect(figures.locator("tbody tr")).to_have_text(
        re.compile(r"^total_cost.excl_vat\s*5\s*4.60 EUR\s*4.50 EUR\s*0.10 EUR$")
    )
    mismatch = acme.get_by_role("table", name="Mismatches of acme-cpo").locator("tbody tr")
    await expect(mismatch).to_have_text(re.compile(
        rf"^#{day['cdr credit off']}\s*ES-ABC-s2\s*credit\s*total_cost.excl_vat\s*-2.00 EUR"
        r"\s*-2.10 EUR\s*0.10 EUR$"
    ))  # fmt: skip
    link = mismatch.get_by_role("link", name="ES-ABC-s2")
    await expect(link).to_have_attribute("href", "#/sessions?provider=acme-cpo&id=ES-ABC-s2")
    repsol = page.locator('section.panel[data-provider="repsol"]')
    await expect(repsol.get_by_role("row", name=re.compile("^Net"))).to_contain_text("19.31 EUR")
    await expect(repsol.get_by_role("table", name="Mismatches of repsol")).to_contain_text("s-off")
    await stage.shoot(page, "reconciliation")
    await page.get_by_label("Provider (empty: every one)").fill("Not A Name")
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "provider: Expected a provider name (a-z, 0-9, '-', '_'), got 'Not A Name'"
    )


async def both_fit_a_phone(page: Page, stage: Stage) -> None:
    await page.set_viewport_size(PHONE)
    for view in (f"#/sessions?provider=repsol&id={SESSION}", "#/reconciliation?day=2026-03-01"):
        await page.goto(stage.portal + view)
        await expect(page.locator("#view h1")).to_be_visible()
        await expect(page.locator("table").first).to_be_visible()  # the view has landed
        assert await sideways(page) == [], view
        assert await unlabelled_fields(page) == [], view
    await page.set_viewport_size(DESKTOP)
