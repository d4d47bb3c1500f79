import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given

from chargehook.sessions.order import (
    KEY_COLUMNS,
    OrderKey,
    order_key,
    sql_newer,
)
from chargehook.sessions.store import STORE_EVENTS, UPSERT_LATEST
from tests.ordering_examples import Event, pairs

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def key(status: str, minute: int | None, event_id: str, arrived: int = 0) -> OrderKey:
    updated = None if minute is None else T0 + timedelta(minutes=minute)
    return order_key(status, updated, T0 + timedelta(minutes=arrived), event_id)


EVENTS = [
    ("init", key("ORDER_INIT_AND_WAITING", 0, "a")),
    ("charging", key("IN_PROGRESS", 5, "b")),
    ("finished", key("FINISHED", 20, "c")),
    ("late progress", key("IN_PROGRESS", 25, "d")),
    ("payment error", key("PAYMENT_ERROR", 30, "e")),
]


def winner(events: list[tuple[str, OrderKey]]) -> str:
    name, _ = max(events, key=lambda e: e[1])
    return name


def test_every_arrival_order_gives_the_same_current_state() -> None:
    results = {winner(list(order)) for order in itertools.permutations(EVENTS)}
    assert results == {"payment error"}


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        (key("IN_PROGRESS", 30, "x"), key("FINISHED", 20, "y")),  # terminal absorbs
        (key("FINISHED", 20, "x"), key("PAYMENT_ERROR", 30, "y")),  # later terminal wins
        (key("ORDER_INIT_AND_WAITING", 5, "z"), key("IN_PROGRESS", 5, "a")),  # rank breaks ties
        (key("IN_PROGRESS", 5, "a"), key("IN_PROGRESS", 5, "b")),  # event_id breaks the rest
        (key("IN_PROGRESS", None, "a", arrived=1), key("IN_PROGRESS", 2, "a")),  # arrival time
    ],
    ids=["terminal absorbs", "later terminal", "lifecycle rank", "event id", "arrival time"],
)
def test_the_order_rules_of_spec_section_4(older: OrderKey, newer: OrderKey) -> None:
    assert older < newer


@given(pairs)
def test_positions_compare_as_the_keys_do(pair: tuple[Event, Event]) -> None:
    a, b = pair
    assert (a.position < b.position) == (a.key < b.key)
    assert (a.position == b.position) == (a.key == b.key)


def test_the_sql_comparison_is_a_row_comparison_of_the_key_in_its_order() -> None:
    """SQL compares rows left to right, as Python compares tuples, so comparing the same
    columns in the same order is the same comparison (given the columns' types, which the
    test on the real PostgreSQL checks)."""
    assert KEY_COLUMNS == OrderKey._fields
    new = ", ".join(f"n.{column}" for column in OrderKey._fields)
    old = ", ".join(f"o.{column}" for column in OrderKey._fields)
    assert sql_newer("n", "o") == f"({new}) > ({old})"


def test_the_store_keeps_a_session_by_the_sql_comparison_of_this_module() -> None:
    assert f"WHERE {sql_newer('EXCLUDED', 's')}\n" in UPSERT_LATEST
    assert STORE_EVENTS.endswith(UPSERT_LATEST)
