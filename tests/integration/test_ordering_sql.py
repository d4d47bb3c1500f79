"""The order as PostgreSQL applies it agrees with the order in Python (docs/ordering.md).

The persist worker keeps a session's current state by the SQL comparison of
`chargehook.sessions.order.sql_newer` on the stored key; here the real upsert meets pairs of
generated events, a batch of pairs per transaction, rolled back.
"""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargehook.plumbing.database import Connection, Pool
from chargehook.sessions.store import UPSERT_LATEST
from tests.ordering_examples import Event, pairs

pytestmark = pytest.mark.services
PROVIDER = "ordering"


# The rows as the persist worker's statement hands them to its upsert.
AS_LATEST = """
WITH latest AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[],
        $6::timestamptz[], $7::int2[], $8::timestamptz[], $9::json[])
    AS l (provider, session_id, event_id, status, terminal, updated_at, lifecycle_rank,
        received_at, body))"""


class RolledBack(Exception):
    """Raised to end a test's transaction without keeping its rows."""


async def upsert(conn: Connection, events: list[Event], side: str) -> None:
    """Event i as the state of session i, written by the persist worker's own statement."""
    rows = [
        (PROVIDER, f"s{i}", e.event_id, e.status, e.key.terminal, e.key.updated_at,
         e.key.lifecycle_rank, e.received_at, f'"{side}"')
        for i, e in enumerate(events)
    ]  # fmt: skip
    await conn.execute(AS_LATEST + UPSERT_LATEST, *map(list, zip(*rows, strict=True)))


async def kept(conn: Connection, count: int) -> list[str]:
    """Which side each session's state is from, in session order."""
    rows = await conn.fetch("SELECT session_id, body #>> '{}' AS side FROM sessions "
                            "WHERE provider = $1", PROVIDER)  # fmt: skip
    by_session = {row["session_id"]: row["side"] for row in rows}
    return [by_session[f"s{i}"] for i in range(count)]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(pairs, min_size=1, max_size=25))
async def test_the_upsert_keeps_the_event_python_orders_greater(
    pool: Pool, batch: list[tuple[Event, Event]]
) -> None:
    expected = ["second" if b.key > a.key else "first" for a, b in batch]
    with pytest.raises(RolledBack):
        async with pool.acquire() as conn, conn.transaction():
            await upsert(conn, [a for a, _ in batch], "first")
            await upsert(conn, [b for _, b in batch], "second")
            assert await kept(conn, len(batch)) == expected
            raise RolledBack
