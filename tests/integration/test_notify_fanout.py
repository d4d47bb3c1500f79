"""Notify fan-out against the real RabbitMQ and PostgreSQL (docs/delivery.md#matching): which
events reach which subscriber, billed, signed with every active secret."""

from decimal import Decimal
from typing import Any

import msgspec
import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from chargehook.plumbing.amqp import AmqpBroker
from chargehook.plumbing.broker import DELIVERY_EXCHANGE
from chargehook.plumbing.database import Pool
from chargehook.schemas import DeliveryTask
from chargehook.webhooks import deliveries
from chargehook.webhooks.payload import read_billed
from chargehook.webhooks.subscription_cache import SubscriptionCache
from chargehook.workers.notify.fanout import FanOut
from tests.notify_support import (
    ADMIN,
    KWH,
    Client,
    at_least,
    billed_body,
    fast_settings,
    notifying,
    publish_billed,
    settled_deliveries,
    subscribe,
    verify,
)
from tests.receiver import receiving
from tests.support import Provider, RecordingBroker, event, eventually

pytestmark = pytest.mark.services


async def test_a_sessions_callbacks_reach_a_filtered_subscriber_billed_each_once(
    api: Client,
    client: Client,
    provider: Provider,
    broker: AmqpBroker,
    pool: Pool,
    persist_worker: Any,
    billing_worker: Any,
) -> None:
    statuses = ["ORDER_INIT_AND_WAITING", "IN_PROGRESS", "FINISHED"]
    async with receiving() as receiver, notifying(broker, pool, fast_settings()):
        sub = await subscribe(api, receiver.url, provider.name, statuses=statuses)
        headers = {**provider.auth, "Content-Type": "application/json"}
        other = msgspec.json.encode(event("s-other", "NOT_PLUGGED", 1))
        assert (await client.post("/v1/sessions", data=other, headers=headers)).status == 200
        for number, status in enumerate(statuses, start=1):
            body = KWH.body("s-notify", status, updatedAt=f"2026-03-01T10:0{number}:00+00:00")
            assert (await client.post("/v1/sessions", data=body, headers=headers)).status == 200
            await eventually(lambda n=number: at_least(receiver, n))  # type: ignore[misc]

        # A marker sent last down the same path (ingest, billing, fan-out, delivery, each in
        # order): once it is in, the filtered-out NOT_PLUGGED and any duplicate of the three
        # had their chance to arrive before it; once the log has nothing pending, no send is due.
        marker = KWH.body("s-marker")
        assert (await client.post("/v1/sessions", data=marker, headers=headers)).status == 200
        await eventually(lambda: at_least(receiver, 4))
        deliveries = await eventually(lambda: settled_deliveries(pool, sub["id"]))
    expected = [("s-notify", status) for status in statuses] + [("s-marker", "FINISHED")]
    assert [(item["id"], item["status"]) for item in receiver.items] == expected
    assert sorted(deliveries) == sorted((*pair, "succeeded") for pair in expected)
    items = receiver.items[:3]
    assert len({r.webhook_id for r in receiver.received}) == 4
    assert items[-1]["amount"] == Decimal("14.06") and items[-1]["commision_price"] == Decimal(
        "1.06"
    )
    assert [item["position"] for item in items] == sorted(item["position"] for item in items)
    for received in receiver.received:
        verify(received, sub["secret"])


async def test_the_registered_provider_is_named_whatever_the_item_claims(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    """A provider cannot pose as another: the item's free `provider` is kept as sent, and the
    signed `registered_provider` names the token's provider."""
    async with receiving() as receiver, notifying(broker, pool, fast_settings()):
        await subscribe(api, receiver.url, provider.name)
        posing = event("s-posing", "IN_PROGRESS", 1, provider="repsol")
        await publish_billed(broker, provider.name, posing, "e-posing")
        await eventually(lambda: at_least(receiver, 1))
    [item] = receiver.items
    assert item["provider"] == "repsol"
    assert item["registered_provider"] == provider.name != "repsol"


async def test_after_a_rotation_both_secrets_sign_and_a_wrong_one_is_rejected(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    async with receiving() as receiver, notifying(broker, pool, fast_settings()):
        sub = await subscribe(api, receiver.url, provider.name)
        rotated = await (
            await api.post(f"/v1/subscriptions/{sub['id']}/secret/rotate", headers=ADMIN)
        ).json()
        await publish_billed(broker, provider.name, event("s-rotate", "IN_PROGRESS", 1), "e-rotate")
        await eventually(lambda: at_least(receiver, 1))
    [received] = receiver.received
    verify(received, sub["secret"])
    verify(received, rotated["secret"])
    other = await subscribe(api, "http://127.0.0.1:9/unused", provider.name)
    with pytest.raises(WebhookVerificationError):
        verify(received, other["secret"])


async def test_two_providers_with_the_same_event_id_are_each_delivered(
    api: Client, provider: Provider, broker: AmqpBroker, pool: Pool
) -> None:
    """Event identity is (provider, event id): provider B reusing an Idempotency-Key that A
    used loses nothing, and neither event is delivered twice."""
    other = provider.name + "-b"
    async with receiving() as receiver, notifying(broker, pool, fast_settings()):
        await subscribe(api, receiver.url, provider.name, providers=[provider.name, other])
        for name in (provider.name, other):
            await publish_billed(broker, name, event(f"s-{name}", "IN_PROGRESS", 1), "key-42")
        await eventually(lambda: at_least(receiver, 2))
        await publish_billed(broker, other, event(f"s-{other}", "IN_PROGRESS", 1), "key-42")
        marker = event("s-marker-b", "IN_PROGRESS", 1)
        await publish_billed(broker, provider.name, marker, "key-marker")
        await eventually(lambda: at_least(receiver, 3))
    senders = [(item["registered_provider"], item["id"]) for item in receiver.items]
    assert sorted(senders) == sorted(
        [
            (provider.name, f"s-{provider.name}"),
            (other, f"s-{other}"),
            (provider.name, "s-marker-b"),
        ]
    )


async def test_a_redelivered_fanout_message_queues_no_second_task(
    api: Client, provider: Provider, pool: Pool
) -> None:
    """A billed event handled twice (its message redelivered after the broker restarted, say)
    makes one delivery and one task: the second time, the delivery is already queued."""
    sub = await subscribe(api, "http://127.0.0.1:9/unused", provider.name)
    recording = RecordingBroker()
    cache = SubscriptionCache(pool)
    async with cache.kept_fresh():
        fanout = FanOut(
            deliveries.DeliveryTable(pool),
            recording,
            cache,
            prefetch=10,
            batch_size=10,
            default_delivery_batch=10,
        )
        billed = read_billed(billed_body(provider.name, event("s-twice", "FINISHED", 1), "e-twice"))
        await fanout.handle([billed])
        await fanout.handle([billed])
    # other tests' subscriptions may match too: each delivery is in exactly one task
    queued = [
        delivery_id
        for exchange, _, message in recording.published
        if exchange == DELIVERY_EXCHANGE
        for delivery_id in msgspec.json.decode(message.body, type=DeliveryTask).delivery_ids
    ]
    ours = deliveries.delivery_id(sub["id"], provider.name, "e-twice")
    assert queued.count(ours) == 1 and len(queued) == len(set(queued)), queued
