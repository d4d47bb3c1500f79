"""The operators' portal in a real Chromium, against a real `chargehook run` on RabbitMQ and
PostgreSQL: what an operator does in it, start to end, dead letters replayed and dropped, and
that nothing shows without the token.
"""

import asyncio
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest
from aiohttp import web
from playwright.async_api import Dialog, Locator, Page, Request, expect
from yarl import URL

from chargehook.plumbing.amqp import amqp_broker
from tests.notify_support import verify
from tests.portal_support import (
    ADMIN_ROUTES,
    DESKTOP,
    PHONE,
    Stage,
    chromium,
    screenshots,
    sideways,
    staged,
    unlabelled_fields,
    until,
)
from tests.receiver import Received, exact, ok
from tests.support import ADMIN_TOKEN, dead_lettered

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]
# Not UTC: a time read in the wrong zone would be an hour off, and the filters would show it.
ZONE = ZoneInfo("Europe/Madrid")
VIEWS = ("#/subscriptions", "#/sessions", "#/dead-letters")


async def broken(received: Received, count: int) -> web.Response:
    return web.Response(status=500, text="receiver is down")


MONEY_LINES = {
    "Base": "base",
    "Access fee": "access_fee",
    "Subtotal": "subtotal",
    "Amount": "amount",
}


def local(minutes: int) -> str:
    """A time in the browser's zone, as a datetime-local field takes it."""
    return (datetime.now(ZONE) + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M")


def admin_route(method: str, path: str) -> str:
    """The route table's admin route a call matched (each needs the admin token:
    tests/integration/test_portal.py)."""
    for route in ADMIN_ROUTES:
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(route.path))
        if route.method == method and re.fullmatch(pattern, path):
            return f"{method} {route.path}"
    raise AssertionError(f"the portal called {method} {path}, which is no admin route")


async def accept(dialog: Dialog) -> None:
    await dialog.accept()


def delivery(page: Page, session_id: str, status: str) -> Locator:
    return page.locator(
        f'article.delivery[data-status="{status}"]', has_text=f"Session {session_id} "
    )


async def filtered(page: Page) -> None:
    """Filter, and wait for the view to show the filter's answer."""
    view = page.locator("#view")
    before = await view.get_attribute("data-rendered") or ""
    await page.get_by_role("button", name="Filter").click()
    await expect(view).not_to_have_attribute("data-rendered", before)


async def refresh(page: Page) -> None:
    await page.get_by_role("button", name="Refresh").click()


async def test_an_operator_works_the_portal_start_to_end(tmp_path: Path) -> None:
    async with staged(screenshots(tmp_path)) as stage, chromium() as browser:
        context = await browser.new_context(viewport=DESKTOP, timezone_id=ZONE.key)
        await context.grant_permissions(["clipboard-read", "clipboard-write"])
        page = await context.new_page()
        faults: list[str] = []
        page.on("pageerror", lambda error: faults.append(str(error)))
        page.on("console", lambda m: faults.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda dialog: asyncio.ensure_future(accept(dialog)))
        calls: list[Request] = []
        page.on("request", lambda request: calls.append(request) if "/v1/" in request.url else None)

        await log_in_with_the_keyboard(page, stage)
        secret, snippet = await subscribe_the_receiver(page, stage)
        await send_a_test_event(page, stage, secret, snippet)
        await watch_deliveries_succeed_fail_and_come_back(page, stage)
        await rotate_the_secret(page, stage, secret)
        await look_up_the_session_and_its_bill(page, stage)
        await expect_every_view_to_fit_a_phone(page, stage)
        await edit_disable_and_delete(page, stage)
        await page.get_by_role("button", name="Log out").click()
        await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
        assert await page.evaluate("sessionStorage.length") == 0
        assert faults == []
        # every call it made was an admin route, with the admin token
        assert {request.headers["authorization"] for request in calls} == {f"Bearer {ADMIN_TOKEN}"}
        used = {admin_route(request.method, URL(request.url).path) for request in calls}
        assert len(used) >= 12, used


async def log_in_with_the_keyboard(page: Page, stage: Stage) -> None:
    await page.goto(stage.portal)
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await expect(page.get_by_label("Admin token")).to_be_focused()
    await stage.shoot(page, "login")
    await page.keyboard.type(ADMIN_TOKEN)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Subscriptions")).to_be_visible()


