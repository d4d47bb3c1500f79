"""The stage of the portal's browser tests: a real `chargehook run` on a RabbitMQ vhost and a
PostgreSQL database of its own, a receiver on loopback, and Debian's Chromium under Playwright.

Set CHARGEHOOK_SCREENSHOTS to a folder (docs/screenshots for the README's) to keep the
screenshots the tests take; otherwise they go to the test's temporary folder.
"""

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import msgspec
from playwright.async_api import Browser, Locator, Page, ViewportSize, async_playwright

from chargehook.ingest.route_table import ROUTES
from lab.services import free_port
from tests import processes
from tests.receiver import Receiver, receiving
from tests.support import ADMIN_TOKEN, fresh_database, fresh_vhost, unavailable

CHROMIUM = shutil.which("chromium")  # Debian's: Playwright's own download is not used
EXAMPLE = Path(__file__).parents[1] / "examples" / "page-example.json"
# Every route the portal may call: all but the providers' one (tests/integration/test_portal.py).
ADMIN_ROUTES = [r for r in ROUTES if r.bearer and (r.method, r.path) != ("POST", "/v1/sessions")]
PHONE = ViewportSize(width=390, height=844)
DESKTOP = ViewportSize(width=1200, height=900)


@dataclass
class Stage:
    base: str  # the running chargehook, http://127.0.0.1:port
    amqp_url: str
    database_url: str
    provider: str
    provider_token: str
    receiver: Receiver
    http: aiohttp.ClientSession
    shots: Path

    @property
    def portal(self) -> str:
        return self.base + "/ui/"

    async def post(self, session_id: str) -> None:
        """The page's example (a FINISHED session) as the provider posts it, with this id."""
        [item] = msgspec.json.decode(EXAMPLE.read_bytes())
        body = msgspec.json.encode({**item, "id": session_id})
        headers = {"Authorization": f"Bearer {self.provider_token}"}
        headers["Content-Type"] = "application/json"
        async with self.http.post(self.base + "/v1/sessions", data=body, headers=headers) as sent:
            assert sent.status == 200, await sent.text()

    async def admin_get(self, path: str) -> bytes:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with self.http.get(self.base + path, headers=headers) as got:
            assert got.status == 200, await got.text()
            return await got.read()

    async def shoot(self, page: Page, name: str) -> None:
        await page.screenshot(path=str(self.shots / f"portal-{name}.png"), full_page=True)


@asynccontextmanager
async def staged(shots: Path) -> AsyncIterator[Stage]:
    """`chargehook run` on the real services, on a vhost and a database of its own (nothing
    another test left behind reaches it), a receiver, and a provider registered by the CLI."""
    port = free_port()
    async with fresh_vhost("chargehook-portal") as amqp_url:
        async with fresh_database("chargehook_portal") as database_url:
            env = processes.chargehook_env(
                amqp_url=amqp_url,
                database_url=database_url,
                admin_token=ADMIN_TOKEN,
                http_port=str(port),
                allow_private_urls="true",
                retry_schedule="0.5",  # one quick retry, then failed: what replay is for
                retry_busy_delay="0.2",
            )
            added = await processes.run(["provider", "add", "repsol"], env)
            assert added.returncode == 0, added.stderr
            async with (
                receiving() as receiver,
                processes.started(["run"], env) as chargehook,
                aiohttp.ClientSession() as http,
            ):
                banner = await asyncio.wait_for(processes.lines(chargehook, 2), 60)
                base = f"http://127.0.0.1:{port}"
                assert f"operators' portal: {base}/ui/" in banner, banner
                token = added.stdout.split()[-1]
                yield Stage(base, amqp_url, database_url, "repsol", token, receiver, http, shots)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        unavailable("Chromium", FileNotFoundError("no chromium on PATH: apt-get install chromium"))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield browser
        finally:
            await browser.close()


def screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CHARGEHOOK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def unlabelled_fields(page: Page) -> list[str]:
    """Every visible form control without a label: none may be."""
    found: list[str] = await page.evaluate(
        """[...document.querySelectorAll("input, select, textarea")]
            .filter((e) => e.offsetParent !== null && !e.labels.length && !e.ariaLabel)
            .map((e) => e.outerHTML)"""
    )
    return found


async def sideways(page: Page) -> list[str]:
    """What scrolls sideways, the page or a box in it: nothing may, at any width."""
    found: list[str] = await page.evaluate(
        """[document.documentElement, ...document.querySelectorAll("#view *")]
            .filter((e) => e.scrollWidth > e.clientWidth + 1
                && (e === document.documentElement || getComputedStyle(e).overflowX !== "visible"))
            .map((e) => e.tagName + "." + e.className)"""
    )
    return found


async def until(shown: Locator, refresh: Callable[[], Awaitable[None]], within: float = 30) -> None:
    """Refresh the view until `shown` is there, as an operator watching a delivery would."""
    deadline = asyncio.get_running_loop().time() + within
    while not await shown.count():
        assert asyncio.get_running_loop().time() < deadline, f"never shown: {shown}"
        await refresh()
        await asyncio.sleep(0.3)
