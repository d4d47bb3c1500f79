"""One signed POST of a webhook body to a subscriber, and what it came to: the one way chargehook
talks to receivers, for deliveries and test sends alike (docs/delivery.md)."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import aiohttp

from chargehook.webhooks import delivery_states, retries
from chargehook.webhooks.delivery_states import AttemptResult
from chargehook.webhooks.signing import signature_header
from chargehook.webhooks.ssrf import UnsafeUrl, check_url, guarded_connector

TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)


@asynccontextmanager
async def http_client(allow_private_urls: bool) -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP client whose every name lookup goes through the SSRF guard."""
    connector = guarded_connector(allow_private_urls)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as http:
        yield http


async def post_signed(
    http: aiohttp.ClientSession,
    url: str,
    secrets: list[str],
    webhook_id: str,
    body: bytes,
    allow_private_urls: bool,
) -> AttemptResult:
    """POST `body` signed with every active secret; never raises for what the receiver did."""
    started, at = time.monotonic(), datetime.now(UTC)

    def result(
        status: int | None, kind: str | None, snippet: str | None, after: float | None = None
    ) -> AttemptResult:
        latency = round((time.monotonic() - started) * 1000)
        return AttemptResult(at, status, latency, kind, snippet, after)

    stamp = int(at.timestamp())
    headers = {
        "Content-Type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature_header(secrets, webhook_id, stamp, body),
    }
    try:
        await check_url(url, allow_private_urls)
        async with http.post(url, data=body, headers=headers, allow_redirects=False) as answer:
            raw = await answer.content.read(delivery_states.SNIPPET_CHARS)
            snippet = raw.decode(errors="replace")
            if 200 <= answer.status < 300:
                return result(answer.status, None, snippet)
            kind = "redirect" if 300 <= answer.status < 400 else "http_status"
            after = retries.retry_after_seconds(
                answer.status, answer.headers.get("Retry-After"), at
            )
            return result(answer.status, kind, snippet, after)
    except UnsafeUrl as exc:
        return result(None, "unsafe_url", exc.reason)
    except TimeoutError:
        return result(None, "timeout", None)
    except aiohttp.ClientConnectorError as exc:
        return result(None, "connect", str(exc))
    except aiohttp.ClientError as exc:
        return result(None, "network", repr(exc))