async def subscribe_the_receiver(page: Page, stage: Stage) -> tuple[str, str]:
    """The secret, shown once, and the verify snippet as the Copy button copied it."""
    await page.get_by_label("URL").fill(stage.receiver.url)
    await page.get_by_label("Providers").fill(stage.provider)
    await page.get_by_role("button", name="Create subscription").click()
    secret = await page.locator(".secret-value").inner_text()
    assert secret.startswith("whsec_")
    await page.get_by_role("button", name="Copy the snippet").click()
    await expect(page.get_by_text("Copied.")).to_be_visible()
    snippet: str = await page.evaluate("navigator.clipboard.readText()")
    assert secret in snippet  # ready to paste
    await stage.shoot(page, "subscribed")
    await page.get_by_role("link", name=f"Open {stage.receiver.url}").click()
    await expect(page.get_by_role("heading", name=stage.receiver.url)).to_be_visible()
    await expect(page.locator(".facts")).to_contain_text("enabled")
    return secret, snippet


async def send_a_test_event(page: Page, stage: Stage, secret: str, snippet: str) -> None:
    await page.get_by_role("button", name="Send a test event").focus()
    await page.keyboard.press("Enter")  # a native button: the keyboard works it
    await expect(page.locator(".test-outcome")).to_contain_text("accepted it: status 200")
    [test] = stage.receiver.received
    assert test.webhook_id.startswith("msg_test_")
    verify(test, secret)
    receiver: dict[str, Any] = {}
    exec(snippet, receiver)  # noqa: S102 - the snippet the portal gives a receiver, as pasted
    [item] = receiver["receive"](test.body, test.headers)
    assert item["chargehook_test"] is True
    await expect(page.get_by_text(test.webhook_id)).to_be_visible()
    await stage.shoot(page, "subscription")


async def watch_deliveries_succeed_fail_and_come_back(page: Page, stage: Stage) -> None:
    await stage.post("s-ok")
    await page.get_by_role("link", name="Deliveries").click()
    await expect(page.get_by_role("heading", name="Deliveries")).to_be_visible()
    await until(delivery(page, "s-ok", "succeeded"), lambda: refresh(page))

    stage.receiver.answer = broken  # failed twice (the retry), then given up
    await stage.post("s-bad")
    failed = delivery(page, "s-bad", "failed")
    await until(failed, lambda: refresh(page))
    await expect(failed.locator("tbody tr")).to_have_count(2)
    await expect(failed.locator("tbody")).to_contain_text("receiver is down")
    await stage.shoot(page, "deliveries")

    stage.receiver.answer = ok  # fixed: one replayed, the other recovered
    await failed.get_by_role("button", name="Replay").click()
    replayed = delivery(page, "s-bad", "succeeded")
    await until(replayed, lambda: refresh(page))
    await expect(replayed.locator("tbody tr")).to_have_count(3)

    stage.receiver.answer = broken
    await stage.post("s-late")
    await until(delivery(page, "s-late", "failed"), lambda: refresh(page))
    stage.receiver.answer = ok
    await page.get_by_label("Failed since").fill(local(minutes=-30))
    await page.get_by_role("button", name="Recover").click()
    await expect(page.locator("#notice")).to_contain_text("Queued again: 1")
    await until(delivery(page, "s-late", "succeeded"), lambda: refresh(page))

    await page.get_by_label("Status").select_option("succeeded")
    await filtered(page)
    await expect(page.locator("article.delivery")).to_have_count(3)
    await page.get_by_label("Status").select_option("failed")
    await filtered(page)
    await expect(page.get_by_text("No delivery matches.")).to_be_visible()
    await page.get_by_label("Status").select_option("")
    await page.get_by_label("Since", exact=True).fill(local(minutes=-30))  # the browser's zone
    await filtered(page)
    await expect(page.locator("article.delivery")).to_have_count(3)
    assert "since=" in page.url  # a filtered view is an address to share
    await page.get_by_label("Since", exact=True).fill(local(minutes=30))
    await filtered(page)
    await expect(page.get_by_text("No delivery matches.")).to_be_visible()


