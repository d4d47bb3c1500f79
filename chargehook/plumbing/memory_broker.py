"""The embedded default: an in-process broker with RabbitMQ's routing, for one machine.

It confirms a publish once the message sits in every bound queue; it keeps nothing across
restarts, which is why production runs on RabbitMQ. A consumer holds at most `prefetch`
messages it has not settled, as RabbitMQ's prefetch has it: the backlog waits in the queue.
"""

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog

from chargehook.plumbing.broker import (
    DEAD_AT_HEADER,
    DEAD_EXCHANGE,
    DEFAULT_EXCHANGE,
    DEFAULT_EXCHANGE_NAME,
    DIRECT_EXCHANGES,
    REASON_HEADER,
    TOPIC_EXCHANGES,
    DelaySpec,
    OutboundMessage,
    QueueSpec,
    dead_at,
)
from chargehook.plumbing.errors import BrokerUnavailable
from chargehook.plumbing.metrics import Metrics

log = structlog.get_logger("chargehook.memory_broker")


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: `*` is one word, `#` is zero or more words."""
    return _match(pattern.split("."), key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return head in ("*", words[0]) and _match(rest, words[1:])


@dataclass
class Stored:
    message: OutboundMessage
    routing_key: str


class Window:
    """One consumer's prefetch: the messages it was handed and has not settled, at most `size`."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"prefetch must be at least 1, not {size}")
        self.slots = asyncio.Semaphore(size)
        self.unsettled: set[MemoryInbound] = set()
        self.handed = 0  # messages handed out so far: each one's place, as a delivery tag
        self.closed = False  # the consumer left: nothing more is handed out


class MemoryInbound:
    def __init__(self, stored: Stored, broker: "MemoryBroker", queue: str, window: Window) -> None:
        self._stored = stored
        self._broker = broker
        self._queue = queue
        self._window = window
        window.handed += 1
        self.tag = window.handed
        window.unsettled.add(self)

    @property
    def body(self) -> bytes:
        return self._stored.message.body

    @property
    def message_id(self) -> str | None:
        return self._stored.message.message_id

    @property
    def routing_key(self) -> str:
        return self._stored.routing_key

    @property
    def headers(self) -> Mapping[str, str]:
        return self._stored.message.headers

    async def ack(self) -> None:
        if self._unsettled():
            self._release()

    async def ack_through(self) -> None:
        if self._unsettled():
            for earlier in [m for m in self._window.unsettled if m.tag <= self.tag]:
                earlier._release()

    async def requeue(self) -> None:
        if self._unsettled():
            self._release()
            self._broker.enqueue(self._queue, self._stored)

    async def dead_letter(self, reason: str) -> None:
        if self._unsettled():
            headers = {
                **self._stored.message.headers,
                REASON_HEADER: reason,
                DEAD_AT_HEADER: dead_at(),
            }
            dead = OutboundMessage(self.body, self.message_id or "", headers)
            await self._broker.publish(DEAD_EXCHANGE, self._queue, dead)
            self._release()

    def _unsettled(self) -> bool:
        """Whether this message is still in hand. As on RabbitMQ (which refuses a second ack;
        AmqpInbound logs it), settling it again, or after its consumer left, does nothing."""
        if self in self._window.unsettled:
            return True
        log.warning("already settled; ignored", message_id=self.message_id, queue=self._queue)
        return False

    def _release(self) -> None:
        """Settled: the consumer's prefetch slot is free for the next message."""
        self._window.unsettled.discard(self)
        self._window.slots.release()


class MemoryBroker:
    """With `metrics`, each publish is counted in chargehook_broker_published_total, as on
    RabbitMQ; a delay queue's expiry is the broker's own routing and is not."""

    def __init__(self, metrics: Metrics | None = None) -> None:
        self._bindings: dict[str, list[tuple[str, str]]] = defaultdict(list)
        self._queues: dict[str, asyncio.Queue[Stored]] = {}
        self._delays: dict[str, DelaySpec] = {}
        self._metrics = metrics

    def is_ready(self) -> bool:
        return True

    async def declare(
        self, queues: tuple[QueueSpec, ...], delays: tuple[DelaySpec, ...] = ()
    ) -> None:
        self._delays.update({delay.name: delay for delay in delays})
        for spec in queues:
            self._bind(spec.name, spec.exchange, spec.binding_keys)
            self._bind(spec.dead_letter_queue, DEAD_EXCHANGE, (spec.name,))

    def _bind(self, queue: str, exchange: str, keys: tuple[str, ...]) -> None:
        self._queues.setdefault(queue, asyncio.Queue())
        for key in keys:
            if (key, queue) not in self._bindings[exchange]:
                self._bindings[exchange].append((key, queue))

    async def publish(
        self, exchange: str, routing_key: str, message: OutboundMessage, mandatory: bool = True
    ) -> None:
        self._route(exchange, routing_key, message, mandatory)
        if self._metrics is not None:
            label = exchange or DEFAULT_EXCHANGE_NAME
            self._metrics.inc("chargehook_broker_published_total", exchange=label)

    def _route(
        self, exchange: str, routing_key: str, message: OutboundMessage, mandatory: bool = True
    ) -> None:
        if exchange == DEFAULT_EXCHANGE:
            self._publish_to_queue(routing_key, message)
            return
        if exchange not in (*TOPIC_EXCHANGES, *DIRECT_EXCHANGES):
            raise BrokerUnavailable(f"no exchange {exchange}")
        exact = exchange in DIRECT_EXCHANGES
        targets = {
            queue
            for key, queue in self._bindings[exchange]
            if (key == routing_key if exact else topic_matches(key, routing_key))
        }
        if not targets and mandatory:
            raise BrokerUnavailable(f"{exchange} routes {routing_key} to no queue")
        for queue in targets:
            self.enqueue(queue, Stored(message, routing_key))

    def _publish_to_queue(self, queue: str, message: OutboundMessage) -> None:
        delay = self._delays.get(queue)
        if delay is None:
            self.enqueue(queue, Stored(message, queue))
            return
        # In process only, like everything here: a restart of the embedded default drops it.
        asyncio.get_running_loop().call_later(
            delay.delay_ms / 1000, self._route, delay.exchange, delay.routing_key, message
        )

    def enqueue(self, queue: str, stored: Stored) -> None:
        self._queues[queue].put_nowait(stored)

    @asynccontextmanager
    async def consume(
        self, queue: QueueSpec, prefetch: int
    ) -> AsyncIterator[AsyncIterator[MemoryInbound]]:
        window = Window(prefetch)
        try:
            yield self._consume(queue.name, window)
        finally:
            # Like a closed channel: what the consumer did not settle goes back to the queue.
            window.closed = True
            for inbound in list(window.unsettled):
                await inbound.requeue()

    async def _consume(self, queue: str, window: Window) -> AsyncIterator[MemoryInbound]:
        pending = self._queues[queue]
        while True:
            await window.slots.acquire()
            try:
                stored = await pending.get()
            except BaseException:
                window.slots.release()
                raise
            if window.closed:  # an iterator still running after its consumer left
                self.enqueue(queue, stored)
                return
            yield MemoryInbound(stored, self, queue, window)
