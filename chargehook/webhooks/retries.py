"""When to try a failed delivery again: the schedule, its jitter variants, Retry-After."""

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Each step is held by fixed-TTL queues at these fractions of it: the jitter spreads a crowd of
# retries without per-message expiry, which RabbitMQ only honours at the head of a queue.
JITTER = (0.9, 1.0, 1.1)
RETRYABLE_AFTER = frozenset({429, 503})


def parse_schedule(text: str) -> tuple[float, ...]:
    steps = tuple(float(part) for part in text.split(",") if part.strip())
    if not steps or any(step <= 0 for step in steps):
        raise ValueError("a retry schedule is positive seconds separated by commas")
    return steps


def delays_ms(schedule: tuple[float, ...], busy_seconds: float) -> tuple[int, ...]:
    """Every delay a retry may wait, in milliseconds: the queues to declare."""
    variants = {round(step * factor * 1000) for step in schedule for factor in JITTER}
    return tuple(sorted(variants | {round(busy_seconds * 1000)}))


def retry_delay_ms(
    schedule: tuple[float, ...],
    available: tuple[int, ...],
    failed_round: int,
    retry_after: float | None,
    rng: random.Random,
) -> int | None:
    """The wait before the next round, one of the `available` delay queues, or None when the
    last round has failed. Retry-After picks the first queue that waits at least that long."""
    if failed_round > len(schedule):
        return None
    wanted = schedule[failed_round - 1] * rng.choice(JITTER)
    if retry_after is not None:
        wanted = max(wanted, retry_after)
    fitting = [delay for delay in available if delay >= round(wanted * 1000)]
    return fitting[0] if fitting else available[-1]


MAX_RETRY_AFTER = 7 * 24 * 3600  # a receiver asking for more than a week gets a week


def retry_after_seconds(status: int, header: str | None, now: datetime) -> float | None:
    """Retry-After on a 429 or 503, as seconds or an HTTP date; anything else is ignored."""
    if status not in RETRYABLE_AFTER or not header:
        return None
    seconds = header.strip()
    if seconds.isascii() and seconds.isdigit():  # not "²", which isdigit() also takes
        return float(min(int(seconds), MAX_RETRY_AFTER))
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
