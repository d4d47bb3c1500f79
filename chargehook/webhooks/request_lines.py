"""Each subscription's line of requests in one deliverer process (docs/delivery.md#batches).

A task goes out at once when none of its subscription's requests is in flight, or when it is
a full batch and the subscription has a slot free. Otherwise it joins the subscription's next
request, which grows while a request is in flight and goes when none is (or once it is full
and a slot is free). A task that can join nothing waits in the broker (the busy delay), so one
slow receiver holds a bounded few of the worker's slots.
"""

import asyncio
from dataclasses import dataclass, field
from typing import Literal

Placement = Literal["go", "lead", "join", "busy"]


@dataclass
class Growing:
    """A subscription's next request: the tasks' deliveries it carries so far, the round they
    are at, and `sent`, done when the request was sent and recorded (or failed)."""

    round: int
    ids: list[str]
    sent: "asyncio.Future[None]"
    joined: int = 0  # tasks besides the one that started it


@dataclass
class Line:
    """A subscription's requests in flight in this process and its next one, if growing."""

    in_flight: int = 0
    growing: Growing | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def changed(self) -> asyncio.Event:
        return self._changed

    def notify(self) -> None:
        """A request ended or the growing one grew: whoever waits looks again."""
        self._changed.set()
        self._changed = asyncio.Event()


def place(line: Line, ids: int, round_: int, batch_size: int, cap: int) -> Placement:
    """Where a task of `ids` deliveries at `round_` goes: out now, starting the next request,
    into the growing one, or to the broker to wait."""
    growing = line.growing
    if growing is None:
        if line.in_flight == 0 or (ids >= batch_size and line.in_flight < cap):
            return "go"
        return "lead"
    fits = len(growing.ids) + ids <= batch_size
    if growing.round == round_ and growing.joined < cap and fits:
        return "join"
    return "busy"


def may_leave(line: Line, batch_size: int, cap: int) -> bool:
    """Whether the growing request goes now: nothing in flight, or full with a slot free."""
    growing = line.growing
    size = len(growing.ids) if growing is not None else 0
    return line.in_flight == 0 or (size >= batch_size and line.in_flight < cap)
