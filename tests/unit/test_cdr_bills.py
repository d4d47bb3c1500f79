"""CDR bills as if billed one by one (billing.cdr_bills): docs/billing.md's CDR example, its
credit, the new CDR after it, and every CDR that is refused."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chargehook.billing.cdr_bills import CdrCharge, Ledger, plan_cdrs
from chargehook.providers.rules import Rates

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RATES = {"cpo": Rates()}


def cdr(
    name: str, excl: str, *, credits: str | None = None, incl: str | None = None, at: int = 0
) -> CdrCharge:
    """CDR `name` of session S, received `at` seconds after T0."""
    when = T0 + timedelta(seconds=at)
    return CdrCharge(
        provider="cpo",
        session_id="ES-CPO-S",
        cdr_id=f"ES-CPO-{name}",
        credits=None if credits is None else f"ES-CPO-{credits}",
        currency="eur",
        excl_vat=Decimal(excl),
        incl_vat=None if incl is None else Decimal(incl),
        last_updated=when,
        received_at=when,
    )


def described(charges: list[CdrCharge]) -> list[str]:
    planned = plan_cdrs(charges, Ledger(), range(1, len(charges) + 1), RATES)
    made = [
        f"{r.id} {r.kind} {r.lines.base if r.lines else None}/{r.lines.amount if r.lines else None}"
        f" refers {r.refers_to}{' mismatch' if r.mismatch else ''}"
        for r in planned.rows
    ]
    return made + [f"refused {c.cdr_id}: {reason}" for c, reason in planned.refused]


@pytest.mark.parametrize(
    ("charges", "expected"),
    [
        pytest.param(
            [cdr("A", "4.00", incl="4.40")], ["1 final 4.00/5.32 refers None"],
            id="the-cdr-example",
        ),
        pytest.param(
            [cdr("A", "4.00", incl="4.40"), cdr("A-C", "-4.00", credits="A", incl="-4.40", at=1)],
            ["1 final 4.00/5.32 refers None", "2 credit -4.00/-5.32 refers 1"],
            id="its-credit",
        ),
        pytest.param(
            [cdr("A", "4.00"), cdr("A-C", "-4.00", credits="A", at=1), cdr("B", "4.50", at=2)],
            ["1 final 4.00/5.32 refers None", "2 credit -4.00/-5.32 refers 1",
             "3 final 4.50/5.99 refers 1"],
            id="a-new-cdr-replaces-the-credited-final",
        ),
        pytest.param(
            [cdr("A-C", "-4.00", credits="A", at=1), cdr("A", "4.00")],
            ["1 final 4.00/5.32 refers None", "2 credit -4.00/-5.32 refers 1"],
            id="in-the-order-they-came-not-the-order-of-the-batch",
        ),
        pytest.param(
            [cdr("A", "4.00", incl="4.40"), cdr("A-C", "-3.00", credits="A", incl="-3.30", at=1)],
            ["1 final 4.00/5.32 refers None", "2 credit -4.00/-5.32 refers 1 mismatch"],
            id="a-credit-that-is-no-negation-still-credits-the-final-and-is-flagged",
        ),
        pytest.param(
            [cdr("A-C", "-4.00", credits="A")],
            ["refused ES-CPO-A-C: credit_reference_id ES-CPO-A: no CDR of this CPO is billed "
             "under it"],
            id="a-credit-of-an-unknown-cdr",
        ),
        pytest.param(
            [cdr("A", "4.00"), cdr("A-C", "-4.00", credits="A", at=1),
             cdr("A-D", "-4.00", credits="A", at=2)],
            ["1 final 4.00/5.32 refers None", "2 credit -4.00/-5.32 refers 1",
             "refused ES-CPO-A-D: CDR ES-CPO-A is credited already"],
            id="a-second-credit",
        ),
        pytest.param(
            [cdr("A", "4.00"), cdr("A-C", "-4.00", credits="A", at=1),
             cdr("X", "-4.00", credits="A-C", at=2)],
            ["1 final 4.00/5.32 refers None", "2 credit -4.00/-5.32 refers 1",
             "refused ES-CPO-X: credit_reference_id ES-CPO-A-C: no CDR of this CPO is billed "
             "under it"],
            id="a-credit-of-a-credit",
        ),
        pytest.param(
            [cdr("A", "4.00"), cdr("B", "4.50", at=1)],
            ["1 final 4.00/5.32 refers None",
             "refused ES-CPO-B: session ES-CPO-S is billed by a CDR that is not credited; a "
             "correction is a credit CDR first, then the new CDR"],
            id="a-second-cdr-without-a-credit",
        ),
        pytest.param(
            [cdr("A", "4.00"), cdr("A", "4.00")], ["1 final 4.00/5.32 refers None"],
            id="the-same-cdr-twice",
        ),
    ],
)  # fmt: skip
def test_cdrs_are_billed_one_by_one(charges: list[CdrCharge], expected: list[str]) -> None:
    assert described(charges) == expected


def test_a_credit_is_the_exact_negation_at_the_finals_rates() -> None:
    rated = {"cpo": Rates(Decimal("0.05"), Decimal("0.10"))}
    final, credit = plan_cdrs(
        [cdr("A", "4.00"), cdr("A-C", "-4.00", credits="A", at=1)], Ledger(), [1, 2], rated
    ).rows
    assert final.lines is not None and credit.lines is not None
    assert credit.lines.money == tuple(-line for line in final.lines.money)
    assert (credit.rates, credit.currency) == (final.rates, "EUR")
    assert final.lines.amount + credit.lines.amount == 0
