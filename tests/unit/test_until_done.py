"""A step that must not be redone from the start (plumbing.failures.until_done): tried again
while the infrastructure fails it, given up at once for any other error."""

import pytest

from chargehook.plumbing.failures import until_done


async def test_a_step_failed_by_the_infrastructure_is_tried_again_until_it_is_done() -> None:
    tries: list[int] = []

    async def record() -> str:
        tries.append(len(tries))
        if len(tries) < 3:
            raise ConnectionResetError("the primary went away")
        return "recorded"

    assert await until_done(record, "record", within=5, first_pause=0.001) == "recorded"
    assert len(tries) == 3


async def test_any_other_error_is_raised_at_once() -> None:
    tries: list[int] = []

    async def record() -> None:
        tries.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await until_done(record, "record", within=5, first_pause=0.001)
    assert tries == [1]


async def test_it_gives_up_once_its_time_is_over() -> None:
    tries: list[int] = []

    async def record() -> None:
        tries.append(1)
        raise ConnectionResetError("still failing over")

    with pytest.raises(ConnectionResetError):
        await until_done(record, "record", within=0.05, first_pause=0.01)
    assert 2 <= len(tries) <= 6
