"""The per-provider token bucket, on a clock of the test's own."""

import pytest

from chargehook.providers.limits import RateLimits


@pytest.mark.parametrize(
    ("rate", "steps", "answers"),
    [
        (0, [(0.0, 10_000)], [0]),  # off: everything goes
        (100, [(0.0, 500), (0.0, 1)], [0, 1]),  # a full batch, then one second's wait
        (100, [(0.0, 500), (1.0, 100), (1.0, 1)], [0, 0, 1]),  # refilled at the rate
        (1000, [(0.0, 1000), (0.0, 500)], [0, 1]),  # a burst is a second of the rate
        (10, [(0.0, 500), (0.0, 30)], [0, 3]),  # Retry-After in whole seconds
        (100, [(0.0, 500), (100.0, 500)], [0, 0]),  # never more than its capacity saved up
    ],
    ids=["off", "over", "refilled", "burst", "retry after", "capped"],
)
def test_a_provider_over_its_rate_waits(
    rate: float, steps: list[tuple[float, int]], answers: list[int]
) -> None:
    limits = RateLimits(rate)
    assert [limits.take("p", events, now) for now, events in steps] == answers


def test_each_provider_has_its_own_bucket() -> None:
    limits = RateLimits(100)
    assert limits.take("a", 500, 0.0) == 0
    assert limits.take("b", 500, 0.0) == 0
    assert limits.take("a", 1, 0.0) == 1
