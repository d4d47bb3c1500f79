"""The dead-letter queues (`<queue>.dead`): list what is in one, put messages back on their queue
after a fix was deployed, or drop them. On any broker, through `Broker.consume`: listing settles
nothing, so every message listed stays where it was (docs/broker.md#dead-letters)."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from chargehook.plumbing.broker import (
    DEAD_AT_HEADER,
    DEAD_QUEUE_SUFFIX,
    DEFAULT_EXCHANGE,
    FAILURES_HEADER,
    REASON_HEADER,
    Broker,
    Inbound,
    OutboundMessage,
    QueueSpec,
)
from chargehook.schemas import DeadLetter

MAX_LISTED = 1000  # messages looked at in one call at most (the consumer's prefetch)
QUIET = 0.5  # seconds without a new message: the queue has given what it holds
REPLAYED_HEADER = "x-chargehook-replayed"


def dead_queue(queue: QueueSpec) -> QueueSpec:
    return QueueSpec(queue.dead_letter_queue, queue.exchange, ())


def reason_of(inbound: Inbound) -> str:
    headers = inbound.headers
    if REASON_HEADER in headers:
        return headers[REASON_HEADER]
    if "x-death" in headers:  # RabbitMQ's own: the delivery limit was reached
        return "delivered over the queue's delivery limit (the consumer failed each time)"
    return "unknown"


async def list_dead(broker: Broker, queue: QueueSpec) -> list[DeadLetter]:
    """What the queue's dead-letter queue holds (up to MAX_LISTED); every one stays there."""
    return await _visit(broker, queue, lambda _: True, settle=None)


async def replay_dead(broker: Broker, queue: QueueSpec, ids: Sequence[str] | None) -> int:
    """Put the dead letters with these message ids (None: all) back on their queue, each
    confirmed there before it leaves the dead-letter queue; how many."""
    chosen = _chooser(ids)

    async def replay(inbound: Inbound) -> None:
        headers = {k: v for k, v in inbound.headers.items() if k not in _DEAD_HEADERS}
        headers[REPLAYED_HEADER] = "true"
        copy = OutboundMessage(inbound.body, inbound.message_id or "", headers)
        await broker.publish(DEFAULT_EXCHANGE, queue.name, copy)
        await inbound.ack()

    return len(await _visit(broker, queue, chosen, replay))


async def drop_dead(broker: Broker, queue: QueueSpec, ids: Sequence[str] | None) -> int:
    """Remove the dead letters with these message ids (None: all) for good; how many."""

    async def drop(inbound: Inbound) -> None:
        await inbound.ack()

    return len(await _visit(broker, queue, _chooser(ids), drop))


_DEAD_HEADERS = (REASON_HEADER, DEAD_AT_HEADER, FAILURES_HEADER, "x-death", "x-first-death-queue",
                 "x-first-death-reason", "x-first-death-exchange", "x-last-death-queue",
                 "x-last-death-reason", "x-last-death-exchange")  # fmt: skip


def _chooser(ids: Sequence[str] | None) -> Callable[[Inbound], bool]:
    wanted = None if ids is None else set(ids)
    return lambda inbound: wanted is None or inbound.message_id in wanted


async def _visit(
    broker: Broker,
    queue: QueueSpec,
    chosen: Callable[[Inbound], bool],
    settle: Callable[[Inbound], Awaitable[None]] | None,
) -> list[DeadLetter]:
    """Every message in the dead-letter queue, once: the chosen ones, settled by `settle` when
    there is one. Leaving the consumer gives every unsettled one back, in place."""
    seen: list[DeadLetter] = []
    async with broker.consume(dead_queue(queue), MAX_LISTED) as incoming:
        while len(seen) < MAX_LISTED:
            try:
                inbound = await asyncio.wait_for(anext(incoming), QUIET)
            except TimeoutError:
                break
            if not chosen(inbound):
                continue
            if settle is not None:
                await settle(inbound)
            seen.append(_letter(queue, inbound))
    return seen


def _letter(queue: QueueSpec, inbound: Inbound) -> DeadLetter:
    return DeadLetter(
        queue=queue.name,
        message_id=inbound.message_id,
        reason=reason_of(inbound),
        dead_at=inbound.headers.get(DEAD_AT_HEADER),
        headers=dict(inbound.headers),
        body=inbound.body.decode(errors="replace"),
    )


def queue_named(name: str, queues: Sequence[QueueSpec]) -> QueueSpec | None:
    """A work queue by its name (`chargehook.persist`), its short name (`persist`) or the
    name of its dead-letter queue (`chargehook.persist.dead`)."""
    name = name.removesuffix(DEAD_QUEUE_SUFFIX)
    for queue in queues:
        if name in (queue.name, queue.name.removeprefix("chargehook.")):
            return queue
    return None
