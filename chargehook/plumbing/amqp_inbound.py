"""A message as aiormq delivered it, settled on the channel that delivered it (the `Inbound` of
`chargehook.plumbing.broker` on RabbitMQ)."""

from collections.abc import Awaitable, Callable
from typing import cast

import aiormq
import structlog
from aiormq.abc import DeliveredMessage

from chargehook.plumbing.broker import (
    DEAD_AT_HEADER,
    DEAD_EXCHANGE,
    REASON_HEADER,
    Broker,
    OutboundMessage,
    dead_at,
)

log = structlog.get_logger("chargehook.amqp")


class AmqpInbound:
    """A message as aiormq delivered it, settled on the channel that delivered it."""

    __slots__ = ("_broker", "_message", "_queue")

    def __init__(self, message: DeliveredMessage, broker: Broker, queue: str) -> None:
        self._message = message
        self._broker = broker
        self._queue = queue

    @property
    def body(self) -> bytes:
        return self._message.body

    @property
    def message_id(self) -> str | None:
        return self._message.header.properties.message_id

    @property
    def routing_key(self) -> str:
        return self._message.routing_key or ""

    @property
    def headers(self) -> dict[str, str]:
        headers = self._message.header.properties.headers or {}
        return {str(k): str(v) for k, v in headers.items()}

    async def ack(self) -> None:
        await self._settle(self._message.channel.basic_ack, multiple=False)

    async def ack_through(self) -> None:
        await self._settle(self._message.channel.basic_ack, multiple=True)

    async def requeue(self) -> None:
        await self._settle(self._message.channel.basic_nack, multiple=False)

    async def dead_letter(self, reason: str) -> None:
        """Publish to the dead-letter queue with the reason first, then ack the original."""
        headers = {**self.headers, REASON_HEADER: reason[:1000], DEAD_AT_HEADER: dead_at()}
        copy = OutboundMessage(self.body, self.message_id or "", headers)
        await self._broker.publish(DEAD_EXCHANGE, self._queue, copy)
        await self.ack()

    async def _settle(self, settle: Callable[..., Awaitable[None]], multiple: bool) -> None:
        # The delivery tag means something only on the channel that delivered it. After a
        # reconnect that channel is gone: the broker redelivers the message and the
        # idempotent consumer absorbs the repeat.
        try:
            delivery = cast(aiormq.spec.Basic.Deliver, self._message.delivery)  # consumed
            await settle(delivery.delivery_tag, multiple=multiple)
        except Exception as exc:  # noqa: BLE001 - any channel fault means the same thing here
            log.warning("settle failed; broker will redeliver", error=repr(exc))
