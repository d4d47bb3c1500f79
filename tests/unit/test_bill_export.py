"""The export's pure rules (docs/billing.md#export): what a caller may ask for, and each bill
as a CSV line and a JSON line, the money with the digits stored."""

import csv
import io
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from chargehook.billing.export_format import (
    COLUMNS,
    DEFAULT_LIMIT,
    EARLIEST,
    LATEST,
    NUMBERS,
    BadParameter,
    BillFilter,
    PageAsked,
    bill_filter,
    csv_header,
    csv_lines,
    iso,
    jsonl_lines,
    lines,
    moment,
    page_asked,
    preamble,
    stored_bill,
    stored_digits,
)
from chargehook.schemas.bills import StoredBill

AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
FINAL: dict[str, Any] = {
    "id": 7,
    "provider": "repsol",
    "session_id": "s-1",
    "event_id": "evt-1",
    "cdr_id": None,
    "status": "FINISHED",
    "kind": "final",
    "refers_to": None,
    "reason": None,
    "currency": "EUR",
    "price_unit": "kwh",
    "quantity": Decimal("23.456"),
    "base": Decimal("10.56"),
    "access_fee": Decimal("0.00"),
    "subtotal": Decimal("10.56"),
    "commission": Decimal("1.06"),
    "tax": Decimal("2.44"),
    "amount": Decimal("14.06"),
    "commission_rate": Decimal("0.10"),
    "tax_rate": Decimal("0.21"),
    "provider_amount": None,
    "provider_commission": None,
    "provider_tax": None,
    "cpo_excl_vat": None,
    "cpo_incl_vat": None,
    "mismatch": False,
    "updated_at": AT,
    "received_at": AT.replace(second=1),
    "billed_at": AT.replace(second=2, microsecond=250000),
}
FINAL_CSV = (
    "7,repsol,s-1,evt-1,,FINISHED,final,,,EUR,kwh,23.456,10.56,0.00,10.56,1.06,2.44,14.06,"
    "0.10,0.21,,,,,,false,2026-03-01T10:00:00Z,2026-03-01T10:00:01Z,"
    "2026-03-01T10:00:02.250000Z\r\n"
)
MONEY = ("base", "access_fee", "subtotal", "commission", "tax", "amount")
MONEY_LIKE = (*MONEY, "quantity", "_rate", "provider_commission", "provider_tax", "_vat")


def bill(**changes: Any) -> StoredBill:
    return StoredBill(**{**FINAL, **changes})


def test_the_columns_are_the_bill_fields_in_the_order_of_the_ledger() -> None:
    assert COLUMNS[:8] == (
        "id", "provider", "session_id", "event_id", "cdr_id", "status", "kind", "refers_to",
    )  # fmt: skip
    assert COLUMNS[-3:] == ("updated_at", "received_at", "billed_at")
    assert "inputs" not in COLUMNS
    assert csv_header() == ",".join(COLUMNS) + "\r\n"
    assert preamble("csv") == csv_header().encode() and preamble("jsonl") == b""


def row(made: StoredBill) -> tuple[Any, ...]:
    return msgspec.structs.astuple(made)


def test_a_final_as_a_csv_line() -> None:
    assert csv_lines([row(bill())]) == FINAL_CSV
    assert lines("csv", [row(bill())]) == FINAL_CSV.encode()


