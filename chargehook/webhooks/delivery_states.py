"""A delivery's states as pure rules: may it go, and where does an attempt leave it.

pending -> succeeded                  a 2xx
pending -> pending (retry queued)     any other answer or no answer, while the schedule lasts
pending -> failed                     the schedule is used up, 410 Gone, or the subscription is off
pending -> superseded                 a newer state of its session was already sent there

docs/delivery.md tells the whole story.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from chargehook.schemas import DeliveryStatus

Claim = Literal["go", "busy", "superseded"]
Outcome = Literal["succeeded", "retrying", "failed"]
GONE = 410
SNIPPET_CHARS = 500


@dataclass(frozen=True)
class AttemptResult:
    """What one POST to a subscriber came to."""

    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error_kind: str | None  # None on success
    snippet: str | None
    retry_after: float | None = None  # seconds the receiver asked for (429, 503)

    @property
    def succeeded(self) -> bool:
        return self.error_kind is None

    @property
    def stored_snippet(self) -> str | None:
        """The answer's start as PostgreSQL text can hold it: no NUL, whatever came back."""
        text = (self.snippet or "")[:SNIPPET_CHARS].replace("\x00", "\ufffd")
        return text or None

    @property
    def gone(self) -> bool:
        return self.status_code == GONE


def decide_claim(sent_position: str | None, leased: bool, position: str) -> Claim:
    """Whether a delivery at `position` may be attempted now, given its (subscriber, session)
    cursor: never after a newer state was sent there, and one attempt at a time.

    Equal positions are the same event: a retry of what was sent last may go again. A lease
    blocks even its own delivery, so a second copy of a task cannot send twice.
    """
    if sent_position is not None and sent_position > position:
        return "superseded"
    return "busy" if leased else "go"


def status_after(result: AttemptResult, retry_queued: bool) -> DeliveryStatus:
    if result.succeeded:
        return "succeeded"
    return "pending" if retry_queued else "failed"


def outcome(status: DeliveryStatus) -> Outcome:
    """The name an attempt's end goes by in logs and metrics."""
    return "retrying" if status == "pending" else "failed" if status == "failed" else "succeeded"


def may_retry(result: AttemptResult) -> bool:
    """Only a failure is retried, and never a 410 Gone: the receiver asked us to stop."""
    return not result.succeeded and not result.gone


def disable_reason(
    result: AttemptResult, last_success: datetime | None, now: datetime, disable_after: timedelta
) -> str | None:
    """Why the subscription must be switched off after this attempt, or None."""
    if result.succeeded:
        return None
    if result.gone:
        return "the endpoint answered 410 Gone"
    if last_success is not None and now - last_success > disable_after:
        return "no successful delivery for too long"
    return None


def disables_at(enabled: bool, since: datetime, disable_after: timedelta) -> datetime | None:
    """From when a failed attempt disables the subscription: `disable_after` past its last
    success (or creation); None when it is disabled already."""
    return since + disable_after if enabled else None
