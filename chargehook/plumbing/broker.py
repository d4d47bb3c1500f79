"""What every broker offers chargehook, and the topology they all declare.

Business code talks to `Broker` only; `plumbing.amqp` (RabbitMQ) and `plumbing.memory_broker`
(the embedded default) implement it.
"""

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

EVENTS_EXCHANGE = "chargehook.events"
BILLED_EXCHANGE = "chargehook.billed"
DEAD_EXCHANGE = "chargehook.dead"
DELIVERY_EXCHANGE = "chargehook.delivery"
TOPIC_EXCHANGES = (EVENTS_EXCHANGE, BILLED_EXCHANGE)
DIRECT_EXCHANGES = (DEAD_EXCHANGE, DELIVERY_EXCHANGE)
DEFAULT_EXCHANGE = ""  # routes straight to the queue named by the routing key
DEFAULT_EXCHANGE_NAME = "amq.default"  # how RabbitMQ names it, and the metrics' label for it
DELIVER_KEY = "deliver"  # chargehook.delivery -> chargehook.deliveries

REASON_HEADER = "x-chargehook-reason"
DEAD_AT_HEADER = "x-chargehook-dead-at"  # when it was dead-lettered, ISO 8601 UTC
# How many times a message failed on its own so far (plumbing/failures.py); a replay drops it.
FAILURES_HEADER = "x-chargehook-failures"
DEAD_QUEUE_SUFFIX = ".dead"
# A message that kills its consumer again and again is dead-lettered by the broker itself.
DELIVERY_LIMIT = 20


def dead_at() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class QueueSpec:
    """A worker kind's durable queue and what it binds to; its dead letters go to `<name>.dead`."""

    name: str
    exchange: str
    binding_keys: tuple[str, ...] = ("session.#",)

    @property
    def dead_letter_queue(self) -> str:
        return self.name + DEAD_QUEUE_SUFFIX


@dataclass(frozen=True)
class DelaySpec:
    """A queue that holds each message `delay_ms`, then dead-letters it to exchange/routing key.

    Retries wait here, in the broker, not in a process: a restart loses none of them.
    """

    name: str
    delay_ms: int
    exchange: str
    routing_key: str


@dataclass(frozen=True)
class OutboundMessage:
    body: bytes
    message_id: str
    headers: Mapping[str, str] = field(default_factory=dict)


class Inbound(Protocol):
    """One message in hand; exactly one of ack, requeue or dead_letter ends it."""

    @property
    def body(self) -> bytes: ...

    @property
    def message_id(self) -> str | None: ...

    @property
    def routing_key(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    async def ack(self) -> None: ...

    async def ack_through(self) -> None:
        """Ack this message and every earlier one its consumer still holds: a batch in one
        frame on RabbitMQ (`multiple`)."""

    async def requeue(self) -> None: ...

    async def dead_letter(self, reason: str) -> None: ...


class Broker(Protocol):
    async def declare(
        self, queues: tuple[QueueSpec, ...], delays: tuple[DelaySpec, ...] = ()
    ) -> None:
        """Declare the exchanges and these queues; safe to repeat."""

    async def publish(
        self, exchange: str, routing_key: str, message: OutboundMessage, mandatory: bool = True
    ) -> None:
        """Return once the broker confirmed the message; else raise BrokerUnavailable.

        `mandatory`: a message no queue is bound for is an error, not silently dropped.
        """

    def consume(
        self, queue: QueueSpec, prefetch: int
    ) -> AbstractAsyncContextManager[AsyncIterator[Inbound]]:
        """Consume with manual ack; leaving the context returns unfinished messages."""

    def is_ready(self) -> bool: ...
