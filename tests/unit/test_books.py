"""The books' pure part (chargehook.billing.books): the day parsed strictly, what a mismatch is,
the day's report assembled from the database's sums, and a session's chain with its total."""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from chargehook.billing.books import (
    FIGURES,
    BillKind,
    ChainBill,
    Difference,
    KindSums,
    SentSums,
    bill_chain,
    is_mismatch,
    parse_day,
    reconciliation,
)

D = Decimal
DAY = date(2026, 3, 1)
AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
NOT_SENT = SentSums(0, None, None)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-03-01", date(2026, 3, 1)),
        ("2024-02-29", date(2024, 2, 29)),
        ("0001-01-01", date(1, 1, 1)),
        ("9999-12-31", date(9999, 12, 31)),
    ],
)
def test_a_day_is_yyyy_mm_dd(text: str, day: date) -> None:
    assert parse_day(text) == day


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "Expected a date as YYYY-MM-DD (the UTC day of billed_at)"),
        ("", "Expected a date as YYYY-MM-DD (the UTC day of billed_at)"),
        ("2026-02-30", "Expected a date as YYYY-MM-DD, got '2026-02-30'"),
        ("20260301", "Expected a date as YYYY-MM-DD, got '20260301'"),  # fromisoformat takes it
        ("2026-W09-7", "Expected a date as YYYY-MM-DD, got '2026-W09-7'"),  # so does this
        ("2026-03-01T00:00:00Z", "Expected a date as YYYY-MM-DD, got '2026-03-01T00:00:00Z'"),
        ("0000-01-01", "Expected a date as YYYY-MM-DD, got '0000-01-01'"),
        ("2026-3-1", "Expected a date as YYYY-MM-DD, got '2026-3-1'"),
        ("２０２６-03-01", "Expected a date as YYYY-MM-DD, got '２０２６-03-01'"),  # noqa: RUF001
    ],
)
def test_anything_else_is_refused_saying_what_was_expected(text: str | None, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_day(text)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("theirs", "ours", "mismatch"),
    [
        ("1.67", "1.67", False),
        ("1.68", "1.67", False),  # 0.01 is within the tolerance
        ("1.66", "1.67", False),
        ("1.681", "1.67", True),  # just beyond it
        ("1.70", "1.67", True),
        ("1.64", "1.67", True),
        ("-14.06", "-14.06", False),  # a credit's negated figures
        ("-14.10", "-14.06", True),
        ("1.670000001", "1.67", False),
    ],
)
def test_a_mismatch_is_a_figure_more_than_a_cent_from_ours(
    theirs: str, ours: str, mismatch: bool
) -> None:
    assert is_mismatch(D(theirs), D(ours)) is mismatch


def sent(*figures: tuple[int, str, str] | None) -> tuple[SentSums, ...]:
    """Per FIGURES: (bills, theirs, ours), or None for a figure not sent."""
    assert len(figures) == len(FIGURES)
    return tuple(NOT_SENT if f is None else SentSums(f[0], D(f[1]), D(f[2])) for f in figures)


NOTHING_SENT = (NOT_SENT,) * len(FIGURES)


def sums(
    provider: str,
    currency: str,
    kind: str,
    bills: int,
    lines: tuple[str, str, str],
    figures: tuple[SentSums, ...] = NOTHING_SENT,
) -> KindSums:
    amount, commission, tax = (D(line) for line in lines)
    return KindSums(provider, currency, kind, bills, amount, commission, tax, figures)


def difference(
    provider: str, bill_id: int, figure: str, theirs: str, ours: str, kind: BillKind = "final"
) -> Difference:
    return Difference(provider, bill_id, f"s-{bill_id}", kind, "EUR", figure, D(theirs), D(ours))


# as the API writes it, read back with every fraction as its text: compared digit for digit
encoder = msgspec.json.Encoder(decimal_format="number")
decoder = msgspec.json.Decoder(float_hook=str)


def as_json(value: object) -> Any:
    return decoder.decode(encoder.encode(value))


# two finals sent all three page figures, one did not; the credit sent the negated ones
FINALS_SENT = sent((2, "29.04", "29.04"), (2, "2.19", "2.19"), (2, "5.05", "5.04"), None)
CREDIT_SENT = sent((1, "-14.06", "-14.06"), (1, "-1.06", "-1.06"), (1, "-2.44", "-2.44"), None)


def figure(name: str, bills: int, theirs: str, ours: str, diff: str) -> dict[str, object]:
    return {"figure": name, "bills": bills, "theirs": theirs, "ours": ours, "difference": diff}


def test_a_provider_s_day_adds_finals_and_credits_and_compares_what_it_sent() -> None:
    report = reconciliation(
        DAY,
        None,
        [
            sums("repsol", "EUR", "final", 3, ("30.71", "2.32", "5.33"), figures=FINALS_SENT),
            sums("repsol", "EUR", "credit", 1, ("-14.06", "-1.06", "-2.44"), figures=CREDIT_SENT),
        ],
        [difference("repsol", 7, "tax_price", "0.30", "0.29")],
    )
    [repsol] = report.providers
    assert (repsol.provider, repsol.finals, repsol.credits) == ("repsol", 3, 1)
    assert repsol.mismatches == []  # 0.01 is no mismatch
    [eur] = as_json(repsol.currencies)
    assert eur == {
        "currency": "EUR",
        "finals": 3,
        "credits": 1,
        "finals_sum": {"amount": "30.71", "commission": "2.32", "tax": "5.33"},
        "credits_sum": {"amount": "-14.06", "commission": "-1.06", "tax": "-2.44"},
        "net": {"amount": "16.65", "commission": "1.26", "tax": "2.89"},
        "provider_figures": [
            figure("amount", 3, "14.98", "14.98", "0.00"),
            figure("commision_price", 3, "1.13", "1.13", "0.00"),
            figure("tax_price", 3, "2.61", "2.60", "0.01"),
        ],
    }


