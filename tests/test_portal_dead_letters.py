"""Dead letters in the operators' portal, in a real Chromium against a real `chargehook run`:
listed with their reason, one replayed after a fix (and stored once), the other dropped."""

import asyncio
from pathlib import Path

import msgspec
import pytest
from playwright.async_api import expect

from chargehook.plumbing.amqp import amqp_broker
from tests.portal_support import (
    DESKTOP,
    PHONE,
    accept,
    chromium,
    log_in_with_the_keyboard,
    screenshots,
    sideways,
    staged,
    until,
)
from tests.support import dead_lettered

pytestmark = [pytest.mark.services, pytest.mark.timeout(300)]


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
