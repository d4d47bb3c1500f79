"""Per-provider rate limits: a token bucket per provider, pure, so it is tested with a clock of
the test's own. Off (rate 0) by default; a provider over its rate is answered 429."""

import math
from dataclasses import dataclass

MAX_BURST_EVENTS = 500  # a bucket holds at least one full batch (sessions.intake.MAX_ITEMS)


@dataclass
class Bucket:
    tokens: float
    at: float  # when `tokens` was last brought up to date


class RateLimits:
    def __init__(self, events_per_second: float) -> None:
        self.rate = events_per_second
        self.capacity = max(events_per_second, MAX_BURST_EVENTS)
        self._buckets: dict[str, Bucket] = {}

    def take(self, provider: str, events: int, now: float) -> int:
        """0 when `events` may go now (they are taken from the provider's bucket), else the
        whole seconds until they could: the `Retry-After` to answer with."""
        if self.rate <= 0:
            return 0
        bucket = self._buckets.setdefault(provider, Bucket(self.capacity, now))
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens >= events:
            bucket.tokens -= events
            return 0
        return max(1, math.ceil((events - bucket.tokens) / self.rate))