def test_a_day_without_credits_shows_them_as_zero_in_the_currency_s_digits() -> None:
    report = reconciliation(
        DAY,
        "emt",
        [
            sums("emt", "JPY", "final", 1, ("1500", "136", "344")),
            sums("emt", "KWD", "final", 1, ("1.250", "0.125", "0.289")),
        ],
        [],
    )
    [emt] = report.providers
    jpy, kwd = emt.currencies
    assert (jpy.currency, str(jpy.credits_sum.amount), str(jpy.net.amount)) == ("JPY", "0", "1500")
    assert (kwd.currency, str(kwd.credits_sum.tax), str(kwd.net.tax)) == ("KWD", "0.000", "0.289")
    assert jpy.provider_figures == [] and kwd.provider_figures == []  # nothing sent
    assert (emt.finals, emt.credits, report.provider) == (2, 0, "emt")


def test_mismatches_are_listed_per_provider_by_bill_and_figure_with_the_difference() -> None:
    report = reconciliation(
        DAY,
        None,
        [
            sums("repsol", "EUR", "final", 2, ("3.34", "0.26", "0.58")),
            sums("acme-cpo", "EUR", "final", 1, ("2.80", "0.21", "0.49")),
        ],
        [
            difference("repsol", 9, "tax_price", "0.35", "0.29"),
            difference("repsol", 9, "amount", "1.75", "1.67"),
            difference("repsol", 4, "commision_price", "0.14", "0.13"),  # within a cent
            difference("acme-cpo", 5, "total_cost.excl_vat", "2.00", "2.10"),
            difference("repsol", 3, "amount", "-1.75", "-1.67", kind="credit"),
        ],
    )
    assert [p.provider for p in report.providers] == ["acme-cpo", "repsol"]
    acme, repsol = (as_json(p.mismatches) for p in report.providers)
    assert acme == [
        {
            "bill_id": 5,
            "session_id": "s-5",
            "kind": "final",
            "currency": "EUR",
            "figure": "total_cost.excl_vat",
            "theirs": "2.00",
            "ours": "2.10",
            "difference": "-0.10",
        }
    ]
    assert [(m["bill_id"], m["figure"], m["difference"]) for m in repsol] == [
        (3, "amount", "-0.08"),
        (9, "amount", "0.08"),
        (9, "tax_price", "0.06"),
    ]


def test_a_day_with_no_final_nor_credit_has_no_provider() -> None:
    assert reconciliation(DAY, "repsol", [], []).providers == []
    estimates = [sums("repsol", "EUR", "estimate", 4, ("9.99", "0.99", "2.10"))]
    assert reconciliation(DAY, None, estimates, []).providers == []


def bill(bill_id: int, kind: BillKind, amount: str | None, **fields: object) -> ChainBill:
    """A bill of session s-1 with commission 1.00 and tax 2.00 unless told otherwise; money as
    text, converted as msgspec converts it."""
    values: dict[str, object] = {
        "id": bill_id, "kind": kind, "refers_to": None, "event_id": f"evt-{bill_id}",
        "cdr_id": None, "status": "FINISHED", "reason": None, "currency": "EUR",
        "price_unit": "kwh", "quantity": None, "base": None, "access_fee": None,
        "subtotal": None, "commission": "1.00", "tax": "2.00",
        "amount": amount, "commission_rate": "0.10", "tax_rate": "0.21",
        "provider_amount": None, "provider_commission": None, "provider_tax": None,
        "cpo_excl_vat": None, "cpo_incl_vat": None, "mismatch": False,
        "billed_at": AT,
    }  # fmt: skip
    if amount is None:
        values |= {"commission": None, "tax": None}
    return msgspec.convert(values | fields, ChainBill)


def credit(bill_id: int, amount: str, **fields: object) -> ChainBill:
    """A credit of bill 1: its commission and tax negated."""
    negated = {"refers_to": 1, "commission": "-1.00", "tax": "-2.00"}
    return bill(bill_id, "credit", amount, **negated, **fields)


@pytest.mark.parametrize(
    ("chain", "total"),
    [
        ([bill(1, "estimate", "3.00"), bill(2, "final", "14.06")], [("EUR", "14.06", "1.00")]),
        (
            [
                bill(1, "final", "14.06"),
                credit(2, "-14.06"),
                bill(3, "final", "14.98", refers_to=1),
            ],
            [("EUR", "14.98", "1.00")],
        ),
        (
            [bill(1, "zero", "0.00"), bill(2, "incomplete", None), bill(3, "estimate", "1.00")],
            [],  # nothing in the books yet
        ),
        (
            [
                bill(1, "final", "1.67", currency="STRING"),
                credit(2, "-1.67", currency="STRING"),
                bill(3, "final", "1.67", refers_to=1),
            ],
            [("STRING", "0.00", "0.00"), ("EUR", "1.67", "1.00")],  # a correction of currency
        ),
    ],
    ids=["estimate then final", "corrected", "none in the books", "currency corrected"],
)
def test_a_session_s_billed_total_is_its_finals_and_credits_per_currency(
    chain: list[ChainBill], total: list[tuple[str, str, str]]
) -> None:
    found = bill_chain("repsol", "s-1", list(reversed(chain)))
    assert found is not None
    assert [b.id for b in found.bills] == sorted(b.id for b in chain)  # in id order
    assert [(t.currency, str(t.amount), str(t.commission)) for t in found.billed_total] == total


def test_a_session_without_a_bill_has_no_chain() -> None:
    assert bill_chain("repsol", "s-1", []) is None
