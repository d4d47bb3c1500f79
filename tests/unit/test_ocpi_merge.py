"""The stored Session is the merge of its pushes (chargehook/ocpi/merge.py): the newest PUT is the
base, later PATCHes replace fields and append charging periods, and any arrival order of the same
pushes merges to the same bytes."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargehook.ocpi.merge import Push, merge, order
from tests.unit.ocpi_pushes import as_document, at, document, patch, put, raw, stamp

PENDING = document("session_pending")  # no charging periods, total_cost without incl_vat
COMPLETED = document("session_completed")  # three charging periods
PERIODS = COMPLETED["charging_periods"]
A = {"start_date_time": "2026-03-01T11:10:00Z", "dimensions": [{"type": "ENERGY", "volume": 100}]}
B = {
    "start_date_time": "2026-03-01T11:20:00Z",
    "dimensions": [{"type": "TIME", "volume": Decimal("0.5")}],
}
TOKEN = {**COMPLETED["cdr_token"], "uid": "ffee0011", "type": "APP_USER"}
NO_INCL = {"excl_vat": Decimal("11.00")}


def expected(base: dict[str, Any], minute: int, **changes: Any) -> dict[str, Any]:
    """The base document with the changes, at the last applied push's time."""
    return {**base, **changes, "last_updated": stamp(minute)}


CP = "charging_periods"
# (what the case shows, the pushes in arrival order, the merged document)
CASES: list[tuple[str, list[Push], dict[str, Any]]] = [
    ("a PUT alone is the Session", [put(0, PENDING)], expected(PENDING, 0)),
    (
        "a PATCH replaces the fields it carries and keeps the rest",
        [put(0, PENDING), patch(5, {"status": "ACTIVE", "kwh": Decimal("5.5")})],
        expected(PENDING, 5, status="ACTIVE", kwh=Decimal("5.5")),
    ),
    (
        "a PATCH's charging periods are appended",
        [put(0, COMPLETED), patch(5, {CP: [A]})],
        expected(COMPLETED, 5, charging_periods=[*PERIODS, A]),
    ),
    (
        "two PATCHes append theirs in last_updated order, whatever the arrival",
        [put(0, COMPLETED), patch(9, {CP: [B]}), patch(5, {CP: [A]})],
        expected(COMPLETED, 9, charging_periods=[*PERIODS, A, B]),
    ),
    (
        "periods are appended to a Session that had none",
        [put(0, PENDING), patch(5, {CP: [A, B]})],
        expected(PENDING, 5, charging_periods=[A, B]),
    ),
    (
        "an empty list changes nothing",
        [put(0, COMPLETED), patch(5, {CP: []})],
        expected(COMPLETED, 5),
    ),
    (
        "a null list changes nothing",
        [put(0, COMPLETED), patch(5, {CP: None})],
        expected(COMPLETED, 5),
    ),
    (
        "an omitted list changes nothing",
        [put(0, COMPLETED), patch(5, {"status": "ACTIVE"})],
        expected(COMPLETED, 5, status="ACTIVE"),
    ),
    (
        "an empty list adds no charging_periods to a Session without them",
        [put(0, PENDING), patch(5, {CP: []})],
        expected(PENDING, 5),
    ),
    (
        "total_cost is replaced whole: an incl_vat the PATCH leaves out is gone",
        [put(0, COMPLETED), patch(5, {"total_cost": NO_INCL})],
        expected(COMPLETED, 5, total_cost=NO_INCL),
    ),
    (
        "cdr_token is replaced whole",
        [put(0, COMPLETED), patch(5, {"cdr_token": TOKEN})],
        expected(COMPLETED, 5, cdr_token=TOKEN),
    ),
    (
        "a PATCH older than the PUT is already in it and is ignored",
        [put(5, PENDING), patch(2, {"status": "ACTIVE", CP: [A]})],
        expected(PENDING, 5),
    ),
    (
        "a PATCH arriving before its PUT is applied when newer",
        [patch(5, {"status": "ACTIVE", CP: [A]}), put(0, PENDING)],
        expected(PENDING, 5, status="ACTIVE", charging_periods=[A]),
    ),
    (
        "of two PUTs the newer is the base, and only the PATCHes after it apply",
        [
            put(4, COMPLETED),
            patch(6, {"status": "INVALID"}),
            patch(2, {"kwh": Decimal(1), CP: [A]}),
            put(0, PENDING),
        ],
        expected(COMPLETED, 6, status="INVALID"),
    ),
    (
        "at an equal last_updated the PATCH is applied on the PUT, whatever the push ids",
        [patch(5, {"status": "ACTIVE"}, push_id="a"), put(5, PENDING, push_id="z")],
        expected(PENDING, 5, status="ACTIVE"),
    ),
    (
        "PATCHes at an equal last_updated are applied in push_id order",
        [
            put(0, COMPLETED),
            patch(5, {"status": "ACTIVE", CP: [B]}, push_id="p2"),
            patch(5, {"status": "INVALID", CP: [A]}, push_id="p1"),
        ],
        expected(COMPLETED, 5, status="ACTIVE", charging_periods=[*PERIODS, A, B]),
    ),
    (
        "the same push given twice counts once",
        [put(0, COMPLETED), patch(5, {CP: [A]}), patch(5, {CP: [A]})],
        expected(COMPLETED, 5, charging_periods=[*PERIODS, A]),
    ),
    (
        "the merged last_updated is the last applied push's, even where its body lacks it",
        [put(0, PENDING), Push("PATCH", at(7), "bare", b'{"status": "ACTIVE"}')],
        expected(PENDING, 7, status="ACTIVE"),
    ),
]


