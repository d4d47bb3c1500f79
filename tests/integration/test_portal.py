"""The portal's files as ingest serves them, and the token its every call needs.

The page itself is the same for everyone and holds no data; tests/e2e/test_portal_browser.py shows
in a real browser that it asks for nothing until the admin token is typed."""

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.portal_support import ADMIN_ROUTES
from tests.support import Provider

pytestmark = pytest.mark.services
Client = TestClient[Any, Any]
UI = Path(__file__).parents[2] / "ingest" / "operators" / "ui"
MEDIA_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
MEDIA_TYPES[".svg"] = "image/svg+xml"
# Written out, not imported: a looser policy in the code must fail here.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", "x", path)


@pytest.mark.parametrize("route", ADMIN_ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_every_call_the_portal_can_make_needs_the_admin_token(
    client: Client, provider: Provider, route: Any
) -> None:
    path = concrete(route.path)
    refused = await client.request(route.method, path)
    assert refused.status == 401
    assert (await refused.json())["error"] == "Unauthorized"
    wrong_side = await client.request(route.method, path, headers=provider.auth)
    assert wrong_side.status == 403


@pytest.mark.parametrize("name", sorted(path.name for path in UI.iterdir()))
async def test_every_portal_file_is_served_under_a_policy_that_runs_only_its_own_code(
    client: Client, name: str
) -> None:
    served = await client.get(f"/ui/{name}")
    assert served.status == 200
    assert served.content_type == MEDIA_TYPES[Path(name).suffix]
    assert await served.read() == (UI / name).read_bytes()
    assert served.headers["Content-Security-Policy"] == POLICY
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert served.headers["Referrer-Policy"] == "no-referrer"


async def test_the_portal_opens_at_ui_and_serves_nothing_else(client: Client) -> None:
    page = await client.get("/ui/")
    assert page.status == 200 and "<title>chargehook portal</title>" in await page.text()
    redirect = await client.get("/ui", allow_redirects=False)
    assert redirect.status == 308 and redirect.headers["Location"] == "/ui/"
    for stray in ("/ui/nope.js", "/ui/..%2Fportal.py", "/ui/%2e%2e/app.py", "/ui/ui"):
        missing = await client.get(stray)
        assert missing.status == 404, stray
        assert (await missing.json())["statusCode"] == 404
