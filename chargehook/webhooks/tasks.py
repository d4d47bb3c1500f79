"""Delivery tasks on the broker: the queue the deliverer reads, the delay queues retries wait in,
and the one way to build a task message (fan-out, retry, defer and replay all use it)."""

from collections.abc import Sequence

import msgspec

from chargehook.plumbing.broker import (
    DEFAULT_EXCHANGE,
    DELIVER_KEY,
    DELIVERY_EXCHANGE,
    Broker,
    DelaySpec,
    OutboundMessage,
    QueueSpec,
)
from chargehook.plumbing.settings import Settings
from chargehook.schemas import DeliveryTask
from chargehook.webhooks import retries
from chargehook.webhooks.deliveries import request_id

DELIVERY_QUEUE = QueueSpec("chargehook.deliveries", DELIVERY_EXCHANGE, (DELIVER_KEY,))
WAIT_QUEUE_PREFIX = "chargehook.delivery.wait."
encoder = msgspec.json.Encoder()


def wait_queue(delay_ms: int) -> str:
    return f"{WAIT_QUEUE_PREFIX}{delay_ms}"


def delay_queues(settings: Settings) -> tuple[DelaySpec, ...]:
    """Every wait queue the retry schedule and the busy delay need, each with a fixed TTL."""
    schedule = retries.parse_schedule(settings.retry_schedule)
    return tuple(
        DelaySpec(wait_queue(ms), ms, DELIVERY_EXCHANGE, DELIVER_KEY)
        for ms in retries.delays_ms(schedule, settings.retry_busy_delay)
    )


def chunks(ids: Sequence[str], size: int) -> list[list[str]]:
    """Deliveries split into tasks of at most `size`, in order."""
    return [list(ids[start : start + size]) for start in range(0, len(ids), size)]


def task_message(task: DeliveryTask, tag: str | None = None) -> OutboundMessage:
    """`message_id` is the batch and its round (or `tag`, e.g. replay): one per attempt."""
    batch = request_id(task.ids)
    return OutboundMessage(encoder.encode(task), f"{batch}/{tag or task.round}")


async def queue_now(broker: Broker, task: DeliveryTask, tag: str | None = None) -> None:
    await broker.publish(DELIVERY_EXCHANGE, DELIVER_KEY, task_message(task, tag))


async def queue_after(broker: Broker, task: DeliveryTask, delay_ms: int) -> None:
    """The task waits `delay_ms` in its delay queue, in the broker, then comes back."""
    await broker.publish(DEFAULT_EXCHANGE, wait_queue(delay_ms), task_message(task))
