"""Where a delivery task goes in its subscription's line (chargehook.webhooks.request_lines):
the placement and the moment the growing request leaves, as tables."""

import asyncio

import pytest

from chargehook.webhooks.request_lines import Growing, Line, may_leave, place

BATCH, CAP = 10, 2


def line(in_flight: int, growing: tuple[int, int, int] | None = None) -> Line:
    """`growing`: (deliveries, round, tasks joined). Called in a test's event loop."""
    made = Line(in_flight=in_flight)
    if growing is not None:
        size, round_, joined = growing
        sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        made.growing = Growing(round_, [f"d{n}" for n in range(size)], sent, joined)
    return made


@pytest.mark.parametrize(
    ("in_flight", "growing", "ids", "round_", "expected"),
    [
        (0, None, 1, 1, "go"),  # nothing in flight: at once
        (0, None, 10, 1, "go"),
        (1, None, 1, 1, "lead"),  # one in flight: the next request starts growing
        (1, None, 10, 1, "go"),  # a full batch with a slot free goes beside it
        (2, None, 10, 1, "lead"),  # a full batch, no slot free: it waits for one
        (1, (3, 1, 0), 1, 1, "join"),
        (1, (3, 1, 1), 7, 1, "join"),  # exactly full
        (1, (3, 1, 1), 8, 1, "busy"),  # it would not fit
        (1, (3, 1, 2), 1, 1, "busy"),  # as many joined as the cap: the rest wait in the broker
        (1, (3, 2, 0), 1, 1, "busy"),  # another round of the retry schedule
        (0, (3, 1, 0), 1, 1, "join"),  # the growing one is about to leave: never overtaken
    ],
)
async def test_where_a_task_goes(
    in_flight: int, growing: tuple[int, int, int] | None, ids: int, round_: int, expected: str
) -> None:
    assert place(line(in_flight, growing), ids, round_, BATCH, CAP) == expected


@pytest.mark.parametrize(
    ("in_flight", "size", "expected"),
    [
        (0, 1, True),  # nothing in flight any more
        (1, 5, False),  # growing while one is in flight
        (1, 10, True),  # full, a slot free
        (2, 10, False),  # full, no slot free
    ],
)
async def test_when_the_growing_request_leaves(in_flight: int, size: int, expected: bool) -> None:
    assert may_leave(line(in_flight, (size, 1, 0)), BATCH, CAP) is expected
