"""The one order of a session's events (docs/ordering.md): terminal?, updatedAt, lifecycle rank,
event_id.

It is a total order, so any arrival order of the same events ends in the same current state;
"older" means smaller by this key wherever chargehook uses the word. This module writes it in
each form chargehook compares it in: the key in Python (`OrderKey`), the comparison of stored
keys in SQL (`sql_newer`), and the `position` text a subscriber receives.
"""

from datetime import UTC, datetime
from typing import NamedTuple

TERMINAL_STATUSES = frozenset(
    {"FINISHED", "NOT_PLUGGED", "PAYMENT_ERROR", "INTERNAL_ERROR", "PROVIDER_ERROR"}
)
LIFECYCLE_RANK = {"ORDER_INIT_AND_WAITING": 0, "IN_PROGRESS": 1}
TERMINAL_RANK = 2


class OrderKey(NamedTuple):
    """An event's place in the order; the fields are compared left to right, as a tuple's."""

    terminal: bool
    updated_at: datetime
    lifecycle_rank: int
    event_id: str


# The sessions table stores the key in columns named as its fields.
KEY_COLUMNS = OrderKey._fields


def sql_newer(row: str, than: str) -> str:
    """SQL that is true when the key stored in row `row` is greater than the one in row
    `than`; both name rows that have the KEY_COLUMNS (a table's alias, or EXCLUDED).

    A row comparison goes left to right like a tuple's; it agrees with OrderKey because the
    columns compare as their Python values do: boolean, timestamptz (an instant), an integer,
    and event_id as text COLLATE "C" (code points), as the sessions table declares it.
    """
    return f"({_key_of(row)}) > ({_key_of(than)})"


def _key_of(row: str) -> str:
    return ", ".join(f"{row}.{column}" for column in KEY_COLUMNS)


def position(key: OrderKey) -> str:
    """The key as text that sorts the same way, so a receiver can compare positions as strings."""
    stamp = key.updated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{int(key.terminal)}|{stamp}|{key.lifecycle_rank}|{key.event_id}"


def is_terminal(status: str) -> bool:
    return status in TERMINAL_STATUSES


def lifecycle_rank(status: str) -> int:
    return TERMINAL_RANK if is_terminal(status) else LIFECYCLE_RANK[status]


def order_key(
    status: str, updated_at: datetime | None, received_at: datetime, event_id: str
) -> OrderKey:
    """An event without `updatedAt` is placed at its arrival time."""
    return OrderKey(
        is_terminal(status), updated_at or received_at, lifecycle_rank(status), event_id
    )


SessionRef = tuple[str, str]
