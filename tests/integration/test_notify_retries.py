"""Notify retries and subscription health (docs/delivery.md#retries, #subscription-health):
failed attempts are retried from the broker, replayed on request, survive a killed worker; a
gone or sick endpoint is disabled."""

from datetime import UTC, datetime

import pytest
from aiohttp import web

from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.database import Pool
from chargehook.plumbing.settings import load_settings
from chargehook.workers import delay_queues
from tests import processes
from tests.notify_support import (
    ADMIN,
    Client,
    at_least,
    delay_queues_empty,
    fast_settings,
    log_with,
    notifying,
    publish_billed,
    settled_deliveries,
    subscribe,
    subscription_if,
)
from tests.receiver import Received, receiving
from tests.support import Provider, event, eventually

pytestmark = pytest.mark.services


async def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async def flaky(received: Received, count: int) -> web.Response:
        return web.Response(status=500, text="down") if count <= 2 else web.Response(text="ok")

    async with receiving(flaky) as receiver, notifying(broker, pool, fast_settings()):
        sub = await subscribe(api, receiver.url, provider.name)
        await publish_billed(broker, provider.name, event("s-flaky", "IN_PROGRESS", 1), "e-flaky")
        await eventually(lambda: at_least(receiver, 3), within=30)
        log = await eventually(lambda: log_with(api, sub["id"], "succeeded"))
    assert len({r.webhook_id for r in receiver.received}) == 1  # webhook-id stable across retries
    [delivery] = log
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
    assert [a["error_kind"] for a in delivery["attempts"]] == ["http_status", "http_status", None]
    assert delivery["attempts"][0]["response_snippet"] == "down"


async def test_a_receiver_answering_410_disables_its_subscription(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async def gone(received: Received, count: int) -> web.Response:
        return web.Response(status=410)

    async with receiving(gone) as receiver, notifying(broker, pool, fast_settings()):
        sub = await subscribe(api, receiver.url, provider.name)
        await publish_billed(broker, provider.name, event("s-gone", "IN_PROGRESS", 1), "e-gone")
        state = await eventually(lambda: subscription_if(api, sub["id"], enabled=False))
    assert state["disabled_reason"] == "the endpoint answered 410 Gone"
    assert len(receiver.received) == 1
    enabled = await api.patch(
        f"/v1/subscriptions/{sub['id']}", json={"enabled": True}, headers=ADMIN
    )
    assert (await enabled.json())["enabled"] is True


async def test_a_subscription_without_success_for_too_long_is_disabled(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async def failing(received: Received, count: int) -> web.Response:
        return web.Response(status=500)

    async with (
        receiving(failing) as receiver,
        notifying(broker, pool, fast_settings(disable_after="0.001")),
    ):
        sub = await subscribe(api, receiver.url, provider.name)
        await publish_billed(broker, provider.name, event("s-sick", "IN_PROGRESS", 1), "e-sick")
        state = await eventually(lambda: subscription_if(api, sub["id"], enabled=False))
    assert state["disabled_reason"] == "no successful delivery for too long"


async def test_a_failed_delivery_can_be_replayed_and_recovered(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    healthy = False

    async def until_fixed(received: Received, count: int) -> web.Response:
        return web.Response(text="ok") if healthy else web.Response(status=503)

    async with (
        receiving(until_fixed) as receiver,
        notifying(broker, pool, fast_settings(retry_schedule="0.2")),
    ):
        sub = await subscribe(api, receiver.url, provider.name)
        await publish_billed(broker, provider.name, event("s-replay", "IN_PROGRESS", 1), "e-replay")
        [failed] = await eventually(lambda: log_with(api, sub["id"], "failed"))
        healthy = True
        since = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
        recovered = await api.post(
            f"/v1/subscriptions/{sub['id']}/recover", json={"since": since}, headers=ADMIN
        )
        assert (await recovered.json()) == {"replayed": 1}
        [done] = await eventually(lambda: log_with(api, sub["id"], "succeeded"))
        replayed = await api.post(
            f"/v1/subscriptions/{sub['id']}/deliveries/{done['id']}/replay", headers=ADMIN
        )
        assert replayed.status == 202
        await eventually(lambda: at_least(receiver, 4))
    assert done["id"] == failed["id"] and [a["status_code"] for a in done["attempts"]] == [
        503,
        503,
        200,
    ]
    assert {r.webhook_id for r in receiver.received} == {failed["id"]}


async def test_pending_retries_survive_a_killed_notify_worker_and_none_is_sent_twice(
    api: Client,
    provider: Provider,
    broker: AmqpBroker,
    pool: Pool,
    amqp_url: str,
    database_url: str,
) -> None:
    async def first_fails(received: Received, count: int) -> web.Response:
        return web.Response(status=500) if count == 1 else web.Response(text="ok")

    schedule = {"retry_schedule": "3"}
    env = processes.chargehook_env(
        amqp_url=amqp_url,
        database_url=database_url,
        allow_private_urls="true",
        log_level="warning",
        **schedule,
    )
    async with receiving(first_fails) as receiver:
        sub = await subscribe(api, receiver.url, provider.name)
        async with processes.started(["worker", "notify"], env) as first:
            await publish_billed(broker, provider.name, event("s-kill", "IN_PROGRESS", 1), "e-kill")
            await eventually(lambda: at_least(receiver, 1))
            await eventually(lambda: log_with(api, sub["id"], "pending", attempts=1))
            await processes.killed(first)
        async with processes.started(["worker", "notify"], env) as second:
            await eventually(lambda: log_with(api, sub["id"], "succeeded"), within=30)
            # Every retry the killed worker left in the broker is due once the delay queues are
            # empty; a marker sent after that reaches the deliverer behind them. Once it is in
            # and nothing of the subscription is pending, a doubled retry would have been sent.
            delays = delay_queues(load_settings({}, schedule))
            await eventually(lambda: delay_queues_empty(amqp_url, delays), within=30)
            marker = event("s-kill-marker", "IN_PROGRESS", 1)
            await publish_billed(broker, provider.name, marker, "e-kill-marker")
            await eventually(lambda: at_least(receiver, 3), within=30)
            await eventually(lambda: settled_deliveries(pool, sub["id"]))
            assert await processes.terminated(second) == 0
    sessions = [item["id"] for item in receiver.items]
    assert sessions == ["s-kill", "s-kill", "s-kill-marker"]
    assert receiver.received[0].webhook_id == receiver.received[1].webhook_id
