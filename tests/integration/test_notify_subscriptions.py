"""The subscriptions admin API and its SSRF guard (docs/delivery.md#subscriptions, #ssrf-guard),
at creation and at every attempt."""

import pytest

from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.database import Pool
from tests.notify_support import (
    ADMIN,
    Client,
    fast_settings,
    log_with,
    notifying,
    publish_billed,
    subscribe,
)
from tests.receiver import receiving
from tests.support import Provider, event, eventually

pytestmark = pytest.mark.services


async def test_the_subscriptions_api_round_trip(api: Client, provider: Provider) -> None:
    sub = await subscribe(api, "http://127.0.0.1:9/a", provider.name, description="first")
    assert sub["secret"].startswith("whsec_") and sub["enabled"] is True
    listed = await (await api.get("/v1/subscriptions", headers=ADMIN)).json()
    assert sub["id"] in {s["id"] for s in listed} and all("secret" not in s for s in listed)
    changed = await api.patch(
        f"/v1/subscriptions/{sub['id']}",
        json={"statuses": ["FINISHED"], "description": None},
        headers=ADMIN,
    )
    assert (await changed.json())["statuses"] == ["FINISHED"]
    bad = await api.patch(
        f"/v1/subscriptions/{sub['id']}", json={"statuses": ["DONE"]}, headers=ADMIN
    )
    assert bad.status == 400 and (await bad.json())["message"].startswith(
        "$.statuses[0]: Invalid enum value 'DONE'"
    )
    assert (await api.delete(f"/v1/subscriptions/{sub['id']}", headers=ADMIN)).status == 204
    assert (await api.get(f"/v1/subscriptions/{sub['id']}", headers=ADMIN)).status == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
    ],
)
async def test_subscribing_a_private_url_is_refused_unless_allowed(
    client: Client, api: Client, admin: dict[str, str], url: str
) -> None:
    body = {"url": url, "providers": ["nobody"]}  # never matched, should it outlive the test
    response = await client.post("/v1/subscriptions", json=body, headers=admin)
    answer = await response.json()
    assert response.status == 400 and answer["error"] == "Bad Request"
    assert (
        answer["message"].startswith("$.url: url host")
        and "private URLs are not allowed" in answer["message"]
    )
    allowed = await api.post("/v1/subscriptions", json=body, headers=admin)  # private URLs on
    assert allowed.status == 201, await allowed.text()
    created = await allowed.json()
    assert (await api.delete(f"/v1/subscriptions/{created['id']}", headers=admin)).status == 204


async def test_a_private_url_is_refused_again_at_every_attempt(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async with (
        receiving() as receiver,
        notifying(broker, pool, fast_settings(allow_private_urls="false", retry_schedule="0.2")),
    ):
        sub = await subscribe(api, receiver.url, provider.name)  # allowed when it was created
        await publish_billed(broker, provider.name, event("s-ssrf", "IN_PROGRESS", 1), "e-ssrf")
        [delivery] = await eventually(lambda: log_with(api, sub["id"], "failed"))
    assert receiver.received == []
    # the first attempt and the schedule's one retry, each refused before any connection
    assert [a["error_kind"] for a in delivery["attempts"]] == ["unsafe_url", "unsafe_url"]