async def rotate_the_secret(page: Page, stage: Stage, old: str) -> None:
    await page.get_by_role("link", name=stage.receiver.url).click()
    await expect(page.get_by_role("heading", name=stage.receiver.url)).to_be_visible()
    await page.get_by_role("button", name="Rotate the secret").click()  # confirmed by `accept`
    await expect(page.locator(".secret-value")).to_be_visible()
    new = await page.locator(".secret-value").inner_text()
    assert new.startswith("whsec_") and new != old
    await page.get_by_role("button", name="Send a test event").click()
    await expect(page.locator(".test-outcome")).to_contain_text("accepted it")
    signed = stage.receiver.received[-1]
    verify(signed, new)
    verify(signed, old)  # the old secret signs through its grace period too


async def look_up_the_session_and_its_bill(page: Page, stage: Stage) -> None:
    await page.get_by_role("link", name="Sessions").click()
    await expect(page.get_by_role("heading", name="Sessions", exact=True)).to_be_visible()
    await page.get_by_label("Provider").fill(stage.provider)
    await page.get_by_label("Session id").fill("s-ok")
    await page.get_by_role("button", name="Look up").click()
    await expect(page.get_by_role("heading", name="Session s-ok from repsol")).to_be_visible()
    billing = exact.decode(await stage.admin_get("/v1/sessions/repsol/s-ok"))["billing"]
    bill = page.locator("table", has_text="Bill of event")
    rated = {
        f"Commission at {billing['commission_rate']}": "commission",
        f"Tax at {billing['tax_rate']}": "tax",
    }
    for line, field in (MONEY_LINES | rated).items():
        shown = bill.locator("tr", has=page.get_by_text(line, exact=True))
        await expect(shown).to_contain_text(f"{billing[field]} {billing['currency']}")  # exactly
    history = page.locator("table", has_text="History, oldest first")
    await expect(history.locator("tbody tr")).to_have_count(1)
    await stage.shoot(page, "session")


async def edit_disable_and_delete(page: Page, stage: Stage) -> None:
    await page.get_by_role("link", name="Subscriptions").click()
    await page.get_by_role("link", name=stage.receiver.url).click()
    await page.get_by_label("Description").fill("the bench receiver")
    await page.get_by_label("FINISHED").check()
    await page.get_by_role("button", name="Save changes").click()
    facts = page.locator(".facts")
    await expect(facts).to_contain_text("the bench receiver")
    await expect(facts).to_contain_text("FINISHED")
    await page.get_by_role("button", name="Disable").click()
    await expect(facts).to_contain_text("disabled")
    await expect(facts).to_contain_text("Auto-disable-")  # no countdown once disabled
    await page.get_by_role("button", name="Enable").click()
    await expect(facts).not_to_contain_text("disabled")
    await page.get_by_role("button", name="Delete").click()  # confirmed by `accept`
    await expect(page.get_by_text("No subscription yet")).to_be_visible()
    await expect(page.locator("#notice")).to_have_text(
        f"Deleted the subscription to {stage.receiver.url}."
    )


async def expect_every_view_to_fit_a_phone(page: Page, stage: Stage) -> None:
    await page.set_viewport_size(PHONE)
    for view in VIEWS:
        await page.goto(stage.portal + view)
        await fits_a_phone(page, view)
    await page.get_by_role("link", name="Subscriptions").click()
    await page.get_by_role("link", name=stage.receiver.url).click()
    await fits_a_phone(page, "a subscription")
    await page.get_by_role("link", name="Deliveries").click()
    await expect(page.locator("article.delivery")).to_have_count(3)
    await fits_a_phone(page, "its deliveries")
    await page.goto(stage.portal + "#/sessions?provider=repsol&id=s-ok")
    await expect(page.get_by_role("heading", name="Session s-ok from repsol")).to_be_visible()
    await fits_a_phone(page, "a session")
    await stage.shoot(page, "phone")
    await page.set_viewport_size(DESKTOP)


async def fits_a_phone(page: Page, view: str) -> None:
    await expect(page.locator("#view h1")).to_be_visible()
    await expect(page.locator("h1:visible")).to_have_count(1)
    assert await sideways(page) == [], view
    assert await unlabelled_fields(page) == [], view


