import random
from datetime import UTC, datetime

import pytest

from chargehook.plumbing.settings import Settings
from chargehook.webhooks.retries import (
    delays_ms,
    parse_schedule,
    retry_after_seconds,
    retry_delay_ms,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# The schedule's one home is the setting's default.
DEFAULT_SCHEDULE = parse_schedule(Settings().retry_schedule)
AVAILABLE = delays_ms(DEFAULT_SCHEDULE, 1.0)


def test_the_default_schedule_is_the_issue_s() -> None:
    assert DEFAULT_SCHEDULE == (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
    assert len(AVAILABLE) == 19  # 6 distinct steps x 3 jitter variants + the busy delay


@pytest.mark.parametrize("failed_round", range(1, 8))
def test_each_round_waits_its_step_within_the_jitter(failed_round: int) -> None:
    rng = random.Random(failed_round)  # noqa: S311 - repeatable jitter
    step_ms = DEFAULT_SCHEDULE[failed_round - 1] * 1000
    delays = {
        retry_delay_ms(DEFAULT_SCHEDULE, AVAILABLE, failed_round, None, rng) for _ in range(50)
    }
    assert delays == {round(step_ms * f) for f in (0.9, 1.0, 1.1)}


def test_after_the_last_round_there_is_no_retry() -> None:
    assert retry_delay_ms(DEFAULT_SCHEDULE, AVAILABLE, 8, None, random.Random(1)) is None  # noqa: S311


def test_retry_after_is_honoured_with_the_first_queue_that_waits_long_enough() -> None:
    rng = random.Random(3)  # noqa: S311
    assert retry_delay_ms(DEFAULT_SCHEDULE, AVAILABLE, 1, 120, rng) == 270_000
    assert retry_delay_ms(DEFAULT_SCHEDULE, AVAILABLE, 1, 10**9, rng) == 39_600_000


@pytest.mark.parametrize(
    ("status", "header", "seconds"),
    [
        (429, "30", 30.0),
        (503, "Sun, 01 Mar 2026 12:01:00 GMT", 60.0),
        (503, "yesterday", None),
        (500, "30", None),
        (429, None, None),
        (429, "²", None),  # str.isdigit() takes superscripts; int() does not
        (503, "٣", None),  # nor other scripts' digits
        (429, "9" * 400, float(7 * 24 * 3600)),  # a week at most
        (503, "Mon, 99 Foo 2026 25:00:00 GMT", None),
    ],
)
def test_retry_after_is_read_on_429_and_503_only(
    status: int, header: str | None, seconds: float | None
) -> None:
    assert retry_after_seconds(status, header, NOW) == seconds


def test_a_schedule_must_be_positive_seconds() -> None:
    with pytest.raises(ValueError):
        parse_schedule("5,0")
