"""Test sends: a signed example event in the page's shape, marked as a test, so a receiver can
check its URL and its signature check before real traffic flows. It goes through the same SSRF
guard, signing and HTTP client as a delivery and touches no delivery, cursor, bill or retry
(docs/delivery.md#test-sends)."""

import secrets
from datetime import UTC, datetime, timedelta

import msgspec

from chargehook.plumbing.database import Pool
from chargehook.schemas import TestSent
from chargehook.sessions.order import order_key, position
from chargehook.webhooks import subscriptions
from chargehook.webhooks.payload import REGISTERED_PROVIDER, request_body
from chargehook.webhooks.posting import http_client, post_signed

TEST_FIELD = "chargehook_test"  # true in every test item; a real item never carries it
TEST_PROVIDER = "chargehook-test"  # the registered_provider of a test item
TEST_ID_PREFIX = "msg_test_"  # a test send's webhook-id


def example_item(now: datetime, tag: str) -> bytes:
    """A finished kWh session in EUR, billed as chargehook bills it, in the page's shape."""
    started = now - timedelta(minutes=30)
    item = {
        "id": f"test-{tag}",
        "status": "FINISHED",
        "amount": 14.06,
        "commision_price": 1.06,
        "tax_price": 2.44,
        "provider": TEST_PROVIDER,
        "plug_price": 0.45,
        "price_unit": "kwh",
        "currency": "EUR",
        "charged_kwh": 23.456,
        "started": started.isoformat(),
        "finished": now.isoformat(),
        "updatedAt": now.isoformat(),
        "position": position(order_key("FINISHED", now, now, f"evt_test_{tag}")),
        REGISTERED_PROVIDER: TEST_PROVIDER,
        TEST_FIELD: True,
    }
    return msgspec.json.encode(item)


async def send_test(pool: Pool, subscription_id: str, allow_private_urls: bool) -> TestSent | None:
    """Send one test item to the subscription's URL now; None when there is no such
    subscription. A disabled subscription is sent to as well: checking it is the point."""
    found = await subscriptions.get(pool, subscription_id)
    if found is None:
        return None
    keys = await subscriptions.active_secrets(pool, subscription_id)
    tag = secrets.token_hex(8)
    body = request_body([example_item(datetime.now(UTC), tag)])
    webhook_id = TEST_ID_PREFIX + tag
    async with http_client(allow_private_urls) as http:
        result = await post_signed(http, found.url, keys, webhook_id, body, allow_private_urls)
    return TestSent(
        webhook_id=webhook_id,
        succeeded=result.succeeded,
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error_kind=result.error_kind,
        snippet=result.stored_snippet,
    )
