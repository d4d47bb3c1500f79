"""Generated session events for the order's property tests, shared by the unit test and the one
on the real PostgreSQL. Half the pairs are a second event that keeps parts of the first, and
the values are drawn from small sets often, so that every part of the key gets to decide."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from chargehook.schemas import STATUSES
from chargehook.schemas.session import EARLIEST, LATEST
from chargehook.sessions.order import LIFECYCLE_RANK, OrderKey, order_key, position

T0 = datetime(2026, 3, 1, 10, 20, tzinfo=UTC)


@dataclass(frozen=True)
class Event:
    status: str
    updated_at: datetime | None
    received_at: datetime
    event_id: str

    @property
    def key(self) -> OrderKey:
        return order_key(self.status, self.updated_at, self.received_at, self.event_id)

    @property
    def position(self) -> str:
        return position(self.key)


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
# The same instant (or one a microsecond away) written with different offsets, or any time
# ingest accepts.
instants = st.integers(min_value=0, max_value=2).map(
    lambda us: T0 + timedelta(microseconds=us)
) | st.datetimes(
    min_value=EARLIEST.replace(tzinfo=None),
    max_value=(LATEST - timedelta(microseconds=1)).replace(tzinfo=None),
    timezones=st.just(UTC),
)
times = st.builds(datetime.astimezone, instants, offsets)
# Any character PostgreSQL text holds (no NUL, no lone surrogate), often one of a few, so that
# two ids often share a prefix.
id_characters = st.sampled_from("ab|~") | st.characters(
    exclude_categories=["Cs"], exclude_characters="\x00"
)
# Half the time a non-terminal one: only between those does the lifecycle rank ever decide.
statuses = st.sampled_from(STATUSES) | st.sampled_from(sorted(LIFECYCLE_RANK))
updated = st.none() | times
event_ids = st.text(id_characters, min_size=1, max_size=4)
events = st.builds(
    Event, status=statuses, updated_at=updated, received_at=times, event_id=event_ids
)


def like(first: Event) -> SearchStrategy[Event]:
    """Another event that keeps some of the parts of `first` and draws the others afresh."""
    return st.builds(
        Event,
        status=st.just(first.status) | statuses,
        updated_at=st.just(first.updated_at) | updated,
        received_at=st.just(first.received_at) | times,
        event_id=st.just(first.event_id) | event_ids,
    )


pairs = st.tuples(events, events) | events.flatmap(
    lambda first: st.tuples(st.just(first), like(first))
)
