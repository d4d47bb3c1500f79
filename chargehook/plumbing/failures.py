"""A message whose work raised: whose fault it was, and what becomes of it.

The rule (docs/broker.md#dead-letters): only a message proven bad is dead-lettered.

- **The infrastructure's**: `faults.is_infrastructure` says so, or the broker or the database
  does not answer a probe right after the failure. The consumer keeps the work in hand and
  tries it again with back-off, for as long as it takes; nothing is counted against it.
- **Perhaps the message's own**: an unknown error while the broker and the database answer
  (the probe replaces every pooled connection first, so the next try runs on fresh ones). The
  message goes back through its queue with its count of failures in `x-chargehook-failures`,
  so the count survives a redelivery, a restart and another copy of the worker; other work goes
  on meanwhile. On its FAILURE_LIMIT-th failure it is dead-lettered.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from chargehook.plumbing.broker import (
    DEFAULT_EXCHANGE,
    FAILURES_HEADER,
    Broker,
    Inbound,
    OutboundMessage,
    QueueSpec,
)
from chargehook.plumbing.errors import RetryLater
from chargehook.plumbing.faults import is_infrastructure
from chargehook.plumbing.metrics import Metrics

log = structlog.get_logger("chargehook.consume")
# Failures of its own, the database answering each time, after which a message is dead-lettered.
FAILURE_LIMIT = 5
# Whether the dependencies answer now; wired to `database.answering(pool)` in workers.
Probe = Callable[[], Awaitable[bool]]
T = TypeVar("T")


async def nothing_to_probe() -> bool:
    return True


def failures_so_far(headers: Mapping[str, str]) -> int:
    try:
        return max(0, int(headers.get(FAILURES_HEADER, "0")))
    except ValueError:
        return 0


@dataclass
class Failures:
    """One consumer's judge of failed work, with the metrics that tell an outage from poison."""

    broker: Broker
    queue: QueueSpec
    worker: str
    metrics: Metrics
    probe: Probe
    log: Any = field(init=False)

    def __post_init__(self) -> None:
        self.log = log.bind(worker=self.worker)

    async def blame_infrastructure(self, exc: BaseException) -> bool:
        """True when the work should stay in hand and be tried again after a back-off."""
        if is_infrastructure(exc):
            return True
        return not (self.broker.is_ready() and await self.probe())

    def retrying(self, exc: BaseException, size: int) -> None:
        self.log.warning(
            "infrastructure fault; trying again after a back-off", error=repr(exc), size=size
        )
        self.metrics.inc(
            "chargehook_worker_failures_total", size, worker=self.worker, blamed_on="infrastructure"
        )

    async def failed_alone(self, inbound: Inbound, exc: BaseException) -> None:
        """`inbound` failed on its own, the dependencies answering: try it again through its
        queue, counted, or dead-letter it once it has failed FAILURE_LIMIT times."""
        failures = failures_so_far(inbound.headers) + 1
        if failures >= FAILURE_LIMIT:
            reason = f"failed {failures} times, the database answering: {exc!r}"
            self.log.error("message failed for good", message_id=inbound.message_id, exc_info=exc)
            await self.dead_letter(inbound, reason, "failed")
            return
        self.log.warning(
            "message failed; trying it again",
            message_id=inbound.message_id,
            failures=failures,
            error=repr(exc),
        )
        headers = {**inbound.headers, FAILURES_HEADER: str(failures)}
        again = OutboundMessage(inbound.body, inbound.message_id or "", headers)
        try:  # confirmed before the original goes: a crash in between leaves a twin, never none
            await self.broker.publish(DEFAULT_EXCHANGE, self.queue.name, again)
        except RetryLater:
            await inbound.requeue()
            return
        await inbound.ack()
        self.metrics.inc(
            "chargehook_worker_failures_total", worker=self.worker, blamed_on="message"
        )

    async def dead_letter(self, inbound: Inbound, reason: str, cause: str) -> None:
        """To the dead-letter queue with `reason`; `cause` is `undecodable` or `failed`."""
        self.log.warning("dead-lettered", message_id=inbound.message_id, reason=reason)
        try:
            await inbound.dead_letter(reason)
        except RetryLater:
            await inbound.requeue()
            return
        self.metrics.inc("chargehook_worker_messages_total", worker=self.worker, outcome="dead")
        self.metrics.inc("chargehook_worker_dead_letters_total", worker=self.worker, cause=cause)


async def until_done(
    step: Callable[[], Awaitable[T]],
    what: str,
    within: float,
    first_pause: float = 0.5,
    most: float = 10.0,
) -> T:
    """`step`, tried again after a back-off while it fails by the infrastructure's fault, for
    `within` seconds at most; then its last error is raised. For work that must not be redone
    from the start once begun, while redoing it is still the worse choice: a webhook sent is
    recorded, not sent again, if the database comes back before the request's lease ends."""
    ends = asyncio.get_running_loop().time() + within
    pause = first_pause
    while True:
        try:
            return await step()
        except Exception as exc:
            left = ends - asyncio.get_running_loop().time()
            if not is_infrastructure(exc) or left <= 0:
                raise
            log.warning("step failed by the infrastructure; trying it again", step=what,
                        error=repr(exc), pause=pause)  # fmt: skip
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, most)