@pytest.mark.parametrize(("pushes", "merged"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_merge_of_the_pushes(pushes: list[Push], merged: dict[str, Any]) -> None:
    assert as_document(merge(pushes)) == merged


@pytest.mark.parametrize(
    "pushes",
    [[], [patch(0, {"status": "ACTIVE"})], [patch(0, {CP: [A]}), patch(5, {"kwh": 1})]],
    ids=["nothing", "one PATCH", "two PATCHes"],
)
def test_there_is_no_session_while_no_put_is_among_the_pushes(pushes: list[Push]) -> None:
    assert merge(pushes) is None


def test_every_value_keeps_its_json_text() -> None:
    cost = b'{"total_cost": {"excl_vat": 1e-3, "incl_vat": 0.0012100}, "last_updated": "x"}'
    pushes = [
        Push("PUT", at(0), "put", raw("session_completed")),  # "excl_vat": 10.20
        Push("PATCH", at(30), "kwh", raw("patch_charging_period")),  # "kwh": 12.50
        Push("PATCH", at(40), "cost", cost),
    ]
    merged = merge(pushes)
    assert merged is not None
    assert b'"kwh":12.50,' in merged
    assert b'"total_cost":{"excl_vat":1e-3,"incl_vat":0.0012100}' in merged
    assert b'{"type":"PARKING_TIME","volume":0.255}' in merged  # the PUT's periods, kept
    assert b'"dimensions":[{"type":"ENERGY","volume":1800}]}]' in merged  # the PATCH's, appended


def test_keys_are_the_base_order_then_new_ones_in_the_order_applied() -> None:
    pushes = [
        patch(7, {"end_date_time": stamp(7)}),
        patch(5, {"meter_id": "M-1", "status": "ACTIVE"}),
        put(0, PENDING),
    ]
    assert list(as_document(merge(pushes))) == [*PENDING, "meter_id", "end_date_time"]


def test_the_order_is_time_then_put_before_patch_then_push_id() -> None:
    pushes = [patch(5, {}, "b"), put(5, PENDING, "c"), patch(5, {}, "a"), put(4, COMPLETED, "z")]
    assert [p.push_id for p in sorted(pushes, key=order)] == ["z", "c", "a", "b"]
    assert order(put(5, PENDING, "c")) == (datetime(2026, 3, 1, 10, 5, tzinfo=UTC), 0, "c")


BODIES: dict[str, list[dict[str, Any]]] = {
    "PUT": [PENDING, COMPLETED],
    "PATCH": [
        {"status": "ACTIVE"},
        {"status": "COMPLETED", "end_date_time": "2026-03-01T11:00:00Z"},
        {CP: [A]},
        {CP: [B]},
        {CP: []},
        {"total_cost": NO_INCL},
        {"meter_id": "M-1", "kwh": Decimal("7.25")},
    ],
}
# Few minutes, few ids: ties of time, and PUT against PATCH at one time, are frequent.
push = st.builds(
    lambda method, minute, body, push_id: (put if method == "PUT" else patch)(
        minute, BODIES[method][body % len(BODIES[method])], push_id
    ),
    st.sampled_from(["PUT", "PATCH"]),
    st.integers(0, 3),
    st.integers(0, 6),
    st.sampled_from("abcdefgh"),
)
push_sets = st.lists(push, max_size=8, unique_by=lambda p: p.push_id)


@given(push_sets, st.data())
def test_any_arrival_order_of_the_same_pushes_merges_to_the_same_bytes(
    pushes: list[Push], data: st.DataObject
) -> None:
    arrival = data.draw(st.permutations(pushes))
    again = data.draw(st.lists(st.sampled_from(pushes), max_size=3)) if pushes else []
    assert merge(arrival) == merge(pushes)
    assert merge([*arrival, *again]) == merge(pushes)  # a push delivered again changes nothing