CREDIT = {
    "id": 9, "kind": "credit", "refers_to": 7, "base": Decimal("-10.56"),
    "access_fee": Decimal("0.00"), "subtotal": Decimal("-10.56"), "commission": Decimal("-1.06"),
    "tax": Decimal("-2.44"), "amount": Decimal("-14.06"),
}  # fmt: skip
CDR_FINAL = {
    "event_id": None, "cdr_id": "ES-ABC-cdr-1", "price_unit": "session",
    "cpo_excl_vat": Decimal("4.00"), "cpo_incl_vat": Decimal("4.84"),
}  # fmt: skip
INCOMPLETE = {**dict.fromkeys((*MONEY, "quantity")), "kind": "incomplete",
              "reason": "plug_price missing"}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "cells"),
    [
        (CREDIT, {"kind": "credit", "refers_to": "7", "base": "-10.56", "amount": "-14.06"}),
        (CDR_FINAL, {"event_id": "", "cdr_id": "ES-ABC-cdr-1", "cpo_incl_vat": "4.84"}),
        (INCOMPLETE, {"amount": "", "quantity": "", "reason": "plug_price missing"}),
        ({"amount": Decimal("1E+4"), "tax": Decimal("1E-7")},
         {"amount": "10000", "tax": "0.0000001"}),
        ({"provider_amount": Decimal("14.11"), "mismatch": True},
         {"provider_amount": "14.11", "mismatch": "true"}),
        ({"session_id": 'a "b", c\nd', "currency": ""},
         {"session_id": 'a "b", c\nd', "currency": ""}),
        ({"billed_at": datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))},
         {"billed_at": "2026-03-01T10:00:00Z"}),
    ],
    ids=["credit", "cdr final", "incomplete", "exponents", "provider figures", "quoted", "utc"],
)  # fmt: skip
def test_each_cell_reads_back_as_stored(changes: dict[str, Any], cells: dict[str, str]) -> None:
    text = csv_header() + csv_lines([row(bill(**changes))])
    [read] = list(csv.DictReader(io.StringIO(text, newline="")))
    assert {name: read[name] for name in cells} == cells
    assert list(read) == list(COLUMNS)


@pytest.mark.parametrize(
    ("at", "text"),
    [
        (AT, "2026-03-01T10:00:00Z"),
        (AT.replace(microsecond=5), "2026-03-01T10:00:00.000005Z"),
        (datetime.fromisoformat("2026-03-01T12:00:00+02:00"), "2026-03-01T10:00:00Z"),
    ],
)
def test_times_are_iso_8601_in_utc_as_the_json_lines_write_them(at: datetime, text: str) -> None:
    assert iso(at) == text == msgspec.json.decode(msgspec.json.encode(at.astimezone(UTC)))


def test_json_lines_carry_money_as_numbers_with_the_stored_digits() -> None:
    written = jsonl_lines([bill(), bill(**CREDIT), bill(amount=Decimal("10000"))])
    first, credit, round_number = written.split(b"\n")[:3]
    assert written.endswith(b"\n") and written.count(b"\n") == 3
    assert b'"access_fee":0.00,' in first and b'"amount":14.06,' in first
    assert b'"amount":-14.06,' in credit and b'"refers_to":7,' in credit
    assert b'"amount":10000,' in round_number
    decoded = msgspec.json.decode(first, type=StoredBill)
    assert decoded == bill()
    assert lines("jsonl", [row(bill())]) == first + b"\n"
    big = row(bill(amount=Decimal("1E+4")))
    assert b'"amount":10000,' in lines("jsonl", [big])  # as the database row reads it


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1E+4"), "10000"),
        (Decimal("1.00E+6"), "1000000"),
        (Decimal("14.06"), "14.06"),
        (Decimal("0.00"), "0.00"),
        (Decimal("-5.32"), "-5.32"),
        (None, "None"),
        ("1E+4", "1E+4"),  # text is text
    ],
)
def test_numbers_keep_the_digits_postgresql_stores(value: object, text: str) -> None:
    assert str(stored_digits(value)) == text


def test_a_row_becomes_a_bill_with_the_stored_digits() -> None:
    values = [*FINAL.values()]
    values[COLUMNS.index("amount")] = Decimal("1E+1")
    made = stored_bill(values)
    assert str(made.amount) == "10" and made.id == 7 and made.billed_at == FINAL["billed_at"]


def test_every_number_of_a_row_keeps_its_digits_in_json() -> None:
    numbers = {name for name, value in FINAL.items() if name.endswith(MONEY_LIKE)}
    assert {COLUMNS[column] for column in NUMBERS} == numbers
    values = [Decimal("1E+4") if n in NUMBERS else v for n, v in enumerate(FINAL.values())]
    written = lines("jsonl", [values])
    assert b"E+" not in written and written.count(b":10000,") == len(numbers)


