"""The delivery states' rules, table-driven: may a delivery go, where an attempt leaves it."""

from datetime import UTC, datetime, timedelta

import pytest

from chargehook.webhooks.delivery_states import (
    SNIPPET_CHARS,
    AttemptResult,
    decide_claim,
    disable_reason,
    disables_at,
    may_retry,
    outcome,
    status_after,
)

AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
OLD = "0|2026-03-01T10:00:00.000000Z|1|evt_a"
NEW = "1|2026-03-01T10:20:00.000000Z|2|evt_b"


def result(status: int | None, error: str | None = "http_status") -> AttemptResult:
    return AttemptResult(AT, status, 12, None if status and status < 300 else error, None)


@pytest.mark.parametrize(
    ("sent", "leased", "position", "expected"),
    [
        (None, False, OLD, "go"),  # nothing sent to this subscriber for the session yet
        (OLD, False, NEW, "go"),  # a newer state follows an older one
        (OLD, False, OLD, "go"),  # a retry of what was sent last may go again
        (NEW, False, OLD, "superseded"),  # never an older state after a newer one
        (NEW, True, OLD, "superseded"),  # superseded wins over busy: it will never go
        (None, True, OLD, "busy"),  # another attempt holds the lease
        (OLD, True, OLD, "busy"),  # even a second copy of the same task waits
    ],
)
def test_decide_claim(sent: str | None, leased: bool, position: str, expected: str) -> None:
    assert decide_claim(sent, leased, position) == expected


@pytest.mark.parametrize(
    ("attempt", "retry_queued", "status", "named"),
    [
        (result(200), False, "succeeded", "succeeded"),
        (result(204), True, "succeeded", "succeeded"),  # success wins whatever was queued
        (result(500), True, "pending", "retrying"),
        (result(500), False, "failed", "failed"),  # the schedule is used up
        (result(None, "timeout"), True, "pending", "retrying"),
        (result(410), False, "failed", "failed"),
    ],
)
def test_status_after_an_attempt(
    attempt: AttemptResult, retry_queued: bool, status: str, named: str
) -> None:
    assert status_after(attempt, retry_queued) == status
    assert outcome(status_after(attempt, retry_queued)) == named


@pytest.mark.parametrize(
    ("attempt", "retried"),
    [(result(200), False), (result(410), False), (result(503), True), (result(None), True)],
)
def test_only_failures_other_than_gone_are_retried(attempt: AttemptResult, retried: bool) -> None:
    assert may_retry(attempt) is retried


FIVE_DAYS = timedelta(days=5)


@pytest.mark.parametrize(
    ("attempt", "last_success", "reason"),
    [
        (result(200), AT - timedelta(days=30), None),  # a success never disables
        (result(410), AT, "the endpoint answered 410 Gone"),
        (result(500), AT - timedelta(days=6), "no successful delivery for too long"),
        (result(500), AT - timedelta(days=4), None),
        (result(500), None, None),
    ],
)
def test_disable_reason(
    attempt: AttemptResult, last_success: datetime | None, reason: str | None
) -> None:
    assert disable_reason(attempt, last_success, AT, FIVE_DAYS) == reason


@pytest.mark.parametrize(
    ("snippet", "stored"),
    [
        (None, None),
        ("", None),
        ("ok", "ok"),
        ("a\x00b", "a\ufffdb"),  # PostgreSQL text holds no NUL: the attempt is still recorded
        ("x" * 600, "x" * SNIPPET_CHARS),
    ],
)
def test_a_snippet_is_stored_as_text_postgresql_can_hold(
    snippet: str | None, stored: str | None
) -> None:
    attempt = AttemptResult(datetime(2026, 3, 1, tzinfo=UTC), 500, 3, "http_status", snippet)
    assert attempt.stored_snippet == stored


@pytest.mark.parametrize(
    ("enabled", "since", "expected"),
    [
        (True, AT, AT + timedelta(days=5)),
        (True, AT - timedelta(days=6), AT - timedelta(days=1)),  # overdue: the next failure
        (False, AT, None),  # disabled already: no countdown
    ],
)
def test_when_a_failure_would_disable_a_subscription(
    enabled: bool, since: datetime, expected: datetime | None
) -> None:
    assert disables_at(enabled, since, timedelta(days=5)) == expected
