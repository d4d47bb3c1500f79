"""RabbitMQ through aio-pika: one robust connection, confirmed publishes, manual-ack consumers."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, cast

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
    ExchangeType,
)
from aiormq.abc import DeliveredMessage

from chargehook.plumbing.broker import (
    DEAD_AT_HEADER,
    DEAD_EXCHANGE,
    DEFAULT_EXCHANGE_NAME,
    DELIVERY_LIMIT,
    DIRECT_EXCHANGES,
    REASON_HEADER,
    TOPIC_EXCHANGES,
    DelaySpec,
    OutboundMessage,
    QueueSpec,
    dead_at,
)
from chargehook.plumbing.cluster import Nodes, broker_urls, connect_first, following
from chargehook.plumbing.errors import BrokerUnavailable
from chargehook.plumbing.metrics import Metrics

log = structlog.get_logger("chargehook.amqp")
PERSISTENT = 2  # AMQP delivery mode: written to disk by the broker
QUORUM_SIZE = 3  # members of each new quorum queue, where the cluster has that many nodes


def delay_arguments(delay: DelaySpec) -> dict[str, Any]:
    # at-least-once dead-lettering (quorum queues) so an expiring retry is never dropped
    return {
        "x-queue-type": "quorum",
        "x-message-ttl": delay.delay_ms,
        "x-dead-letter-exchange": delay.exchange,
        "x-dead-letter-routing-key": delay.routing_key,
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def queue_arguments(queue: QueueSpec) -> dict[str, Any]:
    return {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": DEAD_EXCHANGE,
        "x-dead-letter-routing-key": queue.name,
        "x-delivery-limit": DELIVERY_LIMIT,
    }


class AmqpInbound:
    """A message as aiormq delivered it, settled on the channel that delivered it: the `Inbound`
    of `chargehook.plumbing.broker` on RabbitMQ."""

    __slots__ = ("_broker", "_message", "_queue", "_settled")

    def __init__(self, message: DeliveredMessage, broker: "AmqpBroker", queue: str) -> None:
        self._message = message
        self._broker = broker
        self._queue = queue
        self._settled = False

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
        # idempotent consumer absorbs the repeat. A second settle is ignored: RabbitMQ would
        # close the channel for an unknown tag and put back every message in hand on it.
        if self._settled:
            log.debug("settled already; ignored")
            return
        self._settled = True
        try:
            delivery = cast(aiormq.spec.Basic.Deliver, self._message.delivery)  # consumed
            await settle(delivery.delivery_tag, multiple=multiple)
        except Exception as exc:  # noqa: BLE001 - any channel fault means the same thing here
            log.warning("settle failed; broker will redeliver", error=repr(exc))


class AmqpBroker:
    def __init__(
        self,
        connection: AbstractRobustConnection,
        publish_timeout: float,
        metrics: Metrics | None = None,
    ) -> None:
        self._connection = connection
        self._publish_timeout = publish_timeout
        self._metrics = metrics
        self._channel: AbstractRobustChannel | None = None

    async def open(self) -> None:
        channel = await self._connection.channel(publisher_confirms=True, on_return_raises=True)
        self._channel = channel

    def is_ready(self) -> bool:
        return (
            not self._connection.is_closed
            and self._channel is not None
            and (not self._channel.is_closed)
        )

    async def declare(
        self, queues: tuple[QueueSpec, ...], delays: tuple[DelaySpec, ...] = ()
    ) -> None:
        async with self._connection.channel() as channel:
            for name in TOPIC_EXCHANGES:
                await channel.declare_exchange(name, ExchangeType.TOPIC, durable=True)
            for name in DIRECT_EXCHANGES:
                await channel.declare_exchange(name, ExchangeType.DIRECT, durable=True)
            dead = await channel.get_exchange(DEAD_EXCHANGE)
            for delay in delays:
                await self._declare_queue(channel, delay.name, delay_arguments(delay))
            for spec in queues:
                queue = await self._declare_queue(channel, spec.name, queue_arguments(spec))
                for key in spec.binding_keys:
                    await queue.bind(spec.exchange, key)
                dlq = await self._declare_queue(
                    channel, spec.dead_letter_queue, {"x-queue-type": "quorum"}
                )
                await dlq.bind(dead, spec.name)

    async def _declare_queue(
        self, channel: AbstractChannel, name: str, arguments: dict[str, Any]
    ) -> AbstractQueue:
        """A new queue with its replicas on QUORUM_SIZE nodes (all of a smaller cluster's); a
        queue that exists is taken as it is: declared again with a group size it was not made
        with, RabbitMQ would refuse it (docs/operations.md, growing a queue's members)."""
        if await self._exists(name):
            return await channel.declare_queue(name, passive=True)
        sized = {**arguments, "x-quorum-initial-group-size": QUORUM_SIZE}
        return await channel.declare_queue(name, durable=True, arguments=sized)

    async def _exists(self, name: str) -> bool:
        """On a channel of its own: a passive declare of a missing queue closes its channel."""
        channel = await self._connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
            return True
        except aio_pika.exceptions.ChannelNotFoundEntity:
            return False
        finally:
            await _quietly(channel.close())

    async def publish(
        self, exchange: str, routing_key: str, message: OutboundMessage, mandatory: bool = True
    ) -> None:
        # Straight onto the channel under aio-pika: no Message or Exchange object per publish
        # and the timeout inside aiormq, not a task around it (docs/broker.md, properties).
        properties = aiormq.spec.Basic.Properties(
            content_type="application/json",
            delivery_mode=PERSISTENT,
            message_id=message.message_id,
            headers=dict(message.headers),
        )
        try:
            underlay = await self._require_channel().get_underlay_channel()
            channel = cast(aiormq.Channel, underlay)  # the concrete one takes `wait`
            started = time.perf_counter()
            await channel.basic_publish(
                message.body,
                exchange=exchange,
                routing_key=routing_key,
                properties=properties,
                mandatory=mandatory,
                timeout=self._publish_timeout,
                wait=False,  # the confirm is what we wait for, not a socket drain per message
            )
        except Exception as exc:
            raise BrokerUnavailable(f"publish to {exchange} not confirmed: {exc!r}") from exc
        if self._metrics is not None:
            label = exchange or DEFAULT_EXCHANGE_NAME
            elapsed = time.perf_counter() - started
            self._metrics.observe("chargehook_publish_confirm_seconds", elapsed, exchange=label)
            self._metrics.inc("chargehook_broker_published_total", exchange=label)

    @asynccontextmanager
    async def consume(self, queue: QueueSpec, prefetch: int) -> AsyncIterator[Any]:
        """Consume on the robust channel's aiormq channel itself: aio-pika's message object and
        its task per delivery cost a worker a fifth of its CPU (docs/broker.md, consuming).

        The robust channel reopens after a reconnect with its prefetch; the consumer is
        registered again on every reopen, and on the broker's own cancel."""
        inbox: asyncio.Queue[AmqpInbound] = asyncio.Queue()
        name = queue.name

        async def deliver(message: DeliveredMessage) -> None:
            inbox.put_nowait(AmqpInbound(message, self, name))

        async with self._connection.channel() as channel:
            await channel.set_qos(prefetch_count=prefetch)
            await channel.declare_queue(name, passive=True)  # a missing queue fails here
            consumer = _Registration(channel, name, deliver)
            await consumer.start()
            channel.reopen_callbacks.add(consumer.restart)
            try:
                yield _messages(inbox)
            finally:
                channel.reopen_callbacks.discard(consumer.restart)
                await _quietly(asyncio.wait_for(consumer.cancel(), 5))

    async def counts(self, names: Sequence[str]) -> dict[str, tuple[int, int] | None]:
        """(ready messages, consumers) of each queue; None for one that is not declared."""
        found: dict[str, tuple[int, int] | None] = {}
        for name in names:
            try:  # a passive declare of a missing queue closes its channel: one channel each
                async with self._connection.channel() as channel:
                    declared = await channel.declare_queue(name, passive=True)
                    result = declared.declaration_result
                    found[name] = (result.message_count or 0, result.consumer_count or 0)
            except aiormq.exceptions.ChannelNotFoundEntity:
                found[name] = None
        return found

    def _require_channel(self) -> AbstractRobustChannel:
        if self._channel is None or self._channel.is_closed:
            raise BrokerUnavailable("no open channel to the broker")
        return self._channel


class _Registration:
    """One basic.consume on whichever aiormq channel the robust channel has now."""

    def __init__(
        self,
        channel: AbstractRobustChannel,
        queue: str,
        deliver: Callable[[DeliveredMessage], Coroutine[Any, Any, None]],
    ) -> None:
        self._channel, self._queue, self._deliver = channel, queue, deliver
        self._tag: str | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._again: asyncio.Future[None] | None = None  # held so the task is not collected

    async def start(self) -> None:
        underlay = await self._channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(self._cancelled_by_broker)
        ok = await underlay.basic_consume(self._queue, self._deliver)
        self._tag = ok.consumer_tag

    async def restart(self, _channel: object) -> None:
        await self.start()

    async def cancel(self) -> None:
        underlay = await self._channel.get_underlay_channel()
        if self._tag is not None:
            await underlay.basic_cancel(self._tag)

    def _cancelled_by_broker(self, frame: aiormq.spec.Basic.Cancel) -> None:
        # e.g. the queue was deleted and declared again; called on the channel's reader,
        # so the new basic.consume runs in a task of its own, a second later
        if frame.consumer_tag == self._tag:
            log.warning("consumer cancelled by the broker; consuming again", queue=self._queue)
            self._tag = None
            self._retry = asyncio.get_running_loop().call_later(1, self._start_soon)

    def _start_soon(self) -> None:
        self._again = asyncio.ensure_future(self.start())


async def _messages(inbox: asyncio.Queue[AmqpInbound]) -> AsyncIterator[AmqpInbound]:
    while True:
        yield await inbox.get()


async def _quietly(closing: Awaitable[Any]) -> None:
    try:
        await closing
    except Exception as exc:  # noqa: BLE001 - closing a channel that is already gone is fine
        log.debug("close on a lost channel", error=repr(exc))


@asynccontextmanager
async def amqp_broker(
    url: str, name: str, publish_timeout: float, metrics: Metrics | None = None
) -> AsyncIterator[AmqpBroker]:
    """One robust connection per process, named so `rabbitmqctl list_connections` tells who,
    to the first node of `url` (one URL or several, comma-separated) that answers, and to the
    next when it loses that one (chargehook.plumbing.cluster).

    With `metrics`, each confirmed publish is timed in chargehook_publish_confirm_seconds and
    counted in chargehook_broker_published_total.
    """
    nodes = Nodes(broker_urls(url))
    connection = await connect_first(nodes, name)
    try:
        async with following(connection, nodes):
            broker = AmqpBroker(connection, publish_timeout, metrics)
            await broker.open()
            yield broker
    finally:
        await connection.close()