MIDNIGHT = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "at"),
    [
        ("2026-03-01", MIDNIGHT),
        ("20260301", MIDNIGHT),
        ("2026-03-01T00:00:00Z", MIDNIGHT),
        ("2026-03-01T01:00:00+01:00", MIDNIGHT),
        ("2026-02-28T19:00:00.5-05:00", MIDNIGHT.replace(microsecond=500000)),
    ],
)
def test_a_moment_is_a_date_at_utc_midnight_or_a_date_time_with_its_offset(
    text: str, at: datetime
) -> None:
    found = moment("since", text)
    assert found == at and found.tzinfo == UTC


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-03-01T00:00:00", "has no offset"),
        ("yesterday", "got 'yesterday'"),
        ("2026-03-01T00:00:00 01:00", "got '2026-03-01T00:00:00 01:00'"),  # a + unescaped
        ("2026-02-30", "got '2026-02-30'"),
    ],
)
def test_a_moment_that_cannot_be_read_is_refused_by_name(text: str, says: str) -> None:
    with pytest.raises(BadParameter, match=f"^until: Expected a date .*{says}") as refused:
        moment("until", text)
    assert refused.value.name == "until"


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_moment_past_the_calendar_in_utc_is_refused_by_name(text: str) -> None:
    with pytest.raises(BadParameter) as refused:
        moment("since", text)
    expected = f"since: Expected a time from year 1 to 9999 in UTC, got {text!r}"
    assert str(refused.value) == expected


def test_a_filter_left_open_takes_every_bill() -> None:
    assert bill_filter(None, None, None, None) == BillFilter(EARLIEST, LATEST, None, None)
    chosen = bill_filter("2026-03-01", "2026-04-01", "acme-cpo", "credit")
    assert chosen == BillFilter(MIDNIGHT, MIDNIGHT.replace(month=4), "acme-cpo", "credit")


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (("2026-03-01", "2026-03-01", None, None), "until: Expected a time after since"),
        (("2026-03-02", "2026-03-01", None, None), "until: Expected a time after since"),
        ((None, "1969-12-31", None, None), "until: Expected a time after since"),
        ((None, None, "Repsol", None), "provider: Expected a provider name"),
        ((None, None, "", None), "provider: Expected a provider name"),
        ((None, None, None, "refund"), "kind: Expected one of final, estimate, credit, zero"),
        (("soon", None, None, None), "since: Expected a date"),
    ],
)
def test_a_filter_that_cannot_be_used_names_its_parameter(
    texts: tuple[str | None, str | None, str | None, str | None], message: str
) -> None:
    with pytest.raises(BadParameter, match=f"^{message}"):
        bill_filter(*texts)


def test_a_page_asked_with_every_parameter() -> None:
    query = [("since", "2026-03-01"), ("kind", "final"), ("limit", "1000"), ("after", "42")]
    chosen = BillFilter(since=MIDNIGHT, kind="final")
    assert page_asked(query) == PageAsked(chosen, 42, 1000)
    assert page_asked([]) == PageAsked(BillFilter(), None, DEFAULT_LIMIT)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ([("limit", "0")], "limit: Expected a whole number from 1 to 1000, got '0'"),
        ([("limit", "1001")], "limit: Expected a whole number from 1 to 1000"),
        ([("limit", "ten")], "limit: Expected a whole number"),
        ([("limit", "²")], "limit: Expected a whole number"),
        ([("limit", "-1")], "limit: Expected a whole number"),
        ([("after", "")], "after: Expected the `next` of an earlier page, got ''"),
        ([("after", "0")], "after: Expected the `next`"),
        ([("after", "9" * 5000)], "after: Expected the `next`"),
        ([("after", "9223372036854775808")], "after: Expected the `next`"),
        ([("sinse", "2026-03-01")], "sinse: Unknown parameter; expected since, until,"),
        ([("kind", "final"), ("kind", "credit")], "kind: Expected once, given twice"),
        ([("until", "2026-03-01T00:00:00")], "until: Expected a date"),
    ],
)
def test_a_page_parameter_that_cannot_be_used_is_named(
    query: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(BadParameter) as refused:
        page_asked(query)
    assert str(refused.value).startswith(message), refused.value