async def test_an_operator_replays_a_dead_letter_after_a_fix_and_drops_the_other(
    tmp_path: Path,
) -> None:
    async with staged(screenshots(tmp_path)) as stage, chromium() as browser:
        async with amqp_broker(stage.amqp_url, "portal test", 15) as broker:
            sessions = {
                await dead_lettered(broker, stage.provider, session_id): session_id
                for session_id in ("s-dead-1", "s-dead-2")
            }
        page = await (await browser.new_context(viewport=DESKTOP)).new_page()
        page.on("dialog", lambda dialog: asyncio.ensure_future(accept(dialog)))
        await log_in_with_the_keyboard(page, stage)
        await page.get_by_role("link", name="Dead letters").click()
        persist = page.locator("section.panel", has_text="chargehook.persist:")
        await expect(persist.get_by_role("heading")).to_have_text(
            "chargehook.persist: 2 in chargehook.persist.dead"
        )
        await expect(persist.locator("tbody")).to_contain_text("a bug, since fixed")
        await stage.shoot(page, "dead-letters")
        await page.set_viewport_size(PHONE)
        assert await sideways(page) == []  # with letters listed, too
        await page.set_viewport_size(DESKTOP)

        first = persist.locator("tbody tr").first
        replayed_id = await first.locator("code").first.inner_text()
        await first.get_by_role("button", name="Replay").click()
        await expect(page.locator("#notice")).to_contain_text("1 put back on chargehook.persist")
        await expect(persist.locator("tbody tr")).to_have_count(1)
        await expect(persist.locator("tbody")).not_to_contain_text(replayed_id)
        await persist.get_by_role("button", name="Drop all").click()  # confirmed by `accept`
        await expect(persist.get_by_text("None.")).to_be_visible()

        replayed, dropped = sessions.pop(replayed_id), sessions.popitem()[1]
        await page.goto(stage.portal + f"#/sessions?provider={stage.provider}&id={replayed}")
        look_up = page.get_by_role("button", name="Look up")
        heading = page.get_by_role("heading", name=f"Session {replayed} from {stage.provider}")
        await until(heading, look_up.click)  # processed, once the fix is in
        events = await stage.admin_get(f"/v1/sessions/{stage.provider}/{replayed}/events")
        assert len(msgspec.json.decode(events)) == 1  # stored once
        await page.goto(stage.portal + f"#/sessions?provider={stage.provider}&id={dropped}")
        await expect(page.get_by_role("alert")).to_contain_text(f"No session {dropped!r}")


async def test_without_the_token_the_portal_shows_and_asks_for_nothing(tmp_path: Path) -> None:
    async with staged(screenshots(tmp_path)) as stage, chromium() as browser:
        context = await browser.new_context()
        page = await context.new_page()
        asked: list[Request] = []
        page.on("request", lambda request: asked.append(request) if "/v1/" in request.url else None)
        for view in (*VIEWS, "#/subscriptions/sub_x/deliveries", "#/sessions?provider=a&id=b"):
            await page.goto(stage.portal + view)
            await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
            await expect(page.locator("#view")).to_be_empty()
        assert asked == []  # not one call without a token

        await page.get_by_label("Admin token").fill("not-the-admin-token")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_have_text("That is not the admin token.")
        assert [r.headers["authorization"] for r in asked] == ["Bearer not-the-admin-token"]
        assert await page.evaluate("sessionStorage.length") == 0

        await page.get_by_label("Admin token").fill(ADMIN_TOKEN)
        await page.get_by_role("button", name="Log in").click()  # and on to the view asked for
        await expect(page.get_by_role("alert")).to_have_text("No session 'b' from provider 'a'")
        await expect(page.locator("#notice")).to_be_hidden()
        await page.goto(stage.portal + "#/subscriptions/%E0%A4%A/deliveries")  # mistyped
        await expect(page.get_by_role("heading", name="That did not work")).to_be_visible()
        other_tab = await context.new_page()  # the token is this tab's only
        await other_tab.goto(stage.portal)
        await expect(other_tab.get_by_role("heading", name="Log in")).to_be_visible()
