"""BILLING.md's worked examples and properties, on the pure billing core."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargehook.billing.rules import Lines, bill, cdr_lines, credit_of
from chargehook.providers.rules import Rates
from chargehook.schemas import Session
from tests.billing_examples import EXAMPLE_IDS, WORKED_EXAMPLES, Example, number

START = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
decode = msgspec.json.Decoder(Session).decode


def session(
    status: str = "FINISHED", seconds: int = 0, access: str | None = None, **fields: Any
) -> Session:
    item: dict[str, Any] = {
        "id": "s",
        "status": status,
        "currency": "EUR",
        "started": START.isoformat(),
        "finished": (START + timedelta(seconds=seconds)).isoformat(),
        "updatedAt": (START + timedelta(seconds=seconds)).isoformat(),
        **fields,
    }
    text = msgspec.json.encode(item)
    if access is not None:  # spliced as JSON text, so it decodes exactly as a provider's would
        text = (
            text[:-1] + b',"charger":{"chargerDetails":[{"accessPrice":' + access.encode() + b"}]}}"
        )
    return decode(text)


@pytest.mark.parametrize("example", WORKED_EXAMPLES, ids=EXAMPLE_IDS)
def test_the_worked_examples_of_billing_md(example: Example) -> None:
    result = bill(decode(example.body("s")), Rates())
    assert result.kind == "final" and result.lines is not None
    lines = result.lines
    figures = (lines.base, lines.access_fee, lines.commission, lines.tax, lines.amount)
    assert tuple(str(value) for value in figures) == example.expected


def test_example_5_rounds_half_up_not_to_even() -> None:
    result = bill(session(price_unit="session", plug_price=number("1.25")), Rates())
    assert result.lines is not None and str(result.lines.commission) == "0.13"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"price_unit": "kwh", "charged_kwh": 1}, "plug_price missing"),
        ({"plug_price": 1}, "price_unit missing"),
        ({"price_unit": "kwh", "plug_price": 1}, "charged_kwh missing for a kwh price"),
        (
            {"price_unit": "minute", "plug_price": 1, "started": None},
            "started missing for a time price",
        ),
        (
            {"price_unit": "hour", "plug_price": 1, "finished": None},
            "finished missing for a time price",
        ),
    ],
)
def test_missing_inputs_make_an_incomplete_bill_never_invented_figures(
    fields: dict[str, Any], reason: str
) -> None:
    result = bill(session(**fields), Rates())
    assert (result.kind, result.lines, result.reason) == ("incomplete", None, reason)


@pytest.mark.parametrize(
    ("status", "energy", "kind", "review"),
    [
        ("ORDER_INIT_AND_WAITING", None, "zero", None),
        ("NOT_PLUGGED", None, "zero", None),
        ("INTERNAL_ERROR", None, "zero", None),
        ("PROVIDER_ERROR", 3, "zero", "error with energy delivered"),
        ("PAYMENT_ERROR", 0, "zero", None),
        ("PAYMENT_ERROR", 2, "final", None),
        ("IN_PROGRESS", 2, "estimate", None),
    ],
)
def test_which_events_are_billed(
    status: str, energy: int | None, kind: str, review: str | None
) -> None:
    result = bill(session(status, price_unit="kwh", plug_price=1, charged_kwh=energy), Rates())
    assert (result.kind, result.reason) == (kind, review)
    if kind == "zero":
        assert result.lines is not None and result.lines.amount == 0


def test_a_running_estimate_ends_at_updated_at() -> None:
    running = session("IN_PROGRESS", seconds=600, price_unit="minute", plug_price=1)
    assert running.finished is not None
    result = bill(msgspec.structs.replace(running, finished=None), Rates())
    assert result.kind == "estimate" and result.lines is not None and result.lines.quantity == 10


def test_the_rates_used_are_the_providers() -> None:
    result = bill(
        session(price_unit="session", plug_price=10), Rates(Decimal("0.05"), Decimal("0.10"))
    )
    assert result.lines is not None
    assert (result.lines.commission, result.lines.tax, result.lines.amount) == (
        Decimal("0.50"),
        Decimal("1.05"),
        Decimal("11.55"),
    )


money_text = st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False).map(str)
CURRENCY_PLACES = {"EUR": 2, "JPY": 0, "KWD": 3, "string": 2}


@given(
    unit=st.sampled_from(["kwh", "minute", "hour", "session", "free"]),
    price=money_text,
    energy=money_text,
    access=money_text,
    seconds=st.integers(min_value=0, max_value=200_000),
    currency=st.sampled_from(sorted(CURRENCY_PLACES)),
    commission=st.decimals(min_value=0, max_value=1, places=4),
    tax=st.decimals(min_value=0, max_value=1, places=4),
)
def test_the_lines_always_add_up_with_the_currencys_digits(
    unit: str,
    price: str,
    energy: str,
    access: str,
    seconds: int,
    currency: str,
    commission: Decimal,
    tax: Decimal,
) -> None:
    fields: dict[str, Any] = {
        "price_unit": unit,
        "plug_price": number(price),
        "charged_kwh": number(energy),
    }
    result = bill(
        session(seconds=seconds, access=access, currency=currency, **fields), Rates(commission, tax)
    )
    assert result.lines is not None
    lines = result.lines
    assert lines.amount == lines.subtotal + lines.commission + lines.tax
    assert lines.subtotal == lines.base + lines.access_fee
    for money in lines.money:
        assert money.as_tuple().exponent == -CURRENCY_PLACES[currency]


@given(
    cents=st.integers(min_value=0, max_value=99_999), half=st.sampled_from(["5", "49999", "50001"])
)
def test_prices_on_a_rounding_edge_bill_exactly_from_their_text(cents: int, half: str) -> None:
    text = f"{cents // 100}.{cents % 100:02d}{half}"  # e.g. 1.005, 0.995, 2.00499999
    result = bill(
        session(price_unit="session", plug_price=number(text)), Rates(Decimal(0), Decimal(0))
    )
    assert result.lines is not None
    expected = Decimal(cents + (1 if half != "49999" else 0)) / 100
    assert result.lines.base == expected and result.lines.amount == expected


def figures(lines: Lines) -> tuple[str, ...]:
    """B, A, C, T and amount, as their exact text."""
    return tuple(str(v) for v in (lines.base, lines.access_fee, lines.commission, lines.tax,
                                  lines.amount))  # fmt: skip


@pytest.mark.parametrize(
    ("excl_vat", "currency", "expected"),
    [
        # the CDR example: total_cost 4.00 excl. VAT (4.40 incl.): T = q(4.40 x 0.21) = 0.92
        ("4.00", "EUR", ("4.00", "0.00", "0.40", "0.92", "5.32")),
        ("1.25", "EUR", ("1.25", "0.00", "0.13", "0.29", "1.67")),  # half up, as example 5
        ("4.004", "EUR", ("4.00", "0.00", "0.40", "0.92", "5.32")),  # B rounded first
        ("400", "JPY", ("400", "0", "40", "92", "532")),  # the currency's digits
    ],
)
def test_a_cdrs_final_is_its_total_net_of_vat_with_the_fees(
    excl_vat: str, currency: str, expected: tuple[str, ...]
) -> None:
    assert figures(cdr_lines(Decimal(excl_vat), currency, Rates())) == expected


def test_a_credit_is_the_exact_negation_of_the_final_it_credits() -> None:
    cdr = cdr_lines(Decimal("4.00"), "EUR", Rates())
    assert figures(credit_of(cdr)) == ("-4.00", "0.00", "-0.40", "-0.92", "-5.32")
    assert credit_of(cdr).amount + cdr.amount == 0
    assert credit_of(credit_of(cdr)) == cdr


def test_the_correction_example_credits_example_1_and_bills_25_kwh() -> None:
    """Example 1 corrected to E = 25.000 with the same rates: its credit, then a new final."""
    old = bill(decode(WORKED_EXAMPLES[0].body("s")), Rates()).lines
    new = bill(session(price_unit="kwh", plug_price=0.45, charged_kwh=25.000), Rates()).lines
    assert old is not None and new is not None
    assert figures(credit_of(old)) == ("-10.56", "0.00", "-1.06", "-2.44", "-14.06")
    assert figures(new) == ("11.25", "0.00", "1.13", "2.60", "14.98")
    assert credit_of(old).amount + new.amount == Decimal("0.92")  # what the correction adds
