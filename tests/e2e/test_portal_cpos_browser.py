"""The portal's CPOs in a real Chromium against a real `chargehook run`: an operator adds a CPO,
sees its token A once, and watches it register (a simulated CPO on loopback) with its
endpoints; the CPO's token B never reaches the page, and both views fit a phone."""

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest
from playwright.async_api import Page, expect

from tests.ocpi_cpo import new_name, new_party, simulated_cpo, token_header
from tests.ocpi_support import document
from tests.portal_support import (
    DESKTOP,
    PHONE,
    Stage,
    chromium,
    screenshots,
    sideways,
    staged,
    until,
)
from tests.portal_support import unlabelled_fields as unlabelled
from tests.support import ADMIN_TOKEN

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]


async def registered(stage: Stage, token_a: str, credentials: object) -> str:
    """The CPO's POST on our credentials endpoint, as the CPO sends it; its token C."""
    url = stage.base + "/ocpi/2.2.1/credentials"
    async with stage.http.post(url, json=credentials, headers=token_header(token_a)) as answer:
        body = await answer.json()
        assert (answer.status, body["status_code"]) == (200, 1000), body
        token_c: str = body["data"]["token"]
        return token_c


async def pushed(stage: Stage, token_c: str, method: str, path: str, body: object) -> None:
    """A push of the CPO, as it sends it, confirmed."""
    url = stage.base + "/ocpi/2.2.1" + path
    headers = {**token_header(token_c), "Content-Type": "application/json"}
    data = msgspec.json.encode(body)
    async with stage.http.request(method, url, data=data, headers=headers) as got:
        answer = await got.json()
        assert answer["status_code"] == 1000, answer


async def an_ocpi_session_shows_its_charging_periods_and_cdrs(
    page: Page, stage: Stage, name: str, party: str, token_c: str
) -> None:
    country_code, party_id = party.upper().split("-")
    session = of_party(document("session_completed"), country_code, party_id)
    cdr = of_party(document("cdr_time_tariff"), country_code, party_id)
    sid = session["id"]
    await pushed(stage, token_c, "PUT", f"/sessions/{country_code}/{party_id}/{sid}", session)
    await pushed(stage, token_c, "POST", "/cdrs", {**cdr, "session_id": sid})
    await page.goto(stage.portal + f"#/sessions?provider={name}&id={party.upper()}-{sid}")
    periods = page.get_by_role("table", name="Charging periods")
    rows = periods.get_by_role("row")

    async def reload() -> None:
        await page.reload()

    await until(page.get_by_role("table", name="CDRs"), reload)
    await expect(rows).to_have_count(1 + len(session["charging_periods"]))
    await expect(page.get_by_role("table", name="CDRs")).to_contain_text(cdr["id"])
    await expect(page.get_by_text("COMPLETED")).to_be_visible()
    await stage.shoot(page, "ocpi-session")
    await fits_a_phone(page, "an OCPI session")


def of_party(doc: dict[str, Any], country_code: str, party_id: str) -> dict[str, Any]:
    return {**doc, "country_code": country_code, "party_id": party_id}


async def fits_a_phone(page: Page, view: str) -> None:
    await page.set_viewport_size(PHONE)
    await expect(page.locator("h1:visible")).to_have_count(1)
    assert await sideways(page) == [], view
    assert await unlabelled(page) == [], view
    await page.set_viewport_size(DESKTOP)


async def test_an_operator_adds_a_cpo_and_sees_it_register(tmp_path: Path) -> None:
    name, party = new_name(), new_party()
    async with (
        staged(screenshots(tmp_path)) as stage,
        chromium() as browser,
        simulated_cpo() as cpo,
    ):
        page = await (await browser.new_context(viewport=DESKTOP)).new_page()
        faults: list[str] = []
        page.on("pageerror", lambda error: faults.append(str(error)))
        page.on("console", lambda m: faults.append(m.text) if m.type == "error" else None)
        await page.goto(stage.portal)
        await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        await page.keyboard.press("Enter")
        await page.get_by_role("link", name="CPOs").click()
        await expect(page.get_by_role("heading", name="CPOs")).to_be_visible()
        await expect(page.get_by_text("No CPO yet")).to_be_visible()
        await fits_a_phone(page, "no CPO")

        await page.get_by_label("Name").fill(name)
        await page.get_by_label("Parties").fill(f"{party}, ")
        await page.get_by_role("button", name="Add CPO").click()
        token_a = await page.locator(".secret-value").inner_text()
        assert token_a.startswith("chp_")
        await expect(page.get_by_text(f"{stage.base}/ocpi/versions")).to_be_visible()
        await stage.shoot(page, "cpo-added")

        token_c = await registered(stage, token_a, cpo.credentials(party))
        await page.get_by_role("link", name=f"Open {name}").click()
        await expect(page.get_by_role("heading", name=f"CPO {name}")).to_be_visible()
        await expect(page.locator(".badge")).to_have_text("registered")
        rows = page.get_by_role("table", name="Its endpoints, from its version details")
        await expect(rows.get_by_role("row")).to_have_count(1 + len(cpo.endpoints))
        await expect(page.get_by_text(cpo.endpoints[1]["url"])).to_be_visible()
        await expect(page.get_by_text(party.upper())).to_be_visible()
        await stage.shoot(page, "cpo")
        await fits_a_phone(page, "a CPO")

        await page.get_by_role("link", name="All CPOs").click()
        row = page.get_by_role("row").filter(has_text=name)
        await expect(row).to_contain_text("registered")
        await expect(row).to_contain_text(party.upper())
        await fits_a_phone(page, "the CPOs")
        assert token_a not in await page.content()  # shown once, on adding
        assert cpo.token_b not in await page.content()
        await asyncio.sleep(0)
        assert faults == []
        # (its lookups answer 404 until the session is stored: a console error each)
        await an_ocpi_session_shows_its_charging_periods_and_cdrs(page, stage, name, party, token_c)
